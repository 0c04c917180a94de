"""What the replica drills share: replicas as real `run` processes, the sink they share (its
leases, cursors and documents), and one simulator per org so API calls are counted per org."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drill_support import (
    RUN_CMD,
    Check,
    EsStore,
    SqliteStore,
    Store,
    compare,
    http_get,
    metric_total,
    start,
)
from elasticsearch import Elasticsearch, NotFoundError
from loopback import free_port

from poller.simulator.app import SimulatorApp
from poller.simulator.organization import Organization, build_organization
from poller.simulator.server import SimulatorServer
from poller.state import StreamState

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from tests.conftest import EsNamespace


@dataclass
class OrgView(SqliteStore):
    """An org's documents and cursors in the shared store."""

    org: str = "alpha"

    def state(self, stream: str) -> StreamState:
        rows = self._query("SELECT state FROM state WHERE key = ?", (f"{self.org}/{stream}",))
        return StreamState.from_json(json.loads(rows[0][0]) if rows else None)


@dataclass
class EsOrgView(EsStore):
    org: str = "alpha"

    def state(self, stream: str) -> StreamState:
        return StreamState.from_json(es_record(self.client, self.state_index,
                                               f"{self.org}/{stream}"))


def es_record(client: Elasticsearch, index: str, key: str) -> dict[str, object] | None:
    try:
        found = client.get(index=index, id=key)
    except NotFoundError:
        return None
    value = found["_source"].get("state")
    return dict(value) if isinstance(value, dict) else None


@dataclass
class Sink:
    """Where the replicas write, and how a drill reads leases and cursors there."""

    env: dict[str, str]
    orgs: Sequence[str]
    store: Path | None = None
    es: Elasticsearch | None = None
    state_index: str = ""
    suffix: str = ""  # of each org's namespace, to keep a test's data streams apart

    def namespace(self, org: str) -> str:
        return org + self.suffix

    def leases(self) -> dict[str, dict[str, object]]:
        if self.store is not None:
            return _sqlite_leases(self.store)
        assert self.es is not None
        found = {}
        for org in self.orgs:
            try:
                record = es_record(self.es, self.state_index, f"lease:{org}")
            except NotFoundError:
                record = None
            if record is not None:
                found[org] = record
        return found

    def holder(self, org: str) -> str | None:
        lease = self.leases().get(org)
        if lease is None or float(str(lease["expires"])) <= time.time():
            return None
        return str(lease["holder"])

    def fence(self, org: str, stream: str) -> object:
        if self.store is not None:
            db = sqlite3.connect(f"file:{self.store}?mode=ro", uri=True)
            try:
                rows = db.execute("SELECT state FROM state WHERE key = ?",
                                  (f"{org}/{stream}",)).fetchall()
            finally:
                db.close()
            return json.loads(rows[0][0]).get("fence")
        assert self.es is not None
        record = es_record(self.es, self.state_index, f"{org}/{stream}")
        return None if record is None else record.get("fence")

    def view(self, org: str) -> Store:
        if self.store is not None:
            return OrgView(self.store, namespace=org, org=org)
        assert self.es is not None
        return EsOrgView(self.es, self.namespace(org), self.state_index, org=org)


def sqlite_sink(tmp_path: Path, orgs: Sequence[str]) -> Sink:
    store = tmp_path / "store.sqlite3"
    return Sink({"POLLER_STORE_PATH": str(store)}, orgs, store=store)


@contextmanager
def es_sink(
    tmp_path: Path, es_client: Elasticsearch, es_namespace: EsNamespace, url: str,
    orgs: Sequence[str], streams: Sequence[str],
) -> Iterator[Sink]:
    """Each org writes into its own namespace; all keep their cursors and leases in the test's
    state index. Its data streams are deleted afterwards."""
    env = {"ELASTICSEARCH_URL": url,
           "POLLER_ELASTICSEARCH__STATE_INDEX": es_namespace.state_index,
           "POLLER_ELASTICSEARCH__DEADLETTER_INDEX": es_namespace.deadletter_index,
           "POLLER_STORE_PATH": str(tmp_path / "unused.sqlite3"),
           "POLLER_AUTO_SETUP": "true"}  # `run` writes only where the templates are installed
    sink = Sink(env, orgs, es=es_client, state_index=es_namespace.state_index,
                suffix=es_namespace.name)
    try:
        yield sink
    finally:
        names = [f"logs-openai.{s}-{sink.namespace(o)}" for s in streams for o in orgs]
        es_client.indices.delete(index=names, ignore_unavailable=True)


