"""Every benchmark of issues 7 and 13, side by side in one run, written to JSON and Markdown.

    .venv/bin/python -m bench --size full      # the real figures (about 30 minutes)
    .venv/bin/python -m bench --size smoke     # seconds; what CI runs (tests/integration)

Starts its own test Elasticsearch (noida-db) and simulator processes on 127.0.0.1, stops them
afterwards, and writes `<out>/latest.json` and `<out>/latest.md` (default `bench/results`):

1. API calls of a 30-day backfill of every stream (explicit widths and `auto`) against the
   minimum and against Elastic's integration (bench/api_calls.py);
2. end-to-end documents/s on both sinks against the sinks' raw ingest and the simulator's raw
   serving (bench/throughput.py);
3. the poller's CPU seconds per 100k documents and a cProfile top 10 (same module);
4. peak RSS of a ~100k and a ~1M document backfill, each in a fresh process (bench/memory.py);
5. freshness in `run` mode: bucket settled -> searchable (bench/freshness.py);
6. the embedded store: bytes per document per stream, peak RSS writing ~100k and ~1M documents,
   `report` latency over the ~1M (bench/store.py);
7. the client alone per org size: API calls against the minimum and peak RSS of fetching a day of
   `completions` at 1m (bench/client_memory.py);
8. the real command per org size: peak RSS, CPU, documents and store bytes of a one-day
   `backfill` and of the daemon's first cycle at the default settings (bench/process_memory.py).

Figures are measured, never asserted here; each target is evaluated and reported as met or not.
The process exits 1 when a section failed to run (its error is in the JSON), else 0.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import api_calls, client_memory, freshness, memory, process_memory, store, throughput
from bench.common import ROOT, elasticsearch, machine, simulator
from bench.report import markdown
from poller.streams import BucketWidth


@dataclass(frozen=True)
class Plan:
    org_size: str
    call_days: int
    call_modes: tuple[str, ...]
    throughput_stream: str
    throughput_width: str
    throughput_days: int
    memory_stream: str
    memory_width: str
    memory_days: tuple[int, int]
    fresh_size: str
    fresh_streams: tuple[str, ...]
    fresh_interval: int
    fresh_minutes: int
    fresh_lead: float
    store_documents: tuple[int, int, int]  # per stream for bytes, the smaller and larger store
    client_sizes: tuple[str, ...]
    client_days: tuple[int, int]  # the memory workload, the calls workload
    process_sizes: tuple[str, ...]


PLANS = {
    "smoke": Plan(
        org_size="small", call_days=8, call_modes=("1d", "1h", "auto"),
        throughput_stream="embeddings", throughput_width="1h", throughput_days=2,
        memory_stream="embeddings", memory_width="1h", memory_days=(2, 8),
        fresh_size="large", fresh_streams=("completions", "embeddings"), fresh_interval=2,
        fresh_minutes=1, fresh_lead=5.0,
        store_documents=(200, 2000, 10000), client_sizes=("small",), client_days=(1, 2),
        process_sizes=("small",),
    ),
    "full": Plan(
        org_size="large", call_days=30, call_modes=("1d", "1h", "auto"),
        throughput_stream="embeddings", throughput_width="1h", throughput_days=10,
        memory_stream="embeddings", memory_width="1h", memory_days=(31, 310),
        fresh_size="large", fresh_streams=("completions", "embeddings", "moderations"),
        fresh_interval=10, fresh_minutes=2, fresh_lead=8.0,
        store_documents=(3000, 100_000, 1_000_000), client_sizes=("small", "medium", "large"),
        client_days=(1, 21), process_sizes=("small", "medium", "large"),
    ),
}


TARGETED = ("api_calls", "throughput", "memory", "freshness", "store", "client_memory",
            "process_memory")


def _log(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def _section(results: dict[str, Any], name: str, work: Callable[[], dict[str, Any]]) -> None:
    _log(f"{name}: running")
    started = time.perf_counter()
    try:
        results[name] = work()
    except Exception as exc:  # noqa: BLE001 - one failed section must not lose the others
        results[name] = {"error": f"{type(exc).__name__}: {exc}",
                         "traceback": traceback.format_exc()[-4000:]}
    results[name]["section_seconds"] = time.perf_counter() - started
    _log(f"{name}: done in {results[name]['section_seconds']:.1f} s")


def _all_finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_all_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_all_finite(v) for v in value)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(PLANS), default="full")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    args = parser.parse_args(argv)
    plan = PLANS[args.size]
    started = time.perf_counter()
    sections: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="openai-poller-bench-") as tmp:
        workdir = Path(tmp)
        _log(f"size {args.size}: starting noida-db and the simulator ({plan.org_size})")
        with elasticsearch(workdir) as es_url, simulator(plan.org_size, args.seed) as sim:
            _section(sections, "api_calls", lambda: api_calls.run(
                sim, size=plan.org_size, seed=args.seed, days=plan.call_days,
                modes=list(plan.call_modes)))
            _section(sections, "throughput", lambda: throughput.run(
                sim, workdir, stream=plan.throughput_stream,
                width=BucketWidth(plan.throughput_width), days=plan.throughput_days))
            through = sections["throughput"]
            sections["cpu"] = (
                {"cpu_seconds_per_100k_docs": through["cpu"], "profile": through["profile"],
                 "profile_elasticsearch": through["profile_elasticsearch"],
                 "measured_in": "the end-to-end runs of the throughput section (poller process "
                                "only: simulator and Elasticsearch run in their own processes)"}
                if "cpu" in through else {"error": "the throughput section failed"}
            )
            _section(sections, "memory", lambda: memory.run(
                sim, workdir, stream=plan.memory_stream, width=BucketWidth(plan.memory_width),
                small_days=plan.memory_days[0], large_days=plan.memory_days[1]))
            _section(sections, "freshness", lambda: freshness.run(
                es_url, workdir, size=plan.fresh_size, seed=args.seed,
                streams=list(plan.fresh_streams), interval=plan.fresh_interval,
                minutes=plan.fresh_minutes, lead=plan.fresh_lead))
            _section(sections, "store", lambda: store.run(
                sim, workdir, per_stream=plan.store_documents[0],
                small=plan.store_documents[1], large=plan.store_documents[2], seed=args.seed))
        _section(sections, "client_memory", lambda: client_memory.run(
            list(plan.client_sizes), days=plan.client_days[0], call_days=plan.client_days[1],
            seed=args.seed))
        _section(sections, "process_memory", lambda: process_memory.run(
            list(plan.process_sizes), seed=args.seed))
    targets = {
        name: {"target": sections[name].get("target"), "met": sections[name].get("met")}
        for name in TARGETED
    }
    result = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": f".venv/bin/python -m bench --size {args.size}",
        "size": args.size,
        "seed": args.seed,
        "plan": asdict(plan),
        "machine": machine(),
        "elasticsearch": "noida-db (Elasticsearch wire protocol, reports 8.15.3), single node, "
                         "loopback, started by the harness",
        "seconds": time.perf_counter() - started,
        "sections": sections,
        "targets": targets,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(result, indent=2, sort_keys=False) + "\n")
    (args.out / "latest.md").write_text(markdown(result))
    failed = [name for name, section in sections.items() if "error" in section]
    _log(f"wrote {args.out / 'latest.json'} and latest.md in {result['seconds']:.0f} s"
         + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    for name, target in targets.items():
        _log(f"  {name}: {'met' if target['met'] else 'MISSED'} ({target['target']})")
    return 1 if failed or not _all_finite(result) else 0
