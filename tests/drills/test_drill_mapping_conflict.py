"""Mapping drills: a data stream whose mapping is wrong, and documents refused one by one.

- A completions index created before the templates with `input_tokens` as boolean: `backfill`
  fails loudly (one line naming the field, exit 1), nothing is dead-lettered, the cursor holds;
  `doctor` names the field and the fix; after the fix (the index deleted, `setup`) a backfill
  leaves exactly the truth, and `replay-deadletters` finds nothing to replay.
- Single documents refused for good (the fault proxy's synthetic mapping errors) are
  dead-lettered while the stream moves on; `replay-deadletters` writes them once the cluster
  takes them: the data streams then equal the truth with no dead letter left, and a second
  replay changes nothing.

Everything is read directly from the test Elasticsearch and compared with the simulator's
settled truth: 0 duplicated, 0 lost.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from drill_support import backfill_cmd, compare, record, run_to_end, simulator, window
from elasticsearch import Elasticsearch
from fault_proxy import BulkFaults
from test_drill_elasticsearch import _assert_exact, _es_env, _proxy, _secrets_clean, _store, _tail

from poller.assets import composed_mapping, load_assets

if TYPE_CHECKING:
    from tests.conftest import EsNamespace

pytestmark = pytest.mark.drill

POLLER = [sys.executable, "-m", "poller"]
FIELD = "openai.completions.input_tokens"


def _conflicting_index(es_client: Elasticsearch, index: str) -> None:
    """The completions mapping of the templates, but with `input_tokens` boolean: an index
    someone created by hand, under the data stream's name, before `setup` ran."""
    mapping: dict[str, Any] = composed_mapping("completions", load_assets().components_by_name())
    completions = mapping["properties"]["openai"]["properties"]["completions"]["properties"]
    completions["input_tokens"] = {"type": "boolean"}
    es_client.indices.create(index=index, mappings=mapping)


def _new_text(log: Path, offset: int) -> str:
    return log.read_text(errors="replace")[offset:]


def test_a_conflicting_index_fails_loudly_then_the_fix_is_exact(
    tmp_path: Path, es_client: Elasticsearch, es_namespace: EsNamespace, elasticsearch_url: str
) -> None:
    log = tmp_path / "poller.log"
    since, until = window(1)
    ds = es_namespace.data_stream("completions")
    store = _store(es_client, es_namespace, dead=False)
    _conflicting_index(es_client, ds)
    with simulator() as sim:
        env = _es_env(sim, tmp_path, es_namespace, elasticsearch_url)
        cmd = [*backfill_cmd(since, until, ["completions"]), "--bucket-width", "1h"]
        failed = run_to_end(cmd, env, log)
        failure = _new_text(log, 0)
        held = store.state("completions")
        letters = store.dead_letters()

        offset = log.stat().st_size
        doctor = run_to_end([*POLLER, "doctor"], env, log)
        diagnosis = _new_text(log, offset)

        es_client.indices.delete(index=ds)  # the fix doctor names
        assert run_to_end([*POLLER, "setup"], env, log) == 0
        assert run_to_end(cmd, env, log) == 0, _tail(log)
        offset = log.stat().st_size
        replayed = run_to_end([*POLLER, "replay-deadletters", "--stream", "completions"], env,
                              log)
        replay_summary = _new_text(log, offset)
        check = compare(store, sim.org, ["completions"], since, until)
    record("mapping conflict, then fixed", 1, check, f"backfill exit={failed}")

    assert failed == 1
    assert "Traceback" not in failure
    lines = [line for line in failure.splitlines() if f"field {FIELD} is mapped as boolean" in line]
    assert lines and all("cursor held, nothing dead-lettered" in line for line in lines), failure
    assert "openai-poller doctor" in lines[-1]
    assert "0 dead-lettered; 1 stream(s) failed" in failure
    assert letters == []
    assert held.coverage.segments == ()
    assert held.last_error is not None and FIELD in held.last_error

    assert doctor == 1
    conflict = [line for line in diagnosis.splitlines() if FIELD in line]
    assert conflict == [
        f"  {ds}: {FIELD} is mapped as boolean, the templates say long -- fix: {ds} is a plain "
        f"index, not a data stream: delete it (DELETE /{ds}), run openai-poller setup, then "
        "backfill its window"
    ], diagnosis
    assert "FAIL  elasticsearch: mappings: 1 field(s)" in diagnosis

    assert replayed == 0
    assert "default/completions: 0 replayed, 0 already stored, 0 still refused" in replay_summary
    _assert_exact(check)
    _secrets_clean(tmp_path, failure, diagnosis)


# (data stream, n-th distinct document of it) refused for good by the proxy.
REFUSED = {("completions", 3), ("completions", 200), ("embeddings", 10), ("costs", 2)}
STREAMS = ["completions", "embeddings", "costs"]


def test_dead_letters_are_replayed_once_the_cluster_takes_them(
    tmp_path: Path, es_client: Elasticsearch, es_namespace: EsNamespace, elasticsearch_url: str
) -> None:
    log = tmp_path / "poller.log"
    since, until = window(2)
    faults = BulkFaults(permanent=frozenset(
        (es_namespace.data_stream(s), n) for s, n in REFUSED))
    with simulator(seed=12) as sim:
        with _proxy(elasticsearch_url) as proxy:
            proxy.bulk_faults = faults
            env = _es_env(sim, tmp_path, es_namespace, proxy.url)
            assert run_to_end(backfill_cmd(since, until, STREAMS), env, log, timeout=90) == 0
        stored_before = compare(_store(es_client, es_namespace), sim.org, STREAMS, since, until)
        dead_before = len(_store(es_client, es_namespace).dead_letters())

        env = _es_env(sim, tmp_path, es_namespace, elasticsearch_url)  # the cluster itself
        replay = [*POLLER, "replay-deadletters", "--streams", ",".join(STREAMS)]
        offset = log.stat().st_size
        first = run_to_end(replay, env, log)
        summary = _new_text(log, offset)
        offset = log.stat().st_size
        second = run_to_end(replay, env, log)
        again = _new_text(log, offset)
        store = _store(es_client, es_namespace)
        check = compare(store, sim.org, STREAMS, since, until)
        dead_after = store.dead_letters()
        documents = str(store.documents("completions"))
    record("dead letters replayed", len(REFUSED), check, f"replayed={dead_before}")

    assert len(faults.refused_ids) == dead_before == len(REFUSED)
    assert stored_before.lost == len(REFUSED)  # missing from the data streams until replayed
    assert first == 0, summary
    assert f"replay-deadletters: {len(REFUSED)} replayed, 0 already stored, 0 still refused, " \
           "0 skipped; 0 stream(s) failed" in summary
    assert second == 0
    assert "replay-deadletters: 0 replayed, 0 already stored, 0 still refused" in again
    assert dead_after == []
    _assert_exact(check)
    _secrets_clean(tmp_path, summary, documents)
