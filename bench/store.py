"""The embedded store at scale: bytes per document on disk, memory against the store's size, and
`report` latency over a million documents.

    .venv/bin/python -m bench.store                      # the real figures (several minutes)
    .venv/bin/python -m bench.store --documents 20000 --small 2000 --per-stream 300   # smoke

Writes its figures as one JSON object to stdout (progress goes to stderr):

1. `bytes_per_document`: real documents of every usage stream, costs and audit, collected from
   the fixed-clock simulator (`large` org, 1m buckets, every group_by dimension) and written
   batch by batch as the backfill handed them over, each stream into a fresh store; the store's
   size (file plus WAL, after the sink closed and checkpointed) divided by its documents.
2. `rss`: peak RSS of a fresh process writing `--small` and then `--documents` documents through
   the sink, in batches of varying size (as a backfill's pages are). The documents are copies of
   up to 5000 of the collected ones, moved back in time by whole periods, with new ids.
3. `report`: `build_report` (what `openai-poller report` runs) over the `--documents` store, for
   the whole store and for its last 7 days, grouped by model and by project (with names), and
   over the whole store for one org of a namespace several orgs share (every query filtered by
   `organization.id`).

`run()` returns the same dict for the harness in `bench/run.py`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from bench.common import (
    DAY,
    END,
    HOUR,
    NOW,
    PYTHON,
    ROOT,
    Simulator,
    org_settings,
    runtime,
    simulator,
)
from bench.memory import peak_rss_bytes
from poller.documents.model import Document, Rejected
from poller.pipeline import run_source
from poller.reporting import Scope, Window, build_namespace
from poller.sinks import DeadLetter, WriteReport
from poller.sinks.sqlite import SqliteSink
from poller.sources import BackfillWindow, backfill_source
from poller.streams import ALL_STREAMS, BucketWidth, StreamKind

NAMESPACE = "bench"
BYTES_TARGET = 1024
RSS_TARGET = 1.2
REPORT_TARGET_SECONDS = 3.0
# Each copy of the collected documents lies this much further back in time than the previous.
PERIOD = 60 * DAY
TEMPLATES = 5000
_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
# A backfill hands the sink one page at a time, and pages differ in size: an hour of 1m buckets of
# the large org's completions, every dimension, is ~14k documents.
_BATCH_SIZES = (1000, 20000)


def _log(message: str) -> None:
    print(f"[bench.store {datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


@dataclass
class Recorder:
    """A sink keeping every batch as it was handed over, and state in memory."""

    batches: list[list[Document]] = field(default_factory=list)
    states: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def documents(self) -> int:
        return sum(map(len, self.batches))

    def write(self, documents: Sequence[Document]) -> WriteReport:
        self.batches.append(list(documents))
        return WriteReport(created=len(documents))

    def reject(self, items: Sequence[Rejected]) -> tuple[DeadLetter, ...]:
        return ()

    def load_state(self, key: str) -> Mapping[str, Any] | None:
        return self.states.get(key)

    def save_state(self, key: str, state: Mapping[str, Any]) -> None:
        self.states[key] = state

    def probe(self) -> bool:
        return True

    def close(self) -> None:
        """Nothing to release."""


def collect(sim: Simulator, per_stream: int) -> dict[str, list[list[Document]]]:
    """Real batches of every usage stream, costs and audit: at least `per_stream` documents
    each (or all of 60 windows), collected window by window back from the benchmark's end."""
    streams = [s for s, spec in ALL_STREAMS.items() if spec.kind is not StreamKind.RATE_LIMITS]
    settings = org_settings(sim.base_url, streams, namespace=NAMESPACE)
    out: dict[str, list[list[Document]]] = {}
    with runtime(settings) as rt:
        for name in streams:
            kind = ALL_STREAMS[name].kind
            window = HOUR if kind is StreamKind.USAGE else DAY
            width = BucketWidth.MINUTE if kind is StreamKind.USAGE else None
            recorder = Recorder()
            for n in range(60):
                if recorder.documents >= per_stream:
                    break
                span = BackfillWindow(since=END - (n + 1) * window, until=END - n * window,
                                      now=NOW, width=width)
                source = backfill_source(rt.access, rt.settings.stream(name), span, memory=recorder)
                run_source(source, recorder)
            _log(f"collected {recorder.documents} {name} documents")
            out[name] = recorder.batches
    return out


