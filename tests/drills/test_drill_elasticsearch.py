"""Drills against the Elasticsearch sink: the poller as a real process, the simulator in
process, and the test Elasticsearch behind `fault_proxy.FaultProxy`.

Every drill ends with the data streams (read directly, never through the proxy) compared
exactly to the simulator's settled truth, and every output scanned for secrets:

- outage: the daemon keeps running through 30 s of refused and 30 s of hanging connections,
  its cursors stay put while Elasticsearch is away, and it catches up afterwards;
- bulk partial failures: 429 items are retried until stored, mapping errors are dead-lettered
  with their `_id`, and no cursor passes an item before it was stored or dead-lettered;
- slow answers: bulk answers trickling in past the timeout, after Elasticsearch stored them,
  time out all the same, and their retries find the stored copies instead of duplicating them;
- rollover (real Elasticsearch only): revisions land in the backing index holding the document;
- kill -9: ten SIGKILLs at random moments of a multi-stream backfill's writes, then a restart.

Documents are read directly from the test Elasticsearch, never through the proxy
(`ScanStore`: `drill_support.EsStore` plus the namespace's dead letters).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from drill_support import (
    ES_PASSWORD,
    KEY,
    Check,
    EsStore,
    Simulator,
    backfill_cmd,
    compare,
    poller_env,
    record,
    run_to_end,
    scan_for_secrets,
    simulator,
    start,
    window,
)
from elasticsearch import ApiError, Elasticsearch
from fault_proxy import BulkFaults, Exchange, FaultProxy, bulk_items
from loopback import free_port

from poller.simulator.app import SimulatorApp
from poller.simulator.faults import FaultPlan
from poller.simulator.organization import build_organization
from poller.simulator.server import SimulatorServer
from poller.state import StreamState

if TYPE_CHECKING:
    from tests.conftest import EsNamespace

pytestmark = pytest.mark.drill

ROLLOVER_UNIT_TEST = (
    "tests/unit/sinks/test_elasticsearch_sink.py::"
    "test_revision_after_rollover_goes_to_the_backing_index_that_holds_it"
)
MINUTE = 60


# --- reading Elasticsearch directly --------------------------------------------------------------


@dataclass
class ScanStore(EsStore):
    """`EsStore` that also reads the namespace's dead letters, and adds them to their data
    stream's documents when `with_dead_letters` is set (stored + dead-lettered must equal the
    truth)."""

    deadletter_index: str = ""
    with_dead_letters: bool = False

    def documents(self, stream: str) -> list[dict[str, Any]]:
        docs = super().documents(stream)
        if self.with_dead_letters:
            docs += [json.loads(letter["source"]) for letter in self.dead_letters()
                     if letter["data_stream"] == f"logs-openai.{stream}-{self.namespace}"]
        return docs

    def dead_letters(self) -> list[dict[str, Any]]:
        return [hit["_source"] for hit in self.scan(self.deadletter_index)]

    def cursor(self, stream: str) -> tuple[Any, ...]:
        """What a cursor is: the covered stretches and the audit/rate-limit marks."""
        state = self.state(stream)
        return (state.coverage.to_json(), state.high_water, state.last_slot)


def _store(es_client: Elasticsearch, ns: EsNamespace, *, dead: bool = False) -> ScanStore:
    return ScanStore(es_client, ns.name, ns.state_index, ns.deadletter_index, dead)


# --- the poller's environment --------------------------------------------------------------------


def _es_secrets() -> tuple[str, ...]:
    key = os.environ.get("POLLER_TEST_ELASTICSEARCH_API_KEY", "")
    return (key,) if os.environ.get("POLLER_TEST_ELASTICSEARCH_URL") and key else ()


def _es_env(sim: Simulator, tmp_path: Path, ns: EsNamespace, url: str,
            **extra: str) -> dict[str, str]:
    """The poller on Elasticsearch at `url` (the proxy, or the cluster itself), in the drill's
    own namespace, state and dead-letter indices; credentials the test cluster checks, or that
    noida-db ignores."""
    env = {k: v for k, v in poller_env(sim.base_url, tmp_path / "unused.sqlite3").items()
           if not k.startswith(("ELASTICSEARCH_", "KIBANA_"))}
    env.update(
        ELASTICSEARCH_URL=url,
        POLLER_ORG_DEFAULTS__NAMESPACE=ns.name,
        POLLER_ELASTICSEARCH__STATE_INDEX=ns.state_index,
        POLLER_ELASTICSEARCH__DEADLETTER_INDEX=ns.deadletter_index,
        POLLER_LOG_FORMAT="text",
        POLLER_AUTO_SETUP="true",  # run and backfill refuse a cluster without our templates
    )
    if os.environ.get("POLLER_TEST_ELASTICSEARCH_URL"):
        if key := os.environ.get("POLLER_TEST_ELASTICSEARCH_API_KEY"):
            env["ELASTICSEARCH_API_KEY"] = key
        if ca := os.environ.get("POLLER_TEST_ELASTICSEARCH_CA_CERTS"):
            env["ELASTICSEARCH_CA_CERTS"] = ca
    else:
        env.update(ELASTICSEARCH_USERNAME="elastic", ELASTICSEARCH_PASSWORD=ES_PASSWORD)
    env.update(extra)
    return env


@contextmanager
def _proxy(elasticsearch_url: str) -> Iterator[FaultProxy]:
    ca = os.environ.get("POLLER_TEST_ELASTICSEARCH_CA_CERTS") or None
    with FaultProxy(elasticsearch_url, ca_certs=ca) as proxy:
        yield proxy


def _wait_for(what: str, condition: Callable[[], bool], timeout: float,
              alive: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> None:
    """Poll `condition` until it holds; fail after `timeout` s (or when `alive` exits)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if alive is not None and alive.poll() is not None:
            pytest.fail(f"the poller exited ({alive.returncode}) while waiting for {what}:\n"
                        f"{_tail(log)}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout:g}s:\n{_tail(log)}")
        time.sleep(0.25)


