"""`status` as a real process on a store shared by replicas: each org's lease holder, expiry,
fencing token and state, in the table (80 columns) and in `--json`, read without changing the
store."""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from cli_run import WIDTH, poller, widest

from poller.cli._text import human_age
from poller.leases import CellLeases
from poller.sinks.elasticsearch import ElasticsearchSink, StateCells
from poller.sinks.sqlite import SqliteSink, StoreCells

if TYPE_CHECKING:
    from tests.conftest import EsNamespace

pytestmark = pytest.mark.integration

ORGS = ("alpha", "beta", "gamma", "delta", "omega")
HOUR = 3600.0


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z")


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """alpha held by replica-a for an hour (token 1); beta passed to replica-b (token 2), which
    released it; gamma's lease ran out a day ago; delta's record is damaged; omega has none."""
    root = tmp_path_factory.mktemp("leases")
    store = root / "store.sqlite3"
    SqliteSink(str(store)).close()
    now = time.time()
    clock = [now]
    rows = StoreCells(str(store), "leases")
    try:
        leases = CellLeases(rows, clock=lambda: clock[0])
        assert leases.acquire("alpha", "replica-a", HOUR) is not None
        clock[0] = now - 2 * HOUR
        assert leases.acquire("beta", "replica-a", 10) is not None
        clock[0] = now - 86400 - 10
        assert leases.acquire("gamma", "replica-c", 10) is not None
        clock[0] = now
        assert leases.acquire("beta", "replica-b", HOUR) is not None
        leases.release("beta", "replica-b")
        assert rows.write("lease:delta", {"holder": 7, "token": "high"}, None)
    finally:
        rows.close()
    (root / "poller.yaml").write_text("orgs:\n" + "".join(
        f"  - {{name: {org}, admin_key: sk-admin-status-{org}}}\n" for org in ORGS))
    return store, now


def _status(store: Path, *argv: str) -> tuple[str, tuple[float, float]]:
    env = {"POLLER_STORE_PATH": str(store), "POLLER_CONFIG": str(store.parent / "poller.yaml"),
           "POLLER_ORG_DEFAULTS__STREAMS": "costs"}
    before = time.time()
    result = poller("status", *argv, cwd=store.parent, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout, (before, time.time())


def test_json_gives_each_orgs_lease_on_every_row(shared: tuple[Path, float]) -> None:
    store, now = shared
    out, _ = _status(store, "--json")
    leases: dict[str, Any] = {row["org"]: row["lease"] for row in json.loads(out)}
    assert leases == {
        "alpha": {"holder": "replica-a", "token": 1, "expires": _iso(now + HOUR),
                  "state": "held"},
        "beta": {"holder": "replica-b", "token": 2, "expires": None, "state": "released"},
        "gamma": {"holder": "replica-c", "token": 1, "expires": _iso(now - 86400),
                  "state": "expired"},
        "delta": {"holder": None, "token": None, "expires": None, "state": "damaged"},
        "omega": None,
    }


def test_the_table_shows_holder_time_left_and_token_within_80_columns(
    shared: tuple[Path, float],
) -> None:
    store, now = shared
    out, span = _status(store)
    assert widest(out) <= WIDTH
    lines = [line.strip() for line in out.splitlines()]
    start = lines.index("leases")
    found = {line.split()[0]: line.split()[1:] for line in lines[start + 4 :] if line}
    left = {human_age(now + HOUR - span[0]), human_age(now + HOUR - span[1])}
    assert found.pop("alpha") in [["replica-a", "held,", *t.split(), "left", "1"] for t in left]
    assert found == {
        "beta": ["replica-b", "released", "2"],
        "gamma": ["replica-c", "expired", "1d", "ago", "1"],
        "delta": ["?", "damaged", "?"],
    }
    assert lines[start + 2].split() == ["org", "holder", "lease", "token"]


def test_status_reads_a_store_without_leases_and_creates_no_table(tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    SqliteSink(str(store)).close()
    (tmp_path / "poller.yaml").write_text("orgs:\n  - {name: alpha, admin_key: sk-admin-x}\n")
    out, _ = _status(store, "--json")
    assert [row["lease"] for row in json.loads(out)] == [None]
    text, _ = _status(store)
    assert "leases" not in [line.strip() for line in text.splitlines()]
    with closing(sqlite3.connect(store)) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    assert "leases" not in tables


def test_status_on_elasticsearch_reads_the_leases_of_the_state_index(
    tmp_path: Path, es_sink: ElasticsearchSink, es_namespace: EsNamespace,
    elasticsearch_url: str, elasticsearch_api_key: str | None,
) -> None:
    now = time.time()
    leases = CellLeases(StateCells(es_sink.cluster, es_sink.indices.state), clock=lambda: now)
    assert leases.acquire("alpha", "pod-1", HOUR) is not None
    leases.release("alpha", "pod-1")
    assert leases.acquire("alpha", "pod-2", HOUR) is not None
    (tmp_path / "poller.yaml").write_text("orgs:\n" + "".join(
        f"  - {{name: {org}, admin_key: sk-admin-x-{org}, namespace: {es_namespace.name}}}\n"
        for org in ("alpha", "beta")))
    env = {"ELASTICSEARCH_URL": elasticsearch_url,
           **({"ELASTICSEARCH_API_KEY": elasticsearch_api_key} if elasticsearch_api_key else {}),
           "POLLER_ELASTICSEARCH__STATE_INDEX": es_namespace.state_index,
           "POLLER_ELASTICSEARCH__DEADLETTER_INDEX": es_namespace.deadletter_index,
           "POLLER_CONFIG": str(tmp_path / "poller.yaml"), "POLLER_ORG_DEFAULTS__STREAMS": "costs"}
    result = poller("status", "--json", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert {row["org"]: row["lease"] for row in json.loads(result.stdout)} == {
        "alpha": {"holder": "pod-2", "token": 2, "expires": _iso(now + HOUR), "state": "held"},
        "beta": None,
    }
