"""Drill: two `run` replicas on one sink (the embedded store, then the test Elasticsearch) share
two orgs through leases.

Each org is served by its own simulator (so its API calls are counted apart). The replicas
balance to one org each, and an org's cycles run on its lease holder only, so no API call is
made twice. kill -9 of a holder: the other replica takes the org within the TTL plus one renew
interval (the lease's fencing token grows by one) and resumes from the committed cursor. SIGSTOP
of a holder for twice the TTL: on Elasticsearch the other replica takes the org over and the
woken holder commits nothing more for it (its cursor keeps the new token); on the embedded store
the paused holder keeps its file lock, so nobody collects its org behind its back. The sink then
equals each simulator's settled truth: 0 lost, 0 duplicated.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from drill_support import (
    RUN_CMD,
    Check,
    EsStore,
    SqliteStore,
    Store,
    compare,
    http_get,
    merge_checks,
    metric_total,
    record,
    scan_for_secrets,
    start,
    wait_until,
)
from elasticsearch import Elasticsearch, NotFoundError
from loopback import free_port
from own_env import foreign_environ

from poller.simulator.app import SimulatorApp
from poller.simulator.organization import Organization, build_organization
from poller.simulator.server import SimulatorServer
from poller.state import StreamState

if TYPE_CHECKING:
    from tests.conftest import EsNamespace

pytestmark = pytest.mark.drill

TTL = 4.0
INTERVAL = TTL / 3  # ha.renew_interval's default
STREAMS = ["completions", "costs"]
ORGS = {"alpha": 41, "beta": 42}  # name -> simulator seed
KEYS = {name: f"sk-admin-ha-{name}-key" for name in ORGS}


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
        return StreamState.from_json(_es_record(self.client, self.state_index,
                                                f"{self.org}/{stream}"))


def _es_record(client: Elasticsearch, index: str, key: str) -> dict[str, object] | None:
    try:
        found = client.get(index=index, id=key)
    except NotFoundError:
        return None
    value = found["_source"].get("state")
    return dict(value) if isinstance(value, dict) else None


@dataclass
class Sink:
    """Where the replicas write, and how the drill reads leases and cursors there."""

    env: dict[str, str]
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
        for org in ORGS:
            try:
                record = _es_record(self.es, self.state_index, f"lease:{org}")
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
        record = _es_record(self.es, self.state_index, f"{org}/{stream}")
        return None if record is None else record.get("fence")

    def view(self, org: str) -> Store:
        if self.store is not None:
            return OrgView(self.store, namespace=org, org=org)
        assert self.es is not None
        return EsOrgView(self.es, self.namespace(org), self.state_index, org=org)


@dataclass
class Replica:
    name: str
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    texts: list[str] = field(default_factory=list)

    def start(self) -> None:
        self.port = free_port()
        env = {**self.env, "POLLER_METRICS__PORT": str(self.port), "POLLER_HA__HOLDER": self.name}
        self.proc = start(RUN_CMD, env, self.log)

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


@contextmanager
def simulators() -> Iterator[dict[str, tuple[Organization, SimulatorServer, str]]]:
    with ExitStack() as stack:
        found = {}
        for name, seed in ORGS.items():
            org = build_organization(seed=seed, size="small", settle_seconds=0)
            server = SimulatorServer(SimulatorApp(org, admin_key=KEYS[name], seed=seed))
            found[name] = (org, server, stack.enter_context(server).base_url)
        yield found


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


def sim_calls(server: SimulatorServer) -> int:
    status, body = http_get(f"{server.url}/_sim/stats")
    assert status == 200
    return sum(n for counts in json.loads(body)["requests"].values() for n in counts.values())


def check_org(sink: Sink, name: str, org: Organization) -> Check:
    view = sink.view(name)
    completions = view.state("completions").coverage.segments
    assert completions, f"{name}: nothing covered"
    return compare(view, org, STREAMS, completions[0].start, completions[-1].end)


def test_two_replicas_on_the_embedded_store(tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    _drill(tmp_path, Sink({"POLLER_STORE_PATH": str(store)}, store=store), "SQLite")


def test_two_replicas_on_elasticsearch(
    tmp_path: Path, es_client: Elasticsearch, es_namespace: EsNamespace, elasticsearch_url: str
) -> None:
    # Each org writes into its own namespace; both keep their cursors in the test's state index.
    env = {"ELASTICSEARCH_URL": elasticsearch_url,
           "POLLER_ELASTICSEARCH__STATE_INDEX": es_namespace.state_index,
           "POLLER_ELASTICSEARCH__DEADLETTER_INDEX": es_namespace.deadletter_index,
           "POLLER_STORE_PATH": str(tmp_path / "unused.sqlite3")}
    sink = Sink(env, es=es_client, state_index=es_namespace.state_index,
                suffix=es_namespace.name)
    try:
        _drill(tmp_path, sink, "Elasticsearch")
    finally:
        names = [f"logs-openai.{s}-{sink.namespace(o)}" for s in STREAMS for o in ORGS]
        es_client.indices.delete(index=names, ignore_unavailable=True)


def _drill(tmp_path: Path, sink: Sink, label: str) -> None:
    with simulators() as sims:
        config = tmp_path / "config" / "poller.yaml"
        config.parent.mkdir()
        config.write_text("orgs:\n" + "".join(
            f"  - {{name: {name}, admin_key: {KEYS[name]}, base_url: '{url}', "
            f"namespace: {sink.namespace(name)}}}\n" for name, (_, _, url) in sims.items()
        ))
        env = foreign_environ(
            POLLER_CONFIG=str(config),
            **sink.env,
            POLLER_ORG_DEFAULTS__STREAMS=",".join(STREAMS),
            POLLER_ORG_DEFAULTS__DEFAULTS__INTERVAL="2s",
            POLLER_ORG_DEFAULTS__DEFAULTS__INITIAL_INTERVAL="2d",
            POLLER_HA__LEASE_TTL=f"{TTL:g}s",
            POLLER_LOG_FORMAT="json",
            POLLER_JITTER="0",
            PYTHONUNBUFFERED="1",
        )
        a = Replica("replica-a", env, tmp_path / "a.log")
        b = Replica("replica-b", env, tmp_path / "b.log")
        try:
            a.start()
            wait_until("replica a holds both orgs", lambda: all(
                sink.holder(o) == a.name for o in ORGS), 30)
            b.start()
            wait_until("one org each",
                       lambda: {sink.holder(o) for o in ORGS} == {a.name, b.name}, 30, 0.2)
            wait_until("both ready", lambda: a.ready() and b.ready(), 30, 0.3)
            # Steady state: each org's cycles run on its holder only.
            owner = {o: (a if sink.holder(o) == a.name else b) for o in ORGS}
            before = {(r.name, o): r.cycles(o) for r in (a, b) for o in ORGS}
            calls_before = {o: sim_calls(s) for o, (_, s, _) in sims.items()}
            time.sleep(6)
            after = {(r.name, o): r.cycles(o) for r in (a, b) for o in ORGS}
            calls = {o: sim_calls(s) - calls_before[o] for o, (_, s, _) in sims.items()}
            for o in ORGS:
                other = b if owner[o] is a else a
                assert after[owner[o].name, o] > before[owner[o].name, o], o
                assert after[other.name, o] == before[other.name, o], f"{o} collected twice"
            assert all(n > 0 for n in calls.values())
            held = {r.name: metric_total(r.metrics(), "openai_poller_leases_held") for r in (a, b)}
            assert held == {a.name: 1.0, b.name: 1.0}

            # kill -9 of alpha's holder: the other replica takes it and resumes.
            victim = owner["alpha"]
            survivor = b if victim is a else a
            token = int(str(sink.leases()["alpha"]["token"]))
            killed = time.monotonic()
            victim.signal(signal.SIGKILL)
            assert victim.proc is not None and victim.proc.wait(timeout=10) == -signal.SIGKILL
            wait_until("the survivor takes alpha", lambda: sink.holder("alpha") == survivor.name,
                       TTL + INTERVAL + 5, 0.05)
            failover = time.monotonic() - killed
            assert int(str(sink.leases()["alpha"]["token"])) == token + 1
            resumed = survivor.cycles("alpha")
            wait_until("a cycle of alpha on the survivor",
                       lambda: survivor.cycles("alpha") > resumed, 20, 0.3)

            # The victim comes back; then SIGSTOP of beta's holder for twice the TTL.
            victim.start()
            wait_until("one org each again",
                       lambda: {sink.holder(o) for o in ORGS} == {a.name, b.name}, 30, 0.2)
            paused = a if sink.holder("beta") == a.name else b
            beta_token = sink.leases()["beta"]["token"]
            paused.signal(signal.SIGSTOP)
            time.sleep(2 * TTL)
            lease_while_paused = sink.leases()["beta"]
            fences_while_paused = {s: sink.fence("beta", s) for s in STREAMS}
            paused.signal(signal.SIGCONT)
            wait_until("beta collected again", lambda: sink.holder("beta") is not None, 20, 0.2)
            time.sleep(2 * INTERVAL + 2)
            fences_after = {s: sink.fence("beta", s) for s in STREAMS}
            for r in (a, b):
                r.signal(signal.SIGTERM)
            codes = [r.proc.wait(timeout=20) for r in (a, b) if r.proc is not None]
        finally:
            a.stop()
            b.stop()
        check = merge_checks(*(check_org(sink, o, org) for o, (org, _, _) in sims.items()))
        total_calls = {o: sim_calls(s) for o, (_, s, _) in sims.items()}
    logs = a.log.read_text(errors="replace") + b.log.read_text(errors="replace")
    record(f"ha: 2 replicas, 2 orgs ({label})", 0, check,
           f"failover {failover:.1f}s (TTL {TTL:g}s + {INTERVAL:.1f}s)",
           f"calls in 6 s steady: {calls}", f"total calls {total_calls}")
    assert codes == [0, 0], logs[-3000:]
    assert "Traceback" not in logs
    assert failover <= TTL + INTERVAL + 1.0  # + a second for a round's own writes under load
    if sink.store is not None:
        # Paused past its TTL, the holder kept its file lock: nobody took beta behind its back.
        assert lease_while_paused["holder"] == paused.name
        assert lease_while_paused["token"] == beta_token
    else:
        # The other replica took beta over with a newer token and stamped it on the cursors;
        # the woken holder committed nothing more (a commit would carry the old token).
        assert lease_while_paused["holder"] != paused.name
        assert lease_while_paused["token"] == int(str(beta_token)) + 1
        assert set(fences_while_paused.values()) == {lease_while_paused["token"]}
        assert all(int(str(f)) > int(str(beta_token)) for f in fences_after.values())
    assert check.mismatches == []
    assert check.duplicates == 0 and check.lost == 0
    assert check.found == check.expected > 100
    secrets = tuple(KEYS.values())
    scanned = tuple(p for p in tmp_path.iterdir() if p.name != "config")
    assert scan_for_secrets(paths=scanned, texts=tuple(a.texts + b.texts),
                            secrets=secrets) == []