def _tail(log: Path | None) -> str:
    return log.read_text(errors="replace")[-4000:] if log is not None and log.exists() else ""


def _assert_exact(check: Check) -> None:
    assert check.mismatches == []
    assert check.duplicates == 0 and check.lost == 0
    assert check.found == check.expected


def _secrets_clean(tmp_path: Path, *texts: str) -> None:
    assert scan_for_secrets(paths=(tmp_path,), texts=texts, secrets=_es_secrets()) == []


def _dump(store: ScanStore, streams: list[str]) -> str:
    """Every document (and dead letter, if the store reads them) and cursor, as one text."""
    return json.dumps({s: [store.documents(s), store.state(s).to_json()] for s in streams},
                      sort_keys=True)


# --- a. outage -----------------------------------------------------------------------------------

OUTAGE_STREAMS = ["completions", "embeddings", "moderations"]
OUTAGE_PHASE = 30.0  # seconds refused, then seconds hanging
GRACE = 60
INITIAL = 6 * 3600


def test_daemon_rides_out_an_elasticsearch_outage(
    tmp_path: Path, es_client: Elasticsearch, es_namespace: EsNamespace, elasticsearch_url: str
) -> None:
    """60 s without Elasticsearch (30 s refused, 30 s hanging) in the middle of `run`: the
    daemon logs each failed cycle and keeps running, no cursor moves while Elasticsearch is
    away, collection catches up afterwards, and the store equals the truth."""
    log = tmp_path / "daemon.log"
    store = _store(es_client, es_namespace)
    started = time.monotonic()
    with simulator(seed=31) as sim, _proxy(elasticsearch_url) as proxy:
        env = _es_env(
            sim, tmp_path, es_namespace, proxy.url,
            POLLER_ORG_DEFAULTS__STREAMS=",".join(OUTAGE_STREAMS),
            POLLER_ORG_DEFAULTS__DEFAULTS__INTERVAL="2s",
            POLLER_ORG_DEFAULTS__DEFAULTS__INITIAL_INTERVAL=f"{INITIAL}s",
            POLLER_ORG_DEFAULTS__DEFAULTS__SETTLEMENT_GRACE=f"{GRACE}s",
            POLLER_ORG_DEFAULTS__DEFAULTS__SETTLEMENT_WINDOW="5m",
            POLLER_ELASTICSEARCH__TIMEOUT="5s",
            POLLER_JITTER="0",
            POLLER_METRICS__PORT=str(free_port()),
        )
        launched = int(time.time())
        daemon = start([sys.executable, "-m", "poller", "run"], env, log)
        try:
            def collected_since(t: float) -> bool:
                states = [store.state(s) for s in OUTAGE_STREAMS]
                return all(s.last_success is not None and s.last_success > t
                           and s.coverage.end is not None
                           and s.coverage.end >= (int(t) - GRACE) // MINUTE * MINUTE
                           for s in states)

            _wait_for("first cycle of every stream", lambda: collected_since(launched), 90,
                      daemon, log)

            moved: list[str] = []
            checks = 0
            before: dict[str, tuple[Any, ...]] = {}
            for mode in ("refuse", "hang"):
                proxy.set_mode(mode)
                assert proxy.wait_idle(), "a request to Elasticsearch never came back"
                if not before:  # what was acknowledged before the outage began
                    before = {s: store.cursor(s) for s in OUTAGE_STREAMS}
                phase_end = time.monotonic() + OUTAGE_PHASE
                while time.monotonic() < phase_end:
                    assert daemon.poll() is None, f"the daemon exited:\n{_tail(log)}"
                    now_cursors = {s: store.cursor(s) for s in OUTAGE_STREAMS}
                    moved += [f"{mode}: {s}" for s in OUTAGE_STREAMS
                              if now_cursors[s] != before[s]]
                    checks += 1
                    time.sleep(1.0)
            outage_log = log.read_text(errors="replace")
            proxy.set_mode("pass")
            recovered = time.time()
            _wait_for("catch-up after the outage", lambda: collected_since(recovered), 90,
                      daemon, log)
            after = {s: store.cursor(s) for s in OUTAGE_STREAMS}
            daemon.send_signal(signal.SIGTERM)
            rc = daemon.wait(timeout=45)
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait(timeout=10)

        states = {s: store.state(s) for s in OUTAGE_STREAMS}
        first = min(st.coverage.start or 0 for st in states.values())
        last = min(st.coverage.end or 0 for st in states.values())
        check = compare(store, sim.org, OUTAGE_STREAMS, first, last)
        gaps = {s: st.coverage.gaps(st.coverage.start or 0, st.coverage.end or 0)
                for s, st in states.items()}
        documents = _dump(store, OUTAGE_STREAMS)
    output = log.read_text(errors="replace")
    took = time.monotonic() - started
    # The daemon logs a stream's first failure, then says how many cycles failed in all once
    # one succeeds again (repeats are rate-limited, not logged one by one).
    failed_cycles = sum(
        int(n) for n in re.findall(r"succeeded after (\d+) failed cycles", output)
    )
    record("es outage 30s+30s", proxy.counts["requests hung"] + proxy.counts["connections reset"],
           check, f"cursor polls={checks}", f"failed cycles={failed_cycles}",
           f"exit={rc}", f"{took:.0f}s")

    assert moved == [], "a cursor moved while Elasticsearch was unreachable"
    assert checks >= 20  # about one poll a second for 60 s, fewer on a loaded machine
    # the daemon saw both faults, kept going and caught up
    # both faults came (the proxy refused and hung), and each stream said the sink was down
    assert outage_log.count("check that the sink is up and reachable") >= len(OUTAGE_STREAMS), (
        _tail(log)
    )
    assert failed_cycles >= 2 * len(OUTAGE_STREAMS)
    assert proxy.counts["requests hung"] > 0 and proxy.counts["connections reset"] > 0
    for s in OUTAGE_STREAMS:
        assert after[s] != before[s], f"{s} did not catch up"
    assert rc == 0, _tail(log)
    assert "Traceback" not in output
    assert proxy.errors == []
    # nothing lost: one unbroken stretch from the first cycle's start, equal to the truth
    assert gaps == {s: [] for s in OUTAGE_STREAMS}
    expected_start = (launched - INITIAL) // MINUTE * MINUTE
    assert expected_start <= first <= expected_start + MINUTE
    _assert_exact(check)
    assert check.expected > 100
    _secrets_clean(tmp_path, documents, output)


