"""Sections 2 and 3: end-to-end throughput on both sinks against their limits; CPU; profile.

One workload (a usage stream at one width over a window, every dimension grouped, as the
poller's defaults do) is measured, all in one run:

- the simulator's raw serving rate: the same pages fetched with plain httpx (bodies read, not
  parsed), after one untimed warm-up pass so every measured run sees a warm simulator;
- the poller with a sink that stores nothing: fetch, parse and map alone;
- each sink's raw ingest of the very documents the poller produced: `helpers.bulk` (`create`,
  500 a request) into Elasticsearch, plain `executemany` INSERTs of each document's JSON text
  into one SQLite table keyed by id and indexed by time (the store's first schema; WAL,
  synchronous=FULL, one transaction per page's worth of documents). The sink itself does more
  per document (its compact schema 2: columns for `report`, sources deflated), so this limit is
  what SQLite alone ingests, not what the sink's format could;
- the poller end to end into each sink, with its CPU time (this process only: the simulator
  and Elasticsearch run in their own processes);
- noida-db slows down as it holds more documents (a second bulk of the same documents into a
  new index of the same node takes ~1.5x as long), so every Elasticsearch run here gets a
  noida-db of its own, started empty: raw and end to end are compared on equal terms;
- cProfile of one more end-to-end run into SQLite (top functions by own time, tottime, and by
  cumulative time) and one into Elasticsearch (where the sink's time goes).

Target: end to end >= 0.8 x the slower of (sink raw ingest, simulator raw serving).
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import json
import math
import pstats
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from elasticsearch import helpers

from bench.common import (
    DAY,
    END,
    MemorySink,
    Simulator,
    backfill,
    elasticsearch,
    es_client,
    keyword_template,
    org_settings,
    runtime,
)
from bench.simserver import KEY
from poller.documents.model import Document
from poller.sinks import SqliteSink, timestamp_millis
from poller.sinks.elasticsearch import ElasticsearchSink, EsConnection, EsIndices
from poller.streams import MAX_LIMIT, USAGE_ENDPOINTS, BucketWidth

TARGET = 0.8
_SQLITE_SCHEMA = """
CREATE TABLE documents (
    data_stream TEXT NOT NULL, doc_id TEXT NOT NULL, source TEXT NOT NULL, ts INTEGER,
    updated_at TEXT NOT NULL, PRIMARY KEY (data_stream, doc_id)
) WITHOUT ROWID;
CREATE INDEX documents_by_time ON documents (data_stream, ts);
"""


def raw_serving(
    sim: Simulator, stream: str, width: BucketWidth, since: int, until: int
) -> tuple[int, int, float]:
    """(pages, results, seconds) fetching the window's pages with plain httpx."""
    endpoint = USAGE_ENDPOINTS[stream]
    params: dict[str, Any] = {
        "start_time": since, "end_time": until, "bucket_width": str(width),
        "limit": MAX_LIMIT[width], "group_by[]": list(endpoint.dimensions),
    }
    bodies: list[bytes] = []
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=sim.base_url, headers=headers, timeout=600) as client:
        started = time.perf_counter()
        page: str | None = None
        while True:
            response = client.get(endpoint.path, params={**params, **({"page": page} if page
                                                                       else {})})
            response.raise_for_status()
            bodies.append(response.content)
            page = json.loads(response.content)["next_page"]  # tiny next to the transfer
            if not page:
                break
        seconds = time.perf_counter() - started
    results = sum(len(bucket["results"]) for body in bodies for bucket in json.loads(body)["data"])
    return len(bodies), results, seconds


def raw_sqlite(documents: Sequence[Document], path: Path, chunk: int) -> float:
    """Seconds to INSERT the documents (serialized as the sink does) into a fresh database."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.executescript(_SQLITE_SCHEMA)
    started = time.perf_counter()
    for n in range(0, len(documents), chunk):
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        rows = [
            (d.data_stream, d.doc_id,
             json.dumps(d.source, sort_keys=True, separators=(",", ":"), allow_nan=False),
             timestamp_millis(d.source), now)
            for d in documents[n:n + chunk]
        ]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO documents VALUES (?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return seconds


def raw_elasticsearch(documents: Sequence[Document], url: str, namespace: str) -> float:
    """Seconds to `helpers.bulk` the documents into fresh data streams of `namespace`."""
    client = es_client(url)
    try:
        actions = (
            {"_op_type": "create", "_index": f"logs-openai.{d.stream}-{namespace}",
             "_id": d.doc_id, "_source": d.source}
            for d in documents
        )
        started = time.perf_counter()
        ok, errors = helpers.bulk(client, actions, chunk_size=500, max_retries=0)
        seconds = time.perf_counter() - started
        if errors or ok != len(documents):
            raise RuntimeError(f"raw bulk stored {ok} of {len(documents)}: {errors!r:.300}")
        return seconds
    finally:
        client.close()


@contextlib.contextmanager
def fresh_elasticsearch(workdir: Path, tag: str) -> Iterator[str]:
    """An empty noida-db of its own, with the bench's keyword template."""
    with elasticsearch(workdir / f"es-{tag}") as url:
        client = es_client(url)
        keyword_template(client, "bench")
        client.close()
        yield url


def _es_sink(url: str, namespace: str) -> ElasticsearchSink:
    return ElasticsearchSink(
        EsConnection(url, timeout=120),
        indices=EsIndices(state=f"openai-poller-state-{namespace}",
                          deadletter=f"openai-poller-deadletter-{namespace}"),
    )


def _rate(documents: int, seconds: float) -> float:
    return documents / seconds if seconds > 0 else math.inf