def _sqlite_leases(store: Path) -> dict[str, dict[str, object]]:
    """Each org's lease row: holder, token, expires."""
    try:
        db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT key, state FROM leases WHERE key LIKE 'lease:%'").fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        return {}
    return {key.partition(":")[2]: json.loads(text) for key, text in rows}


@dataclass
class Replica:
    name: str
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    texts: list[str] = field(default_factory=list)
    holder: str = ""  # the lease holder of its current process

    def start(self, holder: str | None = None) -> None:
        self.port = free_port()
        self.holder = holder or self.name
        env = {**self.env, "POLLER_METRICS__PORT": str(self.port),
               "POLLER_HA__HOLDER": self.holder}
        self.proc = start(RUN_CMD, env, self.log)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def metrics(self) -> str:
        status, body = http_get(f"http://127.0.0.1:{self.port}/metrics")
        self.texts.append(body)
        return body if status == 200 else ""

    def ready(self) -> bool:
        status, body = http_get(f"http://127.0.0.1:{self.port}/readyz")
        self.texts.append(body)
        return status == 200

    def cycles(self, org: str) -> float:
        return metric_total(self.metrics(), "openai_poller_cycle_duration_seconds_count", org=org)

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None and self.proc.poll() is None, self.log.read_text()[-3000:]
        self.proc.send_signal(sig)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=10)


@dataclass(frozen=True)
class Hit:
    """One API request as a simulator saw it: when, through which door, what."""

    at: float
    door: str
    path: str


class Doors:
    """Serves one simulated org on several ports ("doors", one per replica), recording each
    request with its door, so a drill sees which replica collected the org and when."""

    def __init__(self, app: WSGIApplication) -> None:
        self._app = app
        self._lock = threading.Lock()
        self.hits: list[Hit] = []

    def door(self, name: str) -> WSGIApplication:
        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            path = str(environ.get("PATH_INFO", ""))
            if not path.startswith("/_sim/"):
                with self._lock:
                    self.hits.append(Hit(time.time(), name, path))
            return self._app(environ, start_response)

        return app


@dataclass(frozen=True)
class SimulatedOrg:
    org: Organization
    server: SimulatorServer
    url: str  # the base URL of the first door
    doors: Doors
    urls: dict[str, str]  # door -> base URL


@contextmanager
def simulators(
    orgs: dict[str, int], keys: dict[str, str], doors: Sequence[str] = ("main",),
    *, size: str = "small",
) -> Iterator[dict[str, SimulatedOrg]]:
    """One simulator per org (`orgs`: name -> seed), each served on one port per door."""
    with ExitStack() as stack:
        found = {}
        for name, seed in orgs.items():
            org = build_organization(seed=seed, size=size, settle_seconds=0)
            recorder = Doors(SimulatorApp(org, admin_key=keys[name], seed=seed))
            servers = {d: stack.enter_context(SimulatorServer(recorder.door(d))) for d in doors}
            first = servers[doors[0]]
            found[name] = SimulatedOrg(org, first, first.base_url, recorder,
                                       {d: s.base_url for d, s in servers.items()})
        yield found


def sim_calls(server: SimulatorServer) -> int:
    status, body = http_get(f"{server.url}/_sim/stats")
    assert status == 200
    return sum(n for counts in json.loads(body)["requests"].values() for n in counts.values())


def check_org(sink: Sink, name: str, org: Organization, streams: Sequence[str]) -> Check:
    view = sink.view(name)
    completions = view.state("completions").coverage.segments
    assert completions, f"{name}: nothing covered"
    return compare(view, org, streams, completions[0].start, completions[-1].end)


def config_text(sink: Sink, urls: dict[str, str], keys: dict[str, str]) -> str:
    """A `poller.yaml` naming each org with its simulator's URL."""
    return "orgs:\n" + "".join(
        f"  - {{name: {name}, admin_key: {keys[name]}, base_url: '{url}', "
        f"namespace: {sink.namespace(name)}}}\n" for name, url in urls.items())


def lease_env(config: Path, sink_env: dict[str, str], **settings: str) -> dict[str, Any]:
    """The environment every replica of a drill shares."""
    return {"POLLER_CONFIG": str(config), **sink_env, "POLLER_LOG_FORMAT": "json",
            "POLLER_JITTER": "0", "PYTHONUNBUFFERED": "1",
            **{f"POLLER_{k}": v for k, v in settings.items()}}
