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

import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from drill_support import merge_checks, metric_total, record, scan_for_secrets, wait_until
from elasticsearch import Elasticsearch
from ha_support import (
    Replica,
    Sink,
    check_org,
    config_text,
    es_sink,
    sim_calls,
    simulators,
    sqlite_sink,
)
from own_env import foreign_environ

if TYPE_CHECKING:
    from tests.conftest import EsNamespace

pytestmark = pytest.mark.drill

TTL = 4.0
INTERVAL = TTL / 3  # ha.renew_interval's default
STREAMS = ["completions", "costs"]
ORGS = {"alpha": 41, "beta": 42}  # name -> simulator seed
KEYS = {name: f"sk-admin-ha-{name}-key" for name in ORGS}


def test_two_replicas_on_the_embedded_store(tmp_path: Path) -> None:
    _drill(tmp_path, sqlite_sink(tmp_path, list(ORGS)), "SQLite")


def test_two_replicas_on_elasticsearch(
    tmp_path: Path, es_client: Elasticsearch, es_namespace: EsNamespace, elasticsearch_url: str
) -> None:
    with es_sink(tmp_path, es_client, es_namespace, elasticsearch_url, list(ORGS),
                 STREAMS) as sink:
        _drill(tmp_path, sink, "Elasticsearch")


def _drill(tmp_path: Path, sink: Sink, label: str) -> None:
    with simulators(ORGS, KEYS) as sims:
        config = tmp_path / "config" / "poller.yaml"
        config.parent.mkdir()
        config.write_text(config_text(sink, {o: sim.url for o, sim in sims.items()}, KEYS))
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
            calls_before = {o: sim_calls(sim.server) for o, sim in sims.items()}
            time.sleep(6)
            after = {(r.name, o): r.cycles(o) for r in (a, b) for o in ORGS}
            calls = {o: sim_calls(sim.server) - calls_before[o] for o, sim in sims.items()}
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
        check = merge_checks(*(check_org(sink, o, sim.org, STREAMS) for o, sim in sims.items()))
        total_calls = {o: sim_calls(sim.server) for o, sim in sims.items()}
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
