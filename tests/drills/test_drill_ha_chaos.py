"""Drill: three `run` replicas share six orgs through leases while replicas are killed (-9) and
restarted at random, beside one lone replica collecting the same orgs as the yardstick.

Every org's simulator is served on one port per replica (and one for the lone replica), so
each API request is known to come from a given replica at a given moment. Then:

- each org was collected by one replica at a time: its requests change replica no more often
  than its lease changed holder (the fencing token's growth), so no two replicas' cycles ever
  interleaved;
- with the three up, each holds two orgs (at the start, and again after the chaos);
- no org went without a request for longer than `GAP_LIMIT`: one failure (events are spaced by
  `HEAL`, so one is healed before the next) costs the lease TTL and a renew round, plus two
  poll intervals (the last cycle before a kill can start a poll interval before it, the first
  after a takeover a poll interval after it); a kill can also land on a replica that was just
  given the org by a rebalance (one round to release, one to take) and had not collected it
  yet; and a second for rounds under load;
- the sink equals each simulator's settled truth: 0 lost, 0 duplicated;
- the replicas together made about the collection calls of the lone replica (not three times
  them), and loaded each org's directory of names at most once per process that held it.
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from drill_support import RUN_CMD, merge_checks, record, scan_for_secrets, start, wait_until
from elasticsearch import Elasticsearch
from ha_support import (
    Hit,
    Replica,
    Sink,
    check_org,
    config_text,
    es_sink,
    lease_env,
    simulators,
    sqlite_sink,
)
from own_env import foreign_environ

if TYPE_CHECKING:
    from tests.conftest import EsNamespace

pytestmark = pytest.mark.drill

TTL = 4.0
RENEW = TTL / 3  # ha.renew_interval's default
POLL = 2.0
STREAMS = ["completions", "costs"]
ORGS = {name: 60 + i for i, name in
        enumerate(("alpha", "beta", "gamma", "delta", "epsilon", "zeta"))}
KEYS = {name: f"sk-admin-chaos-{name}-key" for name in ORGS}
REPLICAS = ("a", "b", "c")
LONE = "lone"
CHAOS_SECONDS = 75.0
# Events come one failure at a time: each far enough after the last for its orgs to have been
# taken over and collected (TTL, a renew round, a poll). Two kills within one TTL compound:
# the second can hit the new holder before its first cycle.
HEAL = TTL + RENEW + POLL
SEED = 18  # the chaos is random, and the same on every run
# The lone replica's calls are the yardstick. Collection calls (usage, costs): the replicas may
# add, per takeover, the one cycle per stream that the killed holder made but did not commit.
# Directory calls (the names of projects, users, keys): each process loads an org's directory
# once, when it first collects the org, so they grow with the handovers, not with time.
CALLS_RATIO = 1.1
GAP_LIMIT = TTL + RENEW + 2 * POLL + 2 * RENEW + 1.0


def test_chaos_on_the_embedded_store(tmp_path: Path) -> None:
    _chaos(tmp_path, sqlite_sink(tmp_path, list(ORGS)), "SQLite")


def test_chaos_on_elasticsearch(
    tmp_path: Path, es_client: Elasticsearch, es_namespace: EsNamespace, elasticsearch_url: str
) -> None:
    with es_sink(tmp_path, es_client, es_namespace, elasticsearch_url, list(ORGS),
                 STREAMS) as sink:
        _chaos(tmp_path, sink, "Elasticsearch")


def _balanced(sink: Sink, replicas: list[Replica]) -> bool:
    """Each live replica holds M/N orgs, and every org is held."""
    holders = [sink.holder(org) for org in ORGS]
    counts = Counter(holders)
    return None not in counts and all(counts[r.holder] == len(ORGS) // len(replicas)
                                      for r in replicas)


def _switches(hits: list[Hit]) -> int:
    doors = [hit.door for hit in sorted(hits, key=lambda h: h.at)]
    return sum(1 for before, after in pairwise(doors) if before != after)


def _collecting(hit: Hit) -> bool:
    """A call of a stream's cycle, not of the directory of names."""
    return "/organization/usage/" in hit.path or hit.path.endswith("/organization/costs")


def _longest_gap(hits: list[Hit], since: float, until: float) -> tuple[float, float]:
    """The longest time without a request, and when it began (seconds after `since`)."""
    times = [since, *sorted(h.at for h in hits if since < h.at < until), until]
    gap, began = max((b - a, a) for a, b in pairwise(times))
    return round(gap, 1), round(began - since)


