"""Drill helpers: real `python -m poller backfill` processes against an in-process simulator.

The simulator runs on the real clock (the poller's `now` is `time.time()` in the child) with
`settle_seconds=0`, and every drill passes an explicit, minute-aligned `--until` an hour in the
past, so the collected window is fixed across restarts and everything served is final. The truth
is computed for exactly what the poller says it collected: the coverage segments in its state
(usage, costs) and the `[since, until)` window (audit), at `now = math.inf`.

Every drill appends a `DrillResult` to `RESULTS`; conftest prints them as a table.
"""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
from elasticsearch import Elasticsearch, NotFoundError, helpers
from own_env import foreign_environ

from poller.errors import PollerError
from poller.simulator.app import SimulatorApp
from poller.simulator.faults import FaultPlan
from poller.simulator.organization import Organization, build_organization
from poller.simulator.server import SimulatorServer
from poller.sinks.sqlite import SqliteSink
from poller.state import StreamState
from poller.streams import BUCKET_SECONDS, USAGE_ENDPOINTS

KEY = "sk-admin-drill-test-key"
ORG = "default"
NAMESPACE = "default"
DAY = 86400


@dataclass
class DrillResult:
    drill: str
    faults: int = 0
    expected: int = 0
    found: int = 0
    duplicates: int = 0
    lost: int = 0
    notes: list[str] = field(default_factory=list)


RESULTS: list[DrillResult] = []


@dataclass
class Simulator:
    org: Organization
    app: SimulatorApp
    url: str
    base_url: str

    def stats(self) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/_sim/stats", timeout=10)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data


@contextmanager
def simulator(faults: str = "", seed: int = 11) -> Iterator[Simulator]:
    org = build_organization(seed=7, size="small", settle_seconds=0)
    app = SimulatorApp(org, admin_key=KEY, faults=FaultPlan.parse(faults), seed=seed)
    with SimulatorServer(app) as server:
        yield Simulator(org, app, server.url, server.base_url)


def window(days: int) -> tuple[int, int]:
    """A fixed `[since, until)`: until is an hour ago, aligned to the minute."""
    until = int(time.time()) - 3600
    until -= until % 60
    return until - days * DAY, until


def iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def backfill_cmd(since: int, until: int, streams: Sequence[str]) -> list[str]:
    return [
        sys.executable, "-m", "poller", "backfill",
        "--since", iso(since), "--until", iso(until), "--streams", ",".join(streams),
    ]


def poller_env(base_url: str, store: Path) -> dict[str, str]:
    return foreign_environ(
        OPENAI_ADMIN_KEY=KEY,
        OPENAI_BASE_URL=base_url,
        POLLER_STORE_PATH=str(store),
        PYTHONUNBUFFERED="1",
    )


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    try:
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    finally:
        out.close()


def run_to_end(cmd: list[str], env: dict[str, str], log: Path, timeout: float = 45) -> int:
    proc = start(cmd, env, log)
    return proc.wait(timeout=timeout)


# --- reading the store and computing the truth ----------------------------------------------------


def _field(stream: str, metric: str) -> tuple[str, str]:
    return ("base", metric) if metric == "num_model_requests" else (stream, metric)


class Store(Protocol):
    """What a drill reads back from a sink: every stored document of a stream, and its state."""

    def documents(self, stream: str) -> list[dict[str, Any]]: ...

    def state(self, stream: str) -> StreamState: ...


@dataclass
class SqliteStore:
    path: Path
    namespace: str = NAMESPACE

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    def documents(self, stream: str) -> list[dict[str, Any]]:
        with SqliteSink(self.path, read_only=True) as sink:
            found = sink.reader().all_documents(f"logs-openai.{stream}-{self.namespace}")
        return [dict(source) for source in found.values()]

    def state(self, stream: str) -> StreamState:
        rows = self._query("SELECT state FROM state WHERE key = ?", (f"{ORG}/{stream}",))
        return StreamState.from_json(json.loads(rows[0][0]) if rows else None)