# --- b. bulk partial failures --------------------------------------------------------------------

BULK_STREAMS = ["completions", "embeddings", "costs", "audit"]
# (data stream, n-th distinct document of it) answered with a mapping error, for good. Two hours
# hold about 1,900 completions, 32 embeddings, 138 costs and 20 audit documents.
PERMANENT = {("completions", 7), ("completions", 900), ("embeddings", 12), ("costs", 3),
             ("audit", 5)}


@dataclass
class CursorLedger:
    """Watches the proxy's exchanges in order: which data stream items are not yet
    acknowledged (answered 429 or refused and not yet dead-lettered), and every state save
    that moved a cursor while such an item was pending."""

    namespace: str
    state_index: str
    deadletter_index: str
    pending: set[tuple[str, str]] = field(default_factory=set)
    cursors: dict[str, Any] = field(default_factory=dict)
    saves: int = 0
    violations: list[str] = field(default_factory=list)

    def __call__(self, exchange: Exchange) -> None:
        path = urllib.parse.urlsplit(exchange.path).path
        if path.endswith("/_bulk") and exchange.status == 200:
            answers = json.loads(exchange.answer)["items"]
            for (op, meta, _), answer in zip(bulk_items(exchange.body), answers, strict=True):
                status = answer[op]["status"]
                index, doc_id = meta["_index"], meta["_id"]
                if index == self.deadletter_index:
                    if status < 300:
                        data_stream, _, letter_of = doc_id.partition("/")
                        self.pending.discard((data_stream, letter_of))
                elif status < 300 or status == 409:
                    self.pending.discard((index, doc_id))
                else:
                    self.pending.add((index, doc_id))
        elif path.startswith(f"/{self.state_index}/_doc/") and exchange.method in ("PUT", "POST"):
            key = urllib.parse.unquote(path.rsplit("/", 1)[1])
            stream = key.split("/", 1)[1]
            state = StreamState.from_json(json.loads(exchange.body)["state"])
            cursor = (state.coverage.to_json(), state.high_water, state.last_slot)
            data_stream = f"logs-openai.{stream}-{self.namespace}"
            waiting = sorted(i for d, i in self.pending if d == data_stream)
            if waiting and cursor != self.cursors.get(stream):
                self.violations.append(f"{stream} moved with {len(waiting)} pending: {waiting[:3]}")
            self.cursors[stream] = cursor
            self.saves += 1


