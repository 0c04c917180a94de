"""Dumps every document a fixed backfill stores, to prove a refactor leaves documents unchanged.

    .venv/bin/python tools/dump_documents.py OUT.jsonl

Serves the bundled simulator in this process on a fixed clock (`large` org, seed 1, as the
benchmarks do) and runs `openai-poller backfill` through its public entry point, `poller.cli.main`,
into a fresh SQLite store: the usage streams at 1h and then at 1m over a shorter, later window,
costs, audit and rate limits, every usage stream grouped by every dimension. Then it writes one
line per stored document, `{"data_stream", "_id", "source"}` as canonical JSON, sorted, plus one
line per dead-lettered item. Run it before and after a change and `cmp` the two files.

Only the CLI, its environment and the store's file are used, since they are the outside contract
and survive any internal refactor. The backfill reads the wall clock (`time.time`) for `now`,
which places the rate-limit snapshot's slot; it is pinned for the run so that every run stores the
same documents under the same ids.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final
from unittest import mock

from poller.cli import main as poller_main
from poller.simulator.app import SimulatorApp
from poller.simulator.organization import build_organization
from poller.simulator.server import SimulatorServer
from poller.sinks import SqliteSink

KEY: Final = "sk-admin-dump-0123456789"
HOUR: Final = 3_600
DAY: Final = 86_400
# The benchmarks' fixed clock: windows end at 2026-11-22T00:00:00Z and the simulator (and the
# backfill's `now`) stand a little later, so every bucket of every window is settled.
END: Final = 1_795_305_600
NOW: Final = END + HOUR + 37
USAGE_STREAMS: Final = (
    "completions",
    "embeddings",
    "moderations",
    "images",
    "audio_speeches",
    "audio_transcriptions",
    "vector_stores",
    "code_interpreter_sessions",
    "file_search_calls",
    "web_search_calls",
)
# Every dimension of every bucketed endpoint; each stream is grouped by those it has.
DIMENSIONS: Final = (
    "project_id",
    "user_id",
    "api_key_id",
    "model",
    "batch",
    "service_tier",
    "size",
    "source",
    "vector_store_id",
    "context_level",
    "line_item",
)
# (streams, --bucket-width, since, until): the 1m window follows the 1h one, so each moment of a
# usage stream is stored at exactly one width.
BACKFILLS: Final = (
    (USAGE_STREAMS, "1h", END - 3 * DAY, END - 2 * HOUR),
    (USAGE_STREAMS, "1m", END - 2 * HOUR, END),
    (("costs",), "1d", END - 30 * DAY, END),
    (("audit",), "auto", END - 30 * DAY, END),
    (("rate_limits",), "auto", END - DAY, END),
)


def _iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Exactly `values` as the poller's environment: nothing of the caller's (an
    `ELASTICSEARCH_URL`, a `POLLER_*`) may steer the run."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(("POLLER_", "OPENAI_", "ELASTICSEARCH_", "KIBANA_")) or name in (
            "CREDENTIALS_DIRECTORY",
            "STATE_DIRECTORY",
        ):
            del os.environ[name]
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _backfill(streams: Sequence[str], width: str, since: int, until: int) -> None:
    argv = ["backfill", "--streams", ",".join(streams), "--bucket-width", width,
            "--since", _iso(since), "--until", _iso(until)]
    with mock.patch("time.time", return_value=float(NOW)):
        code = poller_main(argv)
    if code != 0:
        raise SystemExit(f"backfill {' '.join(argv)} exited {code}")


def _lines(store: Path) -> list[str]:
    with SqliteSink(str(store), read_only=True) as sink:
        reader = sink.reader()
        lines = [
            json.dumps(
                {"data_stream": data_stream, "_id": doc_id, "source": source},
                sort_keys=True,
                separators=(",", ":"),
                ensure_ascii=False,
            )
            for data_stream in reader.data_streams()
            for doc_id, source in reader.all_documents(data_stream).items()
        ]
    connection = sqlite3.connect(store)
    try:
        rejected = connection.execute(
            "SELECT data_stream, doc_id, status, reason, source FROM deadletter"
        )
        lines += [
            json.dumps(
                {
                    "deadletter": data_stream,
                    "_id": doc_id,
                    "status": status,
                    "reason": reason,
                    "source": json.loads(source),
                },
                sort_keys=True,
                separators=(",", ":"),
                ensure_ascii=False,
            )
            for data_stream, doc_id, status, reason, source in rejected
        ]
    finally:
        connection.close()
    return sorted(lines)


def dump(out: Path) -> int:
    """Run the backfills and write the dump to `out`; the number of lines written."""
    org = build_organization(1, "large", settle_seconds=600.0)
    app = SimulatorApp(org, admin_key=KEY, clock=lambda: float(NOW))
    with tempfile.TemporaryDirectory(prefix="dump-documents-") as tmp, SimulatorServer(app) as sim:
        store = Path(tmp) / "store.sqlite3"
        config = Path(tmp) / "config.toml"
        config.write_text(
            f"[org_defaults.defaults]\ngroup_by = {json.dumps(list(DIMENSIONS))}\n",
            encoding="utf-8",
        )
        env = {
            "OPENAI_ADMIN_KEY": KEY,
            "OPENAI_BASE_URL": sim.base_url,
            "POLLER_STORE_PATH": str(store),
            "POLLER_CONFIG": str(config),
            "POLLER_LOG_LEVEL": "WARNING",
        }
        with _environment(env):
            for streams, width, since, until in BACKFILLS:
                _backfill(streams, width, since, until)
        lines = _lines(store)
    out.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return len(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the JSON-lines file to write")
    args = parser.parse_args(argv)
    started = time.monotonic()
    count = dump(args.out)
    elapsed = time.monotonic() - started
    print(f"{count} lines written to {args.out} in {elapsed:.0f} s", file=sys.stderr)  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