@dataclass
class EsStore:
    """Reads the test Elasticsearch directly (never through a drill's fault proxy)."""

    client: Elasticsearch
    namespace: str
    state_index: str

    def documents(self, stream: str) -> list[dict[str, Any]]:
        return [hit["_source"] for hit in self.hits(stream)]

    def hits(self, stream: str) -> list[dict[str, Any]]:
        return self.scan(f"logs-openai.{stream}-{self.namespace}")

    def scan(self, index: str) -> list[dict[str, Any]]:
        """Every hit of `index`, by scroll: sorting on `_id` is refused by Elasticsearch 8 (and
        noida-db), a scroll is served by both."""
        if not index or not self.client.indices.exists(index=index):
            return []
        self.client.indices.refresh(index=index)
        return list(helpers.scan(self.client, index=index, query={"query": {"match_all": {}}},
                                 size=2000))

    def state(self, stream: str) -> StreamState:
        if not self.client.indices.exists(index=self.state_index):
            return StreamState.from_json(None)
        self.client.indices.refresh(index=self.state_index)
        try:
            found = self.client.get(index=self.state_index, id=f"{ORG}/{stream}")
        except NotFoundError:
            return StreamState.from_json(None)
        return StreamState.from_json(found["_source"].get("state"))


def _usage_key(doc: dict[str, Any], stream: str) -> str:
    """Identity of a usage row: its bucket and every dimension (everything but metrics)."""
    base = {k: v for k, v in doc["openai"]["base"].items()
            if k not in ("num_model_requests", "usage_tokens", "cost_estimate_usd")}
    metrics = set(USAGE_ENDPOINTS[stream].metrics)
    extra = {k: v for k, v in doc["openai"].get(stream, {}).items() if k not in metrics}
    return json.dumps([base, extra], sort_keys=True)


@dataclass
class Check:
    expected: int = 0
    found: int = 0
    duplicates: int = 0
    mismatches: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return max(0, self.expected - (self.found - self.duplicates))


def compare(
    store: Store | Path, org: Organization, streams: Sequence[str], since: int, until: int
) -> Check:
    """The store against the simulator's settled truth for what the poller says it collected."""
    view = SqliteStore(store) if isinstance(store, Path) else store
    check = Check()
    for stream in streams:
        docs = view.documents(stream)
        check.found += len(docs)
        if stream == "audit":
            truth_ids = {e["id"] for e in org.audit_events(since, until, math.inf)}
            ids = [d["event"]["id"] for d in docs]
            check.expected += len(truth_ids)
            check.duplicates += len(ids) - len(set(ids))
            if set(ids) != truth_ids:
                check.mismatches.append(
                    f"audit: {len(set(ids) - truth_ids)} extra, "
                    f"{len(truth_ids - set(ids))} missing"
                )
            continue
        segments = view.state(stream).coverage.segments
        slack = DAY if stream == "costs" else 3 * 3600  # coverage ends on a whole bucket
        if not segments or segments[0].start > since or segments[-1].end < until - slack:
            check.mismatches.append(f"{stream}: coverage {segments} does not span the window")
        if stream == "costs":
            rows, amount = 0, 0.0
            for seg in segments:
                for day in range(seg.start, seg.end, DAY):
                    costs = org.costs(day, day + DAY, math.inf)
                    rows += len(costs)
                    amount += sum(float(r.amount) for r in costs.values())
            got = sum(d["openai"]["costs"]["amount"]["value"] for d in docs)
            check.expected += rows
            keys = [json.dumps([d["openai"]["base"], d["openai"]["costs"].get("line_item")],
                               sort_keys=True) for d in docs]
            if len(keys) != len(set(keys)):
                check.duplicates += len(keys) - len(set(keys))
                check.mismatches.append(f"costs: {len(keys) - len(set(keys))} duplicate rows")
            if len(docs) != rows:
                check.mismatches.append(f"costs: {len(docs)} documents, truth {rows}")
            if not math.isclose(got, amount, abs_tol=1e-6):
                check.mismatches.append(f"costs: amount {got} != truth {amount}")
            continue
        rows = 0
        sums: dict[str, int] = {}
        for seg in segments:
            step = BUCKET_SECONDS[seg.width]
            for start in range(seg.start, seg.end, step):
                usage = org.usage(stream, start, start + step, math.inf)
                rows += len(usage)
                for metrics in usage.values():
                    for metric, value in metrics.items():
                        sums[metric] = sums.get(metric, 0) + value
        check.expected += rows
        keys = [_usage_key(d, stream) for d in docs]
        if len(keys) != len(set(keys)):
            check.duplicates += len(keys) - len(set(keys))
            check.mismatches.append(f"{stream}: {len(keys) - len(set(keys))} duplicate rows")
        if len(docs) != rows:
            check.mismatches.append(f"{stream}: {len(docs)} documents, truth {rows}")
        for metric in USAGE_ENDPOINTS[stream].metrics:
            group, name = _field(stream, metric)
            got = sum(int(d["openai"].get(group, {}).get(name, 0)) for d in docs)
            if got != sums.get(metric, 0):
                want = sums.get(metric, 0)
                check.mismatches.append(f"{stream}.{metric}: {got} != truth {want}")
    return check


