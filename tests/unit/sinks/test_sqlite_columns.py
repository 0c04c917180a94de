"""Schema 3 answers exactly what schema 1 answered: for any documents, every reader call equals
the schema-1 query (json_extract over the JSON text, reproduced here) on the same documents.

The documents are drawn to hit every way a field reaches its column or does not: strings and
numbers, booleans, nulls, objects and arrays, a field changing type (its column is retired), a
number beyond 64 bits, keys holding dots, more string fields than there are columns, fields
outside `openai` with a column (`organization.id`, `user.email`: drawn like the others) and
without one (`user.id`), and one no document has. Floats are multiples of 1/8, so sums do not depend
on the order documents are added in; timestamps are distinct, so each group's newest name is
one document's.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from poller.documents.model import Document
from poller.sinks import SqliteSink, Sums
from poller.sinks.sqlite import json_path
from poller.sinks.sqlite._schema import K_SLOTS

DS = "logs-openai.completions-default"
SINCE = datetime(2026, 11, 9, tzinfo=UTC)
OTHER = "logs-openai.embeddings-default"
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)

# Keys and values drawn from small sets, so documents share fields and fields change type.
KEYS = ("a", "b", "c.d")
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([2**70, -(2**65)]),
    st.sampled_from([0.125, 2.5, -7.75]),
    st.sampled_from(["x", "y", "zz"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=2), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)
    ),
    max_leaves=4,
)
OPENAI = st.dictionaries(
    st.sampled_from(("base", "completions")),
    st.dictionaries(st.sampled_from((*KEYS, "model")), VALUES, max_size=4),
    max_size=2,
)
PATHS = [
    "openai",
    "openai.base",
    "openai.base.model",
    "openai.completions",
    "openai.missing",
    "user.id",
    "user.email",
    "organization.id",
    *(f"openai.{o}.{k}" for o in ("base", "completions") for k in ("a", "b")),
    *(f"openai.{o}.a.{k}" for o in ("base", "completions") for k in ("a", "b", "c")),
    "openai.base.c.d",
]


# Values of the fields outside `openai`: all strings (their columns hold them all), or anything.
OUTSIDE = st.one_of(
    st.lists(st.sampled_from(["o1", "o2", None]), max_size=30), st.lists(SCALARS, max_size=30)
)


def _documents(openai: list[dict[str, Any]], outside: list[Any] | None = None) -> list[Document]:
    def drawn(i: int) -> Any:
        return outside[i % len(outside)] if outside else None

    return [
        Document(
            "completions",
            DS if i % 5 else OTHER,
            f"{i:032x}" if i % 3 else f"text-id-{i}",
            {
                "@timestamp": f"2026-11-{1 + i % 28:02d}T{i // 28 % 24:02d}:00:00.000Z",
                "openai": tree,
                **({"user": {"id": f"u{i % 3}", "email": drawn(i + 1)}} if i % 2 else {}),
                "organization": {"id": drawn(i)},
            },
        )
        for i, tree in enumerate(openai)
    ]


class Schema1:
    """Schema 1's table and its reader's queries, on the same documents."""

    def __init__(self, documents: list[Document]) -> None:
        self.conn = sqlite3.connect(":memory:")
        self.conn.execute("CREATE TABLE documents (data_stream, doc_id, source, ts)")
        self.conn.executemany(
            "INSERT INTO documents VALUES (?, ?, ?, ?)",
            [
                (d.data_stream, d.doc_id, _ENCODER.encode(d.source), _millis(d.source))
                for d in documents
            ],
        )

    def sums(self, ds: str, fields: list[str]) -> Sums:
        cols = "".join(", total(json_extract(source, ?))" for _ in fields)
        row = self.conn.execute(
            f"SELECT count(*){cols} FROM documents WHERE data_stream = ?",  # noqa: S608
            [*map(json_path, fields), ds],
        ).fetchone()
        return Sums(int(row[0]), {f: float(v) for f, v in zip(fields, row[1:], strict=True)})

    def sums_by(
        self, ds: str, fields: list[str], group: str, name: str, since: int = 0
    ) -> dict[str | None, Sums]:
        cols = "".join(", total(json_extract(source, ?))" for _ in fields)
        rows = self.conn.execute(
            f"SELECT json_extract(source, ?) AS g, count(*){cols} "  # noqa: S608
            "FROM documents WHERE data_stream = ? AND ts >= ? GROUP BY g",
            [json_path(group), *map(json_path, fields), ds, since],
        ).fetchall()
        names = {
            str(g): str(n)
            for g, n, _ in self.conn.execute(
                "SELECT json_extract(source, ?) AS g, json_extract(source, ?) AS n, max(ts) "
                "FROM documents WHERE data_stream = ? AND ts >= ? "
                "AND g IS NOT NULL AND n IS NOT NULL GROUP BY g",
                [json_path(group), json_path(name), ds, since],
            )
        }
        return {
            None if r[0] is None else str(r[0]): Sums(
                int(r[1]),
                {f: float(v) for f, v in zip(fields, r[2:], strict=True)},
                None if r[0] is None else names.get(str(r[0])),
            )
            for r in rows
        }


def _millis(source: Mapping[str, Any]) -> int:
    return int(datetime.fromisoformat(source["@timestamp"]).timestamp() * 1000)


@contextmanager
def _stores(
    openai: list[dict[str, Any]], outside: list[Any] | None = None
) -> Iterator[tuple[SqliteSink, Schema1]]:
    documents = _documents(openai, outside)
    schema1 = Schema1(documents)
    with SqliteSink(":memory:") as sink, closing(schema1.conn):
        for start in range(0, len(documents), 7):  # several batches: layouts grow across them
            sink.write(documents[start : start + 7])
        yield sink, schema1


@settings(max_examples=60, deadline=None)
@given(st.lists(OPENAI, min_size=1, max_size=30), OUTSIDE)
def test_every_reader_answer_equals_schema_1(
    openai: list[dict[str, Any]], outside: list[Any]
) -> None:
    with _stores(openai, outside) as (sink, schema1):
        reader = sink.reader()
        for ds in (DS, OTHER):
            assert reader.sums(ds, PATHS) == schema1.sums(ds, PATHS)
            for group in PATHS:
                got = reader.sums_by(ds, PATHS, group, name_field="openai.base.model")
                assert got == schema1.sums_by(ds, PATHS, group, "openai.base.model")
                got = reader.sums_by(ds, PATHS, group, name_field="openai.base.a", start=SINCE)
                assert got == schema1.sums_by(
                    ds, PATHS, group, "openai.base.a", int(SINCE.timestamp() * 1000)
                )
            assert reader.count(ds) == schema1.sums(ds, []).count
        documents = _documents(openai, outside)
        ids = [d.doc_id for d in documents]
        expected = {d.doc_id: json.loads(_ENCODER.encode(d.source)) for d in documents}
        assert {**reader.documents(DS, ids), **reader.documents(OTHER, ids)} == expected
        assert {k: v for ds in reader.data_streams() for k, v in reader.all_documents(ds).items()
                } == expected


def test_string_fields_beyond_the_columns_are_read_from_the_source() -> None:
    """The first K_SLOTS string fields get columns; later ones still answer exactly."""
    tree = {"base": {f"f{i:02d}": f"v{i % 3}" for i in range(K_SLOTS + 4)}}
    with _stores([tree, tree, {"base": {"f19": "other"}}]) as (sink, schema1):
        for field in ("openai.base.f00", f"openai.base.f{K_SLOTS - 1}", "openai.base.f19"):
            got = sink.reader().sums_by(DS, [], field, name_field="openai.base.f18")
            assert got == schema1.sums_by(DS, [], field, "openai.base.f18")
        assert sink.reader().sums_by(DS, [], "openai.base.f19") == {
            "v1": Sums(1, {}), "other": Sums(1, {})
        }


def test_time_ranges_read_the_columns() -> None:
    """Documents 1-4 (0 is another data stream) are on November 2, 3, 4 and 5."""
    models = [{"base": {"model": m, "n": i, "name": f"{m}{i}"}} for i, m in enumerate("aabab")]
    with _stores(models) as (sink, _):
        groups = sink.reader().sums_by(
            DS, ["openai.base.n"], "openai.base.model", name_field="openai.base.name",
            start=datetime(2026, 11, 3, tzinfo=UTC), end=datetime(2026, 11, 5, tzinfo=UTC),
        )
        assert groups == {
            "b": Sums(1, {"openai.base.n": 2.0}, "b2"),
            "a": Sums(1, {"openai.base.n": 3.0}, "a3"),
        }


def test_keys_json_writes_as_strings_are_read_as_json_has_them() -> None:
    tree = {"base": {1: "one"}, "completions": {"model": "m"}}
    with _stores([{}, tree]) as (sink, schema1):
        got = sink.reader().sums_by(DS, [], "openai.base.1", name_field="openai.completions.model")
        assert got == {"one": Sums(1, {}, "m")}
        assert got == schema1.sums_by(DS, [], "openai.base.1", "openai.completions.model")