def test_bulk_partial_failures_are_retried_or_dead_lettered(
    tmp_path: Path, es_client: Elasticsearch, es_namespace: EsNamespace, elasticsearch_url: str
) -> None:
    """About 10% of bulk items answered 429 (each at most twice) and five mapping errors: the
    429s are retried until stored, the refused documents are dead-lettered (exactly those ids),
    logged with their `_id` and counted in the summary, the run goes on, and stored plus
    dead-lettered equals the truth."""
    log = tmp_path / "poller.log"
    since, until = window(2)
    store = _store(es_client, es_namespace, dead=True)
    started = time.monotonic()
    faults = BulkFaults(rate_429=0.10, seed=6, permanent=frozenset(
        (es_namespace.data_stream(s), n) for s, n in PERMANENT))
    ledger = CursorLedger(es_namespace.name, es_namespace.state_index,
                          es_namespace.deadletter_index)
    with simulator(seed=12) as sim, _proxy(elasticsearch_url) as proxy:
        proxy.bulk_faults, proxy.observer = faults, ledger
        env = _es_env(sim, tmp_path, es_namespace, proxy.url)
        rc = run_to_end(backfill_cmd(since, until, BULK_STREAMS), env, log, timeout=120)
        check = compare(store, sim.org, BULK_STREAMS, since, until)
        letters = store.dead_letters()
        stored_ids = {(f"logs-openai.{s}-{es_namespace.name}", h["_id"])
                      for s in BULK_STREAMS for h in store.hits(s)}
        documents = _dump(store, BULK_STREAMS)
    output = log.read_text(errors="replace")
    took = time.monotonic() - started
    dead = {(letter["data_stream"], letter["doc_id"]) for letter in letters}
    injected = faults.injected[429] + faults.injected[400]
    record("es bulk 429/400", injected, check, f"429={faults.injected[429]}",
           f"dead-lettered={len(letters)}", f"state saves={ledger.saves}", f"{took:.0f}s")

    assert rc == 0, _tail(log)
    assert proxy.errors == []
    # no cursor passed an item before it was stored or dead-lettered
    assert ledger.violations == []
    assert ledger.pending == set()
    assert ledger.saves >= len(BULK_STREAMS)
    # exactly the refused documents are dead-lettered, once each, and none is also stored
    assert len(faults.refused_ids) == len(PERMANENT)
    assert dead == faults.refused_ids
    assert len(letters) == len(PERMANENT)
    assert {letter["status"] for letter in letters} == {400}
    assert dead & stored_ids == set()
    # each is logged with its _id, and the summary counts them
    for _, doc_id in faults.refused_ids:
        assert re.search(rf"ERROR .*refused document {doc_id} .*mapper_parsing_exception",
                         output), doc_id
    summary = re.search(r"backfill: (\d+) created, 0 updated, 0 unchanged, (\d+) dead-lettered; "
                        r"0 stream\(s\) failed", output)
    assert summary is not None, _tail(log)
    assert int(summary.group(2)) == len(PERMANENT)
    assert int(summary.group(1)) == check.expected - len(PERMANENT)
    # the 429s were retried (each item at most twice), and the run never gave up
    assert faults.injected[400] >= len(PERMANENT)
    assert faults.injected[429] >= check.expected // 20
    assert output.count("retrying ") >= 1
    assert "Traceback" not in output
    _assert_exact(check)
    _secrets_clean(tmp_path, documents, output)


