"""`where` on the embedded store's reader: a field held in a keyword column, in a number
column, and one read from the source (`organization.id`) each narrow count, sums and sums_by."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from poller.documents.model import Document
from poller.sinks import SinkReader, SqliteSink

STREAM = "logs-openai.completions-default"


def _doc(doc_id: str, org: str, project: str, width: str, tokens: int) -> Document:
    source: dict[str, Any] = {
        "@timestamp": "2026-11-02T00:00:00.000Z",
        "organization": {"id": org},
        "openai": {"base": {"project_id": project, "bucket_width": width},
                   "completions": {"input_tokens": tokens}},
    }
    return Document("completions", STREAM, doc_id, source)


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[SinkReader]:
    with SqliteSink(tmp_path / "s.sqlite3") as sink:
        sink.write([_doc("a", "org-1", "p1", "1m", 1), _doc("b", "org-1", "p2", "1h", 10),
                    _doc("c", "org-2", "p1", "1m", 100)])
        yield sink.reader()


def test_where_narrows_every_read(reader: SinkReader) -> None:
    tokens = "openai.completions.input_tokens"
    assert reader.count(STREAM, where={"organization.id": "org-1"}) == 2
    one = {"organization.id": "org-1", "openai.base.project_id": "p1"}
    assert reader.sums(STREAM, [tokens], where=one).values == {tokens: 1.0}
    by = reader.sums_by(STREAM, [tokens], "openai.base.project_id",
                        where={"openai.base.bucket_width": "1m"})
    assert {k: s.values[tokens] for k, s in by.items()} == {"p1": 101.0}
    assert reader.count(STREAM, where={"openai.base.nothing": "x"}) == 0
    assert reader.count(STREAM, where={"organization.id": "org-3"}) == 0