def record(drill: str, faults: int, check: Check, *notes: str) -> DrillResult:
    result = DrillResult(drill, faults, check.expected, check.found, check.duplicates, check.lost,
                         list(notes))
    RESULTS.append(result)
    return result


# --- secrets ----------------------------------------------------------------------------------

ES_PASSWORD = "drill-es-password-3f9a1c"  # a fake; noida-db ignores credentials


@dataclass
class SecretScan:
    """Totals of every secret scan in the session, for the closing table."""

    files: int = 0
    bytes: int = 0
    texts: int = 0
    found: list[str] = field(default_factory=list)


SCANS = SecretScan()


def _decoded_documents(path: Path) -> bytes:
    """An embedded store's documents as JSON: their sources are deflated on disk, where the
    file's bytes alone would hide a secret inside one. Nothing for any other file."""
    with path.open("rb") as head:
        if path.name.endswith(("-wal", "-shm")) or head.read(16) != b"SQLite format 3\0":
            return b""
    try:
        with SqliteSink(path, read_only=True) as sink:
            reader = sink.reader()
            return b"".join(json.dumps(doc).encode() for ds in reader.data_streams()
                            for doc in reader.all_documents(ds).values())
    except PollerError:  # a SQLite file that is not a store
        return b""


def scan_for_secrets(
    *, paths: tuple[Path, ...] = (), texts: tuple[str, ...] = (), secrets: tuple[str, ...] = ()
) -> list[str]:
    """Every place one of the secrets appears: files (walked if directories, read as bytes, so
    SQLite stores and logs alike) and texts (metrics, API answers, documents). Records the scan
    in `SCANS`; the caller asserts the result is empty."""
    wanted = tuple(s for s in (KEY, ES_PASSWORD, *secrets) if s)
    hits: list[str] = []
    for root in paths:
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            if not path.exists():
                continue
            data = path.read_bytes() + _decoded_documents(path)
            SCANS.files += 1
            SCANS.bytes += len(data)
            hits += [f"{path}: secret #{i}" for i, s in enumerate(wanted) if s.encode() in data]
    for number, text in enumerate(texts):
        SCANS.texts += 1
        SCANS.bytes += len(text)
        hits += [f"text {number}: secret #{i}" for i, s in enumerate(wanted) if s in text]
    SCANS.found += hits
    return hits


# --- daemon drills: `python -m poller run`, late data, throttling ---------------------------------


@contextmanager
def simulator_with(
    faults: str = "",
    seed: int = 11,
    *,
    settle_seconds: float = 0.0,
    rate_limit_rpm: float = 0.0,
    stall_seconds: float = 30.0,
    fault_retry_after_ms: int = 1000,
    size: str = "small",
) -> Iterator[Simulator]:
    """`simulator` with the knobs the daemon and throttling drills turn: late data
    (`settle_seconds`), `--rate-limit` (`rate_limit_rpm`), how long a `timeout` fault stalls and
    the `retry-after-ms` of a `429` fault."""
    org = build_organization(seed=7, size=size, settle_seconds=settle_seconds)
    app = SimulatorApp(org, admin_key=KEY, faults=FaultPlan.parse(faults), seed=seed,
                       rate_limit_rpm=rate_limit_rpm, stall_seconds=stall_seconds,
                       fault_retry_after_ms=fault_retry_after_ms)
    with SimulatorServer(app) as server:
        yield Simulator(org, app, server.url, server.base_url)


def day_window(days: int) -> tuple[int, int]:
    """A fixed `[since, until)` of whole UTC days ending at the last midnight (for `1d` widths)."""
    until = int(time.time()) - 3600
    until -= until % DAY
    return until - days * DAY, until


RUN_CMD = [sys.executable, "-m", "poller", "run"]


def daemon_env(
    base_url: str, store: Path, streams: list[str], metrics_port: int, **settings: str
) -> dict[str, str]:
    """The environment of a drill's `run`: its streams, metrics port, JSON logs, no jitter, plus
    `settings` as `POLLER_<NAME>` (e.g. `ORG_DEFAULTS__DEFAULTS__INTERVAL="2s"`)."""
    env = poller_env(base_url, store)
    env.update(
        POLLER_ORG_DEFAULTS__STREAMS=",".join(streams),
        POLLER_METRICS__PORT=str(metrics_port),
        POLLER_LOG_FORMAT="json",
        POLLER_JITTER="0",
    )
    env.update({f"POLLER_{name}": value for name, value in settings.items()})
    return env


