"""Dead-letter retention on the test Elasticsearch and under a real `run`: letters past
`deadletter_retention` are deleted, newer ones and every cursor stay."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from own_env import foreign_environ

from poller.documents.model import Document, Rejected
from poller.simulator.app import SimulatorApp
from poller.simulator.organization import build_organization
from poller.simulator.server import SimulatorServer
from poller.sinks import SqliteSink
from poller.sinks.elasticsearch import ElasticsearchSink

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
KEY = "sk-admin-retention-test"


def _rejected(n: int) -> Rejected:
    doc = Document("audit", "logs-openai.audit-default", f"item-{n}", {"id": f"audit_{n}"})
    return Rejected(doc, "no effective_at")


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_elasticsearch_deletes_only_letters_past_retention(
    es_sink: ElasticsearchSink, es_client: Elasticsearch, es_namespace: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for n, age in enumerate((400, 91, 89, 0)):
        at = _iso(NOW - timedelta(days=age))
        monkeypatch.setattr("poller.sinks.elasticsearch._deadletters.now_utc", lambda at=at: at)
        es_sink.reject([_rejected(n)])
    es_sink.save_state("default/audit", {"high_water": 7})

    assert es_sink.prune_dead_letters(NOW - timedelta(days=90)) == 2

    es_client.indices.refresh(index=es_namespace.deadletter_index)
    hits = es_client.search(index=es_namespace.deadletter_index, size=10)["hits"]["hits"]
    assert sorted(hit["_source"]["doc_id"] for hit in hits) == ["item-2", "item-3"]
    assert es_sink.load_state("default/audit") == {"high_water": 7}
    assert es_sink.prune_dead_letters(NOW - timedelta(days=90)) == 0


def test_run_prunes_the_stores_old_dead_letters_when_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store.sqlite3"
    with SqliteSink(store) as sink:
        for n, age in enumerate((40, 20)):
            at = _iso(NOW - timedelta(days=age))
            monkeypatch.setattr("poller.sinks.sqlite._sink._now", lambda at=at: at)
            sink.reject([_rejected(n)])
    app = SimulatorApp(build_organization(seed=4, size="small"), admin_key=KEY)
    log = tmp_path / "run.log"
    with SimulatorServer(app) as server, log.open("wb") as out:
        env = foreign_environ(
            OPENAI_ADMIN_KEY=KEY, OPENAI_BASE_URL=server.base_url,
            POLLER_STORE_PATH=str(store), POLLER_ORG_DEFAULTS__STREAMS="costs",
            POLLER_METRICS__ENABLED="false", POLLER_DEADLETTER_RETENTION="30d",
            POLLER_LOG_FORMAT="json", POLLER_JITTER="0",
        )
        proc = subprocess.Popen([sys.executable, "-m", "poller", "run"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while "deleted 1 dead letters" not in log.read_text():
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=40) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    with SqliteSink(store, read_only=True) as sink:
        assert [letter.doc_id for letter in sink.reader().dead_letters()] == ["item-1"]
    messages = [json.loads(line)["message"] for line in log.read_text().splitlines()]
    assert any(m.startswith("deleted 1 dead letters last refused before ") for m in messages)