# --- slow answers: a timeout after Elasticsearch stored the bulk ----------------------------------

SLOWED = 4


@dataclass
class EveryOtherBulk:
    """Picks the 1st, 3rd, 5th... `_bulk` answer (up to `limit`) for the proxy to slow down: a
    write times out after Elasticsearch stored it, and the transport's retry goes through."""

    limit: int
    bulks: int = 0
    picked: int = 0

    def __call__(self, method: str, path: str) -> bool:
        if not urllib.parse.urlsplit(path).path.endswith("/_bulk"):
            return False
        self.bulks += 1
        pick = self.bulks % 2 == 1 and self.picked < self.limit
        self.picked += pick
        return pick


def test_bulk_answer_slower_than_the_timeout_never_duplicates(
    tmp_path: Path, es_client: Elasticsearch, es_namespace: EsNamespace, elasticsearch_url: str
) -> None:
    """Four bulk answers trickle in for longer than the poller's 3 s timeout, after
    Elasticsearch stored the documents: the transport retries each, the retry meets the stored
    copies (409), they are taken as stored, and the store equals the truth, no duplicates."""
    log = tmp_path / "poller.log"
    since, until = window(2)
    store = _store(es_client, es_namespace)
    started = time.monotonic()
    picker = EveryOtherBulk(SLOWED)
    with simulator(seed=13) as sim, _proxy(elasticsearch_url) as proxy:
        # each picked answer trickles in (16 bytes every 0.25 s: minutes for a bulk answer),
        # never silent for the 3 s of the poller's timeout, which must still bound it
        proxy.slow_delay, proxy.slow_bytes, proxy.slow_step = 0.5, 16, 0.25
        proxy.slow_when = picker
        proxy.set_mode("slow")
        env = _es_env(sim, tmp_path, es_namespace, proxy.url, POLLER_ELASTICSEARCH__TIMEOUT="3s")
        rc = run_to_end(backfill_cmd(since, until, BULK_STREAMS), env, log, timeout=120)
        check = compare(store, sim.org, BULK_STREAMS, since, until)
        documents = _dump(store, BULK_STREAMS)
    output = log.read_text(errors="replace")
    took = time.monotonic() - started
    summary = re.search(r"backfill: (\d+) created, (\d+) updated, (\d+) unchanged, "
                        r"0 dead-lettered; 0 stream\(s\) failed", output)
    assert summary is not None, _tail(log)
    created, unchanged = int(summary.group(1)), int(summary.group(3))
    record("es slow bulk answers", picker.picked, check,
           f"stored by timed-out writes={unchanged}", f"{took:.0f}s")
    assert rc == 0, _tail(log)
    assert proxy.errors == []
    assert picker.picked == SLOWED and proxy.counts["answers slowed"] == SLOWED
    # the timed-out writes had been stored: their retries found them (and created nothing twice)
    assert unchanged > 0
    assert created + unchanged == check.expected
    assert "Traceback" not in output
    _assert_exact(check)
    _secrets_clean(tmp_path, documents, output)