def http_get(url: str) -> tuple[int, str]:
    """Status and body of a GET, `(0, "")` when nothing answers."""
    try:
        response = httpx.get(url, timeout=3)
    except httpx.HTTPError:
        return 0, ""
    return response.status_code, response.text


def wait_until(what: str, condition: Any, timeout: float, interval: float = 0.1) -> Any:
    """Poll `condition()` until it returns something truthy (returned), or fail at `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def read_states(store: Path, streams: list[str]) -> dict[str, StreamState] | None:
    """Every stream's saved state, None while the store cannot be read yet."""
    if not store.exists():
        return None
    view = SqliteStore(store)
    try:
        return {stream: view.state(stream) for stream in streams}
    except sqlite3.Error:
        return None


def count_documents(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        return int(SqliteStore(store)._query("SELECT count(*) FROM documents", ())[0][0])
    except sqlite3.Error:
        return 0


def bucket_window(store: Path, streams: list[str]) -> tuple[int, int]:
    """The `[since, until)` every usage and costs stream of a daemon's store covers: the latest
    coverage start and the earliest coverage end (what `compare` checks the coverage against)."""
    starts, ends = [], []
    view = SqliteStore(store)
    for stream in streams:
        segments = view.state(stream).coverage.segments
        assert segments, f"{stream}: nothing covered"
        if stream != "costs":
            starts.append(segments[0].start)
            ends.append(segments[-1].end)
    return max(starts), min(ends)


def compare_audit(
    store: Store | Path, org: Organization, since: tuple[int, int], until: tuple[int, int]
) -> Check:
    """Audit events of a daemon, whose first window starts `initial_interval` before a moment
    known only within `since = (earliest, latest)`, and whose last window ends within `until`.

    Every event in `[since[1], until[0])` must be stored once, and no event outside
    `[since[0], until[1])`; events in the two uncertain edges count as expected when stored.
    """
    view = SqliteStore(store) if isinstance(store, Path) else store
    ids = [d["event"]["id"] for d in view.documents("audit")]
    must = {e["id"] for e in org.audit_events(since[1], until[0], math.inf)}
    allowed = {e["id"] for e in org.audit_events(since[0], until[1], math.inf)}
    check = Check(found=len(ids), duplicates=len(ids) - len(set(ids)))
    check.expected = len(must) + len(set(ids) & (allowed - must))
    extra, missing = set(ids) - allowed, must - set(ids)
    if extra or missing:
        check.mismatches.append(f"audit: {len(extra)} extra, {len(missing)} missing")
    if check.duplicates:
        check.mismatches.append(f"audit: {check.duplicates} duplicate events")
    return check


def merge_checks(*checks: Check) -> Check:
    merged = Check()
    for check in checks:
        merged.expected += check.expected
        merged.found += check.found
        merged.duplicates += check.duplicates
        merged.mismatches += check.mismatches
    return merged


def metric_total(metrics_text: str, name: str, **labels: str) -> float:
    """The sum of every sample of `name` whose labels include `labels`, from /metrics text."""
    total = 0.0
    for line in metrics_text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        series, _, label_text = head.partition("{")
        if series != name:
            continue
        if all(f'{k}="{v}"' in label_text for k, v in labels.items()):
            total += float(value)
    return total


def last_commit(store: Path) -> str:
    """When the newest state was saved (ISO text, as the store writes it); "" before any."""
    if not store.exists():
        return ""
    try:
        rows = SqliteStore(store)._query("SELECT max(updated_at) FROM state", ())
    except sqlite3.Error:
        return ""
    return str(rows[0][0] or "")


def store_clock() -> str:
    """Now, in the store's `updated_at` format, to compare with `last_commit`."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def nameless(store: Path, streams: list[str]) -> int:
    """Usage and costs documents carrying a project, user or key id without its name."""
    view = SqliteStore(store)
    missing = 0
    for stream in streams:
        for doc in view.documents(stream):
            base = doc.get("openai", {}).get("base", {})
            for id_field, name_field in (("project_id", "project_name"),
                                         ("user_id", "user_email"),
                                         ("api_key_id", "api_key_name")):
                if base.get(id_field) and not base.get(name_field):
                    missing += 1
                    break
    return missing