def store_bytes(path: Path) -> int:
    """The store's file and its WAL, as they stand."""
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def bytes_per_document(
    batches: Mapping[str, list[list[Document]]], workdir: Path
) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for name, stream_batches in batches.items():
        path = workdir / f"size-{name}.sqlite3"
        with SqliteSink(path) as sink:
            for batch in stream_batches:
                sink.write(batch)
        documents = sum(map(len, stream_batches))
        size = store_bytes(path)
        figures[name] = {"documents": documents, "bytes": size,
                         "bytes_per_document": round(size / max(1, documents), 1),
                         "met": size / max(1, documents) <= BYTES_TARGET}
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
    return figures


def _shifted(value: Any, seconds: int) -> Any:
    """`value` with every ISO-8601 UTC time in it moved `seconds` back."""
    if isinstance(value, Mapping):
        return {k: _shifted(v, seconds) for k, v in value.items()}
    if isinstance(value, list):
        return [_shifted(v, seconds) for v in value]
    if isinstance(value, str) and _ISO.fullmatch(value):
        moved = datetime.fromisoformat(value) - timedelta(seconds=seconds)
        return moved.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return value


def copies(templates: Sequence[Document], count: int, seed: int) -> Iterator[list[Document]]:
    """`count` documents in batches of varying size: copy k (from 0) of each template lies k
    periods back, under a new 32-hex id."""
    rng = random.Random(seed)
    made = 0
    k = -1
    batch: list[Document] = []
    size = rng.randint(*_BATCH_SIZES)
    while made < count:
        k += 1
        for doc in templates:
            if made == count:
                break
            doc_id = hashlib.sha256(f"{doc.doc_id}/{k}".encode()).hexdigest()[:32]
            source = _shifted(doc.source, k * PERIOD)
            batch.append(Document(doc.stream, doc.data_stream, doc_id, source))
            made += 1
            if len(batch) == size:
                yield batch
                batch, size = [], rng.randint(*_BATCH_SIZES)
    if batch:
        yield batch