@dataclass
class NthBulk:
    """Picks the `n`th `_bulk` answer for the proxy to hold back, and says when it has: the
    documents are stored, the poller is waiting for the answer (mid-bulk)."""

    n: int
    bulks: int = 0
    held: threading.Event = field(default_factory=threading.Event)

    def __call__(self, method: str, path: str) -> bool:
        if not urllib.parse.urlsplit(path).path.endswith("/_bulk"):
            return False
        self.bulks += 1
        if self.bulks != self.n:
            return False
        self.held.set()
        return True


def test_backfill_sigterm_mid_bulk_then_restart(
    tmp_path: Path, es_client: Elasticsearch, es_namespace: EsNamespace, elasticsearch_url: str
) -> None:
    """SIGTERM while a bulk request is in flight (Elasticsearch stored it, its answer is held
    back 3 s): the backfill waits for the answer, commits that page, exits 1 ("interrupted");
    the restart resumes, and the store equals the truth with no duplicates."""
    log = tmp_path / "poller.log"
    since, until = window(2)
    store = _store(es_client, es_namespace)
    picker = NthBulk(3)
    with simulator(seed=17) as sim, _proxy(elasticsearch_url) as proxy:
        proxy.slow_delay, proxy.slow_bytes, proxy.slow_step = 3.0, 1 << 20, 0.0
        proxy.slow_when = picker
        proxy.set_mode("slow")
        env = _es_env(sim, tmp_path, es_namespace, proxy.url)
        cmd = backfill_cmd(since, until, BULK_STREAMS)
        proc = start(cmd, env, log)
        assert picker.held.wait(60), _tail(log)
        assert proc.poll() is None, _tail(log)
        proc.send_signal(signal.SIGTERM)
        term_rc = proc.wait(timeout=60)
        first = log.read_text(errors="replace")
        resumed = [s for s in BULK_STREAMS if store.state(s).coverage.segments]
        proxy.set_mode("pass")
        rc = run_to_end(cmd, env, log, timeout=120)
        check = compare(store, sim.org, BULK_STREAMS, since, until)
        documents = _dump(store, BULK_STREAMS)
    output = log.read_text(errors="replace")
    record("es SIGTERM mid-bulk", 1, check, f"exit on SIGTERM={term_rc}",
           f"streams with a cursor before the restart={len(resumed)}")
    assert term_rc == 1, _tail(log)
    assert "interrupted, run it again to resume" in first
    assert resumed  # the held page was committed, so the restart resumed instead of starting over
    assert rc == 0, _tail(log)
    assert proxy.errors == []
    assert "Traceback" not in output
    _assert_exact(check)
    _secrets_clean(tmp_path, documents, output)


# --- c. rollover ---------------------------------------------------------------------------------


def _supports_data_streams(es_client: Elasticsearch) -> str | None:
    """None when the cluster has data streams and rollover, else why not."""
    try:
        es_client.indices.get_data_stream(name="openai-poller-drill-probe-*")
    except ApiError as exc:
        return f"no _data_stream API (HTTP {exc.meta.status})"
    return None