def _chaos(tmp_path: Path, sink: Sink, label: str) -> None:
    rng = random.Random(SEED)
    settings = {"ORG_DEFAULTS__STREAMS": ",".join(STREAMS),
                "ORG_DEFAULTS__DEFAULTS__INTERVAL": f"{POLL:g}s",
                "ORG_DEFAULTS__DEFAULTS__INITIAL_INTERVAL": "1d",
                "HA__LEASE_TTL": f"{TTL:g}s"}
    with simulators(ORGS, KEYS, (*REPLICAS, LONE)) as sims:
        replicas = []
        for name in REPLICAS:
            config = tmp_path / f"{name}.yaml"
            config.write_text(config_text(sink, {o: s.urls[name] for o, s in sims.items()}, KEYS))
            env = foreign_environ(**lease_env(config, sink.env, **settings))
            replicas.append(Replica(name, env, tmp_path / f"{name}.log"))
        lone_store = tmp_path / "lone.sqlite3"
        lone_config = tmp_path / "lone.yaml"
        lone_config.write_text(config_text(Sink({}, list(ORGS)),
                                           {o: s.urls[LONE] for o, s in sims.items()}, KEYS))
        lone_env = foreign_environ(**lease_env(lone_config, {"POLLER_STORE_PATH": str(
            lone_store)}, METRICS__ENABLED="false", **settings))
        single = start(RUN_CMD, lone_env, tmp_path / "lone.log")
        events: list[str] = []
        try:
            began = time.time()
            for r in replicas:
                r.start(f"{r.name}-0")
            wait_until("three replicas holding two orgs each",
                       lambda: _balanced(sink, replicas), 30, 0.2)
            balanced_after = time.time() - began
            chaos_from = time.time()
            generation = 0
            while time.time() - chaos_from < CHAOS_SECONDS:
                time.sleep(rng.uniform(HEAL, 2 * HEAL))
                victim = rng.choice(replicas)
                if victim.alive and sum(r.alive for r in replicas) >= 2:
                    victim.signal(signal.SIGKILL)
                    assert victim.proc is not None
                    victim.proc.wait(timeout=10)
                    events.append(f"{time.time() - chaos_from:.0f}s kill {victim.holder}")
                elif not victim.alive:
                    generation += 1
                    victim.start(f"{victim.name}-{generation}")
                    events.append(f"{time.time() - chaos_from:.0f}s start {victim.holder}")
            chaos_to = time.time()
            for r in replicas:
                if not r.alive:
                    generation += 1
                    r.start(f"{r.name}-{generation}")
                    events.append(f"{time.time() - chaos_from:.0f}s start {r.holder}")
            wait_until("the three balanced again", lambda: _balanced(sink, replicas),
                       TTL + 2 * RENEW + 15, 0.2)
            rebalanced_after = time.time() - chaos_to
            time.sleep(2 * POLL)
            leases = sink.leases()
            ended = time.time()
            for r in replicas:
                r.signal(signal.SIGTERM)
            single.send_signal(signal.SIGTERM)
            codes = [r.proc.wait(timeout=20) for r in replicas if r.proc is not None]
            lone_code = single.wait(timeout=20)
        finally:
            for r in replicas:
                r.stop()
            if single.poll() is None:
                single.kill()
                single.wait(timeout=10)
        hits = {o: [h for h in s.doors.hits if h.door != LONE] for o, s in sims.items()}
        lone = {o: [h for h in s.doors.hits if h.door == LONE] for o, s in sims.items()}
        check = merge_checks(*(check_org(sink, o, s.org, STREAMS) for o, s in sims.items()))
    calls, lone_calls = (sum(len(h) for h in found.values()) for found in (hits, lone))
    collecting, lone_collecting = (sum(1 for h in found.values() for c in h if _collecting(c))
                                   for found in (hits, lone))
    directory = {o: sum(1 for c in h if not _collecting(c)) for o, h in hits.items()}
    lone_directory = {o: sum(1 for c in h if not _collecting(c)) for o, h in lone.items()}
    switches = {o: _switches(h) for o, h in hits.items()}
    handovers = {o: int(str(leases[o]["token"])) - 1 for o in ORGS}
    gaps = {o: _longest_gap(h, chaos_from, ended) for o, h in hits.items()}
    logs = "".join(r.log.read_text(errors="replace") for r in replicas)
    kills = sum(" kill " in e for e in events)
    record(f"ha chaos: 3 replicas, 6 orgs ({label})", kills, check,
           f"{len(events)} events: {', '.join(events)}",
           f"API calls {calls} vs {lone_calls} for one replica ({calls / lone_calls:.3f}x): "
           f"collection {collecting} vs {lone_collecting} "
           f"({collecting / lone_collecting:.3f}x), directory {sum(directory.values())} vs "
           f"{sum(lone_directory.values())}",
           f"longest gap per org (s, from s) {gaps} (limit {GAP_LIMIT:g})",
           f"replica switches {switches}, lease handovers {handovers}",
           f"balanced {balanced_after:.1f}s after start, {rebalanced_after:.1f}s after chaos")
    assert codes == [0, 0, 0] and lone_code == 0, logs[-3000:]
    assert "Traceback" not in logs
    assert kills >= 3, events
    for org in ORGS:  # one replica at a time: a change of replica needs a change of holder
        assert switches[org] <= handovers[org], (org, switches, handovers)
    assert max(gap for gap, _ in gaps.values()) <= GAP_LIMIT, gaps
    assert collecting <= CALLS_RATIO * lone_collecting, (collecting, lone_collecting)
    for org in ORGS:  # one directory load per process that collected the org, at most
        assert directory[org] <= lone_directory[org] * (handovers[org] + 1), (
            org, directory, lone_directory, handovers)
    assert check.mismatches == []
    assert check.duplicates == 0 and check.lost == 0
    assert check.found == check.expected > 100
    texts = tuple(t for r in replicas for t in r.texts)
    scanned = tuple(p for p in tmp_path.iterdir() if p.suffix != ".yaml")
    assert scan_for_secrets(paths=scanned, texts=texts, secrets=tuple(KEYS.values())) == []