def _top(profile: cProfile.Profile, key: str, n: int = 10) -> list[dict[str, Any]]:
    stats = pstats.Stats(profile, stream=io.StringIO())
    stats.sort_stats(key)
    rows = []
    for func in stats.fcn_list[:n]:  # type: ignore[attr-defined]
        _cc, nc, tt, ct, _ = stats.stats[func]  # type: ignore[attr-defined]
        filename, line, name = func
        where = filename.split("/site-packages/")[-1].split("/work/main/")[-1]
        rows.append({"function": f"{where}:{line}({name})", "calls": nc,
                     "tottime": round(tt, 3), "cumtime": round(ct, 3)})
    return rows


def run(
    sim: Simulator, workdir: Path, *, stream: str, width: BucketWidth, days: int
) -> dict[str, Any]:
    since, until = END - days * DAY, END

    def settings(namespace: str) -> Any:
        return org_settings(sim.base_url, [stream], namespace=namespace)

    raw_serving(sim, stream, width, since, until)  # warm-up, untimed
    pages, results, serve_seconds = raw_serving(sim, stream, width, since, until)
    out: dict[str, Any] = {
        "workload": {"stream": stream, "bucket_width": str(width), "days": days,
                     "group_by": list(USAGE_ENDPOINTS[stream].dimensions), "pages": pages,
                     "since": since, "until": until},
        "simulator_raw": {"documents": results, "seconds": serve_seconds,
                          "docs_per_s": _rate(results, serve_seconds)},
    }

    collected = MemorySink(keep=True)
    with runtime(settings("benchmem")) as rt:
        rt.names.refresh()  # the directory is listed once per hour, not per run
        run_ = backfill(rt, collected, [stream], since=since, until=until, width=width)
    documents = collected.documents
    out["poller_no_sink"] = {"documents": run_.documents, "seconds": run_.seconds,
                             "cpu_seconds": run_.cpu_seconds,
                             "docs_per_s": _rate(run_.documents, run_.seconds)}
    chunk = max(1, math.ceil(len(documents) / pages))

    raw = raw_sqlite(documents, workdir / "raw.sqlite3", chunk)
    out["sqlite_raw"] = {"documents": len(documents), "seconds": raw,
                         "docs_per_s": _rate(len(documents), raw)}
    with fresh_elasticsearch(workdir, "raw") as url:
        raw = raw_elasticsearch(documents, url, "benchraw")
    out["elasticsearch_raw"] = {"documents": len(documents), "seconds": raw,
                                "docs_per_s": _rate(len(documents), raw)}
    del documents, collected

    # noida-db slows down as it holds more documents, so every Elasticsearch figure (raw,
    # end to end, profile) is taken on a node of its own, started empty.
    def sqlite_sink(tag: str) -> Iterator[Any]:
        sink = SqliteSink(workdir / f"{tag}.sqlite3")
        try:
            yield sink
        finally:
            sink.close()

    def es_sink(tag: str) -> Iterator[Any]:
        with fresh_elasticsearch(workdir, tag) as url:
            sink = _es_sink(url, f"bench{tag}")
            try:
                yield sink
            finally:
                sink.close()

    opened: dict[str, Callable[[str], Any]] = {
        "sqlite": contextlib.contextmanager(sqlite_sink),
        "elasticsearch": contextlib.contextmanager(es_sink),
    }
    for name, open_sink in opened.items():
        with open_sink("e2e") as sink, runtime(settings(f"benche2e{name}")) as rt:
            rt.names.refresh()
            result = backfill(rt, sink, [stream], since=since, until=until, width=width)
        limit = min(out[f"{name}_raw"]["docs_per_s"], out["simulator_raw"]["docs_per_s"])
        rate = _rate(result.documents, result.seconds)
        out[f"{name}_e2e"] = {
            "documents": result.documents, "seconds": result.seconds,
            "docs_per_s": rate, "cpu_seconds": result.cpu_seconds,
            "cpu_seconds_per_100k_docs": result.cpu_seconds / result.documents * 100_000,
            "limit_docs_per_s": limit, "ratio_to_limit": rate / limit,
            "met": rate >= TARGET * limit,
        }

    # Where the time goes: one more run into SQLite (the poller's own CPU dominates there),
    # and one into Elasticsearch for the split of the sink's time.
    for name, top in (("sqlite", 10), ("elasticsearch", 15)):
        profile = cProfile.Profile()
        with opened[name]("prof") as sink, runtime(settings(f"benchprof{name}")) as rt:
            rt.names.refresh()
            profile.enable()
            profiled = backfill(rt, sink, [stream], since=since, until=until, width=width)
            profile.disable()
        out[f"profile_{name}"] = {
            "run": f"poller -> {name}, {profiled.documents} documents, under cProfile "
                   f"({profiled.seconds:.1f} s wall with the profiler's overhead)",
            "top_tottime": _top(profile, "tottime", top),
            "top_cumulative": _top(profile, "cumulative", top),
        }
    out["profile"] = out.pop("profile_sqlite")
    out["cpu"] = {
        sink_name: out[f"{sink_name}_e2e"]["cpu_seconds_per_100k_docs"]
        for sink_name in ("sqlite", "elasticsearch")
    }
    out["cpu"]["no_sink"] = run_.cpu_seconds / max(1, run_.documents) * 100_000
    out["target"] = f"end-to-end docs/s >= {TARGET} x min(sink raw, simulator raw)"
    out["met"] = all(out[f"{s}_e2e"]["met"] for s in ("sqlite", "elasticsearch"))
    return out