def _save_templates(batches: Mapping[str, list[list[Document]]], path: Path) -> None:
    """At most `TEMPLATES` of the collected documents, evenly spaced, so every stream keeps its
    share and the writing process holds little besides the sink."""
    docs = [doc for stream_batches in batches.values() for b in stream_batches for doc in b]
    step = max(1, len(docs) // TEMPLATES)
    with path.open("w") as out:
        for doc in docs[::step][:TEMPLATES]:
            out.write(json.dumps([doc.stream, doc.data_stream, doc.doc_id, doc.source]) + "\n")


def _load_templates(path: Path) -> list[Document]:
    with path.open() as lines:
        return [Document(*json.loads(line)) for line in lines]


def child(templates: Path, store: Path, count: int, seed: int) -> dict[str, Any]:
    """Writes `count` copies into a fresh store at `store`; its own peak RSS."""
    docs = _load_templates(templates)
    before = peak_rss_bytes()
    started = time.perf_counter()
    written = 0
    with SqliteSink(store) as sink:
        for batch in copies(docs, count, seed):
            written += sink.write(batch).total
            if written // 100_000 != (written - len(batch)) // 100_000:
                _log(f"{written} documents written")
    return {"documents": written, "seconds": round(time.perf_counter() - started, 1),
            "peak_rss_bytes": peak_rss_bytes(), "rss_before_writing_bytes": before,
            "store_bytes": store_bytes(store)}


def _fill(templates: Path, store: Path, count: int, seed: int) -> dict[str, Any]:
    proc = subprocess.run(
        [PYTHON, "-m", "bench.store", "--child", "--templates", str(templates),
         "--store", str(store), "--documents", str(count), "--seed", str(seed)],
        cwd=ROOT.parent, capture_output=True, text=True, check=False,
    )
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"store child failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["peak_rss_mib"] = round(result["peak_rss_bytes"] / 2**20, 1)
    return result


def report_latency(store: Path) -> dict[str, Any]:
    """Seconds `build_report` takes over the store, per grouping and window, twice each (the
    second run finds the file in the page cache)."""
    figures: dict[str, Any] = {}
    week = datetime.fromtimestamp(END, UTC) - timedelta(days=7)
    with SqliteSink(store) as sink:
        reader = sink.reader()
        org = next(k for k in reader.sums_by(f"logs-openai.costs-{NAMESPACE}", [],
                                             "organization.id") if k)
        runs_of = [(f"{by} {window}", by, Scope(NAMESPACE), start)
                   for by in ("model", "project") for window, start in (("all", None),
                                                                        ("7d", week))]
        runs_of.append(("project all, one org", "project", Scope(NAMESPACE, (), org), None))
        for name, by, scope, start in runs_of:
            runs = []
            for _ in range(2):
                started = time.perf_counter()
                data = build_namespace(reader, scope, by=by, window=Window(start=start))
                runs.append(round(time.perf_counter() - started, 3))
            groups = sum(len(table.rows) for table in data.usage)
            figures[name] = {"seconds": runs, "groups": groups,
                             "met": max(runs) < REPORT_TARGET_SECONDS}
    return figures


def run(sim: Simulator, workdir: Path, *, per_stream: int, small: int, large: int,
        seed: int) -> dict[str, Any]:
    batches = collect(sim, per_stream)
    _log("bytes per document")
    sizes = bytes_per_document(batches, workdir)
    templates = workdir / "templates.jsonl"
    _save_templates(batches, templates)
    del batches
    _log(f"peak RSS writing {small} documents")
    small_run = _fill(templates, workdir / "rss-small.sqlite3", small, seed)
    _log(f"peak RSS writing {large} documents")
    large_store = workdir / "rss-large.sqlite3"
    large_run = _fill(templates, large_store, large, seed)
    ratio = large_run["peak_rss_bytes"] / small_run["peak_rss_bytes"]
    _log("report latency")
    latency = report_latency(large_store)
    met = (all(row["met"] for row in sizes.values()) and ratio <= RSS_TARGET
           and all(row["met"] for row in latency.values()))
    return {
        "target": f"<= {BYTES_TARGET} bytes a document on every stream, RSS ratio <= "
                  f"{RSS_TARGET}, report < {REPORT_TARGET_SECONDS:g} s",
        "met": met,
        "bytes_per_document": sizes,
        "bytes_target": f"bytes per document <= {BYTES_TARGET} for every stream",
        "rss": {"small": small_run, "large": large_run, "ratio": round(ratio, 3),
                "target": f"peak RSS(large) / peak RSS(small) <= {RSS_TARGET}",
                "met": ratio <= RSS_TARGET},
        "report": {"documents": large_run["documents"], "store_bytes": large_run["store_bytes"],
                   "runs": latency,
                   "target": f"report over the store in < {REPORT_TARGET_SECONDS:g} s"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--per-stream", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--size", default="large", choices=("small", "medium", "large"))
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--templates", type=Path)
    parser.add_argument("--store", type=Path)
    args = parser.parse_args()
    if args.child:
        result = child(args.templates, args.store, args.documents, args.seed)
    else:
        with simulator(args.size, args.seed) as sim, TemporaryDirectory(
            prefix="openai-poller-bench-store-"
        ) as tmp:
            result = run(sim, Path(tmp), per_stream=args.per_stream, small=args.small,
                         large=args.documents, seed=args.seed)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