ROLLOVER_STREAMS = ["completions", "embeddings"]
SETTLE = 100  # the simulator's revision time: the last two minutes collected are partial


def test_revisions_after_a_rollover_land_in_their_backing_index(
    tmp_path: Path, es_client: Elasticsearch, es_namespace: EsNamespace
) -> None:
    """A backfill collects minutes the simulator is still revising, every data stream rolls
    over, and once they settled a second backfill re-reads them: each revision goes into the
    backing index that already held the document (none is copied into the new write index),
    and the store equals the settled truth with no duplicates."""
    missing = _supports_data_streams(es_client)
    if missing is not None:
        where = "the external cluster" if os.environ.get("POLLER_TEST_ELASTICSEARCH_URL") \
            else "noida-db"
        record("es rollover", 0, Check(), f"skipped: {missing}; covered by {ROLLOVER_UNIT_TEST}")
        pytest.skip(f"{where} has {missing}: rollover cannot be drilled; the backing-index "
                    f"revision path is covered by {ROLLOVER_UNIT_TEST}")
    log = tmp_path / "poller.log"
    org = build_organization(seed=7, size="small", settle_seconds=SETTLE)
    app = SimulatorApp(org, admin_key=KEY, faults=FaultPlan.parse(""), seed=3)
    with SimulatorServer(app) as server:
        sim = Simulator(org, app, server.url, server.base_url)
        env = _es_env(sim, tmp_path, es_namespace, _direct_url(),
                      POLLER_ORG_DEFAULTS__DEFAULTS__SETTLEMENT_GRACE="0s")
        # start just after a minute ends, so the last minutes collected are still partial
        _wait_for("the start of a minute", lambda: 1 <= time.time() % MINUTE < 5, 70)
        until = int(time.time()) // MINUTE * MINUTE
        since = until - 2 * 3600
        cmd = [*backfill_cmd(since, until, ROLLOVER_STREAMS), "--bucket-width", "1m"]
        assert run_to_end(cmd, env, log, timeout=120) == 0, _tail(log)
        store = _store(es_client, es_namespace)
        before = {s: {h["_id"]: h["_index"] for h in store.hits(s)} for s in ROLLOVER_STREAMS}
        written = {s: es_namespace.data_stream(s) for s in ROLLOVER_STREAMS if before[s]}
        new_index = {s: es_client.indices.rollover(alias=ds)["new_index"]
                     for s, ds in written.items()}
        _wait_for("the partial minutes to settle", lambda: time.time() > until + SETTLE + 5,
                  SETTLE + 30)
        mark = log.stat().st_size
        assert run_to_end(cmd, env, log, timeout=120) == 0, _tail(log)
        second = _tail_from(log, mark)
        check = compare(store, org, ROLLOVER_STREAMS, since, until)
        after = {s: [(h["_id"], h["_index"]) for h in store.hits(s)] for s in ROLLOVER_STREAMS}
        documents = _dump(store, ROLLOVER_STREAMS)
    output = log.read_text(errors="replace")
    summary = re.search(r"backfill: (\d+) created, (\d+) updated", second)
    assert summary is not None, second
    created, updated = int(summary.group(1)), int(summary.group(2))
    record("es rollover", 0, check, f"rolled over={len(new_index)}",
           f"revised after rollover={updated}", f"created after={created}")
    assert "completions" in new_index
    assert updated > 0, "nothing was revised after the rollover: the drill proved nothing"
    for s in ROLLOVER_STREAMS:
        ids = [doc_id for doc_id, _ in after[s]]
        assert len(ids) == len(set(ids)), f"{s}: an id is stored in two backing indices"
        moved = [(i, old, now) for i, now in after[s] if (old := before[s].get(i)) not in
                 (None, now)]
        assert moved == [], f"{s}: revisions left the backing index that held them"
        fresh = {now for i, now in after[s] if i not in before[s]}
        assert fresh <= {new_index.get(s)}, f"{s}: new documents outside the write index"
    assert sum(1 for s in after for i, _ in after[s] if i not in before[s]) == created
    _assert_exact(check)
    _secrets_clean(tmp_path, documents, output)


