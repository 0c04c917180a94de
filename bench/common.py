"""What every benchmark shares: the machine, the services it starts, and a backfill in process.

The harness starts its own test Elasticsearch (noida-db) and runs the simulator in a separate
process, so the poller's CPU time and memory are the poller's alone. Everything listens on
127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

from bench.simserver import KEY
from poller.collect import backfill_org
from poller.documents.model import Document, Rejected
from poller.runtime import OrgRuntime, org_runtime
from poller.settings import OrgSettings, load_settings
from poller.sinks import REJECTED_STATUS, DeadLetter, WriteReport
from poller.sinks.elasticsearch import Compat8Transport
from poller.sources import BackfillWindow
from poller.streams import BucketWidth
from tests.loopback import noida, stop_group

DAY, HOUR, MINUTE = 86_400, 3_600, 60
# Every fixed-clock benchmark window ends here (2026-11-22T00:00:00Z); the simulator's clock
# stands a little later, mid-minute, so every bucket of every window is settled and collectable.
END = 1_795_305_600
NOW = END + HOUR + 37
ROOT = Path(__file__).resolve().parent
PYTHON = sys.executable


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM, Python and OS of this machine."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = 0
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = int(line.split()[1]) * 1024
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "ram_bytes": ram,
        "ram_gib": round(ram / 2**30, 1),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "os": f"{platform.system()} {platform.release()}",
        "platform": platform.platform(),
    }


@contextlib.contextmanager
def elasticsearch(workdir: Path) -> Iterator[str]:
    """A fresh noida-db (Elasticsearch wire protocol) on a free loopback port; stopped after."""
    with noida(workdir / "noida") as url:
        yield url


@dataclass
class Simulator:
    """A running `bench.simserver` process."""

    base_url: str
    proc: subprocess.Popen[str]

    @property
    def root(self) -> str:
        return self.base_url.removesuffix("/v1")

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.root}/_sim/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 (loopback)
            pass

    def stats(self) -> dict[str, dict[str, int]]:
        """Responses per path template and status since the last reset."""
        with urllib.request.urlopen(f"{self.root}/_sim/stats", timeout=10) as resp:  # noqa: S310
            body = json.load(resp)
        return {template: dict(counts) for template, counts in body["requests"].items()}


@contextlib.contextmanager
def simulator(
    size: str, seed: int, *, now: float | None = NOW, settle: float = 600.0
) -> Iterator[Simulator]:
    """The simulator in a subprocess; `now=None` runs it on the wall clock."""
    cmd = [PYTHON, "-m", "bench.simserver", "--size", size, "--seed", str(seed),
           "--settle", str(settle)]
    if now is not None:
        cmd += ["--now", str(now)]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        cwd=ROOT.parent, start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("listening "):
            raise RuntimeError(f"the simulator did not start: {line!r}")
        yield Simulator(line.split()[1], proc)
    finally:
        stop_group(proc)


def es_client(url: str) -> Elasticsearch:
    return Elasticsearch(url, request_timeout=120, transport_class=Compat8Transport)


def keyword_template(client: Elasticsearch, namespace_prefix: str) -> None:
    """Data streams `logs-openai.*-<prefix>*` with keyword strings, as tests/conftest.py does
    (noida-db makes a data stream a plain index)."""
    client.indices.put_index_template(
        name=f"openai-poller-bench-{namespace_prefix}",
        index_patterns=[f"logs-openai.*-{namespace_prefix}*"],
        data_stream={},
        priority=500,
        template={
            "mappings": {
                "dynamic_templates": [
                    {"strings": {"match_mapping_type": "string",
                                 "mapping": {"type": "keyword"}}},
                ],
                "properties": {"@timestamp": {"type": "date"}},
            }
        },
    )


def org_settings(
    base_url: str,
    streams: Sequence[str],
    *,
    namespace: str = "bench",
    group_by: Sequence[str] | None = None,
) -> OrgSettings:
    org: dict[str, Any] = {
        "name": "bench",
        "admin_key": KEY,
        "base_url": base_url,
        "namespace": namespace,
        "streams": list(streams),
    }
    if group_by is not None:
        org["defaults"] = {"group_by": list(group_by)}
    return load_settings(orgs=[org]).orgs[0]


@dataclass
class MemorySink:
    """A sink that keeps state in memory and documents only when asked (for the raw-ingest
    figures); writes cost nothing, so the poller's own fetch-and-map rate shows."""

    keep: bool = False
    documents: list[Document] = field(default_factory=list)
    states: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    def write(self, documents: Sequence[Document]) -> WriteReport:
        if self.keep:
            self.documents.extend(documents)
        return WriteReport(created=len(documents))

    def reject(self, items: Sequence[Rejected]) -> tuple[DeadLetter, ...]:
        return tuple(DeadLetter(i.doc.doc_id, i.doc.data_stream, REJECTED_STATUS, i.reason)
                     for i in items)

    def load_state(self, key: str) -> Mapping[str, Any] | None:
        return self.states.get(key)

    def save_state(self, key: str, state: Mapping[str, Any]) -> None:
        self.states[key] = state

    def close(self) -> None:
        """Nothing to release."""


@dataclass
class Backfill:
    documents: int
    seconds: float
    cpu_seconds: float


def backfill(
    rt: OrgRuntime,
    sink: Any,
    streams: Sequence[str],
    *,
    since: int,
    until: int,
    width: BucketWidth | None,
    now: int = NOW,
) -> Backfill:
    """What `openai-poller backfill --since --until --bucket-width` does, in this process.
    A failed stream fails the benchmark: its figures would be of less work."""
    started, cpu = time.perf_counter(), time.process_time()
    result = backfill_org(rt, sink, streams, BackfillWindow(since, until, now, width))
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    failed = [f"{r.stream}: {r.error}" for r in result.streams if r.error is not None]
    if failed:
        raise RuntimeError(f"backfill failed: {'; '.join(failed)}")
    return Backfill(result.written.total, seconds, cpu_seconds)


@contextlib.contextmanager
def runtime(org: OrgSettings) -> Iterator[OrgRuntime]:
    with org_runtime(org) as rt:
        yield rt