def _direct_url() -> str:
    return os.environ["POLLER_TEST_ELASTICSEARCH_URL"]


def _backing_indices(es_client: Elasticsearch, data_stream: str) -> set[str]:
    body = es_client.indices.get_data_stream(name=data_stream).body
    return {i["index_name"] for ds in body["data_streams"] for i in ds["indices"]}


# --- d. kill -9 ----------------------------------------------------------------------------------

KILL_STREAMS = ["completions", "embeddings", "moderations", "images", "costs", "audit"]
KILLS = 10


def test_backfill_to_elasticsearch_survives_kill_9(
    tmp_path: Path, es_client: Elasticsearch, es_namespace: EsNamespace, elasticsearch_url: str
) -> None:
    """Ten SIGKILLs at random moments of a six-stream backfill's writes, each followed by a
    restart: the last run finishes, and the store equals the truth with no duplicates.

    A moment is a random number (1-12) of the run's write requests (`_bulk` or state saves,
    seen by the proxy in `pass` mode) plus up to 0.3 s, so kills land between a bulk request
    and its answer, between the writes of a page and its commit, and anywhere after."""
    log = tmp_path / "poller.log"
    since, until = window(3)
    rng = random.Random(20261130)
    store = _store(es_client, es_namespace)
    started = time.monotonic()
    progress: list[int] = []
    writes = WriteCounter(es_namespace.state_index)
    with simulator(seed=41) as sim, _proxy(elasticsearch_url) as proxy:
        proxy.observer = writes
        env = _es_env(sim, tmp_path, es_namespace, proxy.url)
        cmd = backfill_cmd(since, until, KILL_STREAMS)
        kills = runs = 0
        while kills < KILLS and runs < 3 * KILLS:
            runs += 1
            proc = start(cmd, env, log)
            _wait_for("the backfill to write", writes.reached(rng.randint(1, 12), proc), 90)
            time.sleep(rng.uniform(0.0, 0.3))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(timeout=30)
            progress.append(_count(es_client, es_namespace, KILL_STREAMS))
        rc = run_to_end(cmd, env, log, timeout=120)
        check = compare(store, sim.org, KILL_STREAMS, since, until)
        documents = _dump(store, KILL_STREAMS)
    output = log.read_text(errors="replace")
    took = time.monotonic() - started
    record(f"es kill -9 x{kills}", 0, check, f"runs={runs + 1}",
           f"documents after each run={','.join(map(str, progress))}", f"{took:.0f}s")
    assert kills == KILLS
    assert rc == 0, _tail(log)
    assert proxy.errors == []
    # the kills interrupted the backfill at different stages, not all at one spot
    assert len({n for n in progress if 0 < n < check.expected}) >= 3, progress
    _assert_exact(check)
    _secrets_clean(tmp_path, documents, output)


@dataclass
class WriteCounter:
    """Counts the write requests the proxy forwarded: `_bulk`, and saves of the state."""

    state_index: str
    count: int = 0

    def __call__(self, exchange: Exchange) -> None:
        path = urllib.parse.urlsplit(exchange.path).path
        if path.endswith("/_bulk") or path.startswith(f"/{self.state_index}/_doc/"):
            self.count += 1

    def reached(self, more: int, proc: subprocess.Popen[bytes]) -> Callable[[], bool]:
        """Whether `more` further writes were forwarded from now on, or `proc` ended."""
        target = self.count + more
        return lambda: self.count >= target or proc.poll() is not None


def _tail_from(log: Path, offset: int) -> str:
    if not log.exists():
        return ""
    with log.open("rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


def _count(es_client: Elasticsearch, ns: EsNamespace, streams: list[str]) -> int:
    total = 0
    for s in streams:
        index = ns.data_stream(s)
        if es_client.indices.exists(index=index):
            es_client.indices.refresh(index=index)
            total += int(es_client.count(index=index)["count"])
    return total

