"""`openai-poller setup` and `doctor` end to end over the fake cluster and Kibana: settings reach
the templates and rules, setup authenticates with its own key, lines are printed as they happen
(so a failure half-way shows what was installed), and doctor prints the missing privileges as a
role body that, once granted, makes its check pass."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import respx
from assets_fakes import KIBANA_URL, FakeCluster, FakeKibana
from fakes.elasticsearch import ES_URL
from own_env import clear_own

from poller.assets import load_assets
from poller.cli import main
from poller.cli.doctor import doctor
from poller.install import writer_role
from poller.settings import Settings, load_settings
from poller.sinks.elasticsearch import ElasticsearchSink, EsConnection, EsCredentials, EsIndices

ASSETS = load_assets()
BUDGET = next(rule for rule in ASSETS.rules if rule.slug == "monthly-budget")
DAEMON_KEY = "daemon-id:daemon-secret-0001"
SETUP_KEY = "setup-id:setup-secret-0002"


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch, cluster: FakeCluster) -> list[Settings]:
    """Commands open the fake cluster, with the credentials their settings name; the settings
    each command opened it with are recorded."""
    seen: list[Settings] = []

    def open_fake(settings: Settings) -> ElasticsearchSink:
        seen.append(settings)
        es = settings.elasticsearch
        credentials = EsCredentials(
            api_key=es.api_key.get_secret_value() if es.api_key else None,
            username=es.username,
            password=es.password.get_secret_value() if es.password else None,
        )
        return ElasticsearchSink(
            EsConnection(str(es.url), credentials=credentials),
            indices=EsIndices(state=es.state_index, deadletter=es.deadletter_index),
            node_class=cluster.node_class(),
        )

    clear_own(monkeypatch)
    monkeypatch.setattr("poller.cli.setup.open_elasticsearch", open_fake)
    monkeypatch.setattr("poller.cli.doctor.open_elasticsearch", open_fake)
    monkeypatch.setenv("POLLER_LOG_FORMAT", "text")
    monkeypatch.setenv("POLLER_ALLOW_INSECURE_HTTP", "true")  # the fakes' http:// URLs
    monkeypatch.setenv("ELASTICSEARCH_URL", ES_URL)
    monkeypatch.setenv("ELASTICSEARCH_API_KEY", DAEMON_KEY)
    return seen


def _key_file(tmp_path: Path, key: str = SETUP_KEY) -> str:
    path = tmp_path / "setup.key"
    path.write_text(key + "\n", encoding="utf-8")
    return str(path)


def test_settings_reach_the_templates_and_rules_with_setups_own_key(
    opened: list[Settings],
    cluster: FakeCluster,
    kibana: FakeKibana,
    *,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KIBANA_URL", KIBANA_URL)
    monkeypatch.setenv("POLLER_ALERTS__MONTHLY_BUDGET_USD", "5000")
    monkeypatch.setenv("POLLER_SETUP__RETENTION__AUDIT", "3650d")
    assert main(["setup", "--es-api-key-file", _key_file(tmp_path)]) == 0

    (settings,) = opened
    assert settings.elasticsearch.api_key is not None
    assert settings.elasticsearch.api_key.get_secret_value() == SETUP_KEY
    encoded = base64.b64encode(SETUP_KEY.encode()).decode()
    assert {r.headers["authorization"] for r in kibana.requests} == {f"ApiKey {encoded}"}
    assert kibana.rules[BUDGET.rule_id]["params"]["threshold"] == [5000]
    audit = cluster.component_templates["openai-poller.audit@package"]["template"]
    assert audit["lifecycle"] == {"data_retention": "3650d"}
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "ingest pipeline openai-poller-event-ingested: created"
    assert "kibana rule monthly-budget: created" in out
    assert DAEMON_KEY not in str(kibana.requests[0].headers)


def test_setup_credentials_from_settings_replace_the_daemons(
    opened: list[Settings], cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLLER_SETUP__ELASTICSEARCH_USERNAME", "ops-admin")
    monkeypatch.setenv("POLLER_SETUP__ELASTICSEARCH_PASSWORD", "setup-password-0003")
    assert main(["setup", "--dry-run"]) == 0
    es = opened[0].elasticsearch
    assert (es.api_key, es.username) == (None, "ops-admin")
    assert es.password is not None and es.password.get_secret_value() == "setup-password-0003"


def test_an_unreadable_key_file_is_a_usage_error(
    opened: list[Settings], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.key"
    assert main(["setup", "--es-api-key-file", str(missing)]) == 2
    assert capsys.readouterr().err == (
        f"error: setup: --es-api-key-file: cannot read {missing}: No such file or directory\n"
    )
    assert main(["setup", "--es-api-key-file", _key_file(tmp_path, "  ")]) == 2
    assert capsys.readouterr().err.endswith("setup.key is empty\n")
    assert opened == []


def test_thresholds_edited_in_kibana_survive_a_rerun_unless_reset(
    opened: list[Settings],
    kibana: FakeKibana,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KIBANA_URL", KIBANA_URL)
    assert main(["setup"]) == 0
    kibana.rules[BUDGET.rule_id]["params"]["threshold"] = [8000]
    capsys.readouterr()
    assert main(["setup"]) == 0
    assert (
        "kibana rule monthly-budget: unchanged (kept budget_usd=8000 set in Kibana; configured "
        "budget_usd=1000: setup --reset-rules applies it)"
    ) in capsys.readouterr().out.splitlines()
    assert kibana.rules[BUDGET.rule_id]["params"]["threshold"] == [8000]
    assert main(["setup", "--reset-rules"]) == 0
    assert "kibana rule monthly-budget: updated" in capsys.readouterr().out.splitlines()
    assert kibana.rules[BUDGET.rule_id]["params"]["threshold"] == [1000]


def test_a_kibana_failure_after_elasticsearch_lists_what_was_installed(
    opened: list[Settings],
    cluster: FakeCluster,
    kibana: FakeKibana,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KIBANA_URL", KIBANA_URL)
    kibana.status = 503
    assert main(["setup"]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 1 + len(ASSETS.component_templates) + len(ASSETS.index_templates)
    assert all(line.endswith(": created") for line in lines)
    assert lines[-1] == f"index template {ASSETS.index_templates[-1].name}: created"
    assert captured.err.startswith(
        f"error: Kibana at {KIBANA_URL} refused reading index-pattern openai-poller-logs-openai: "
        "HTTP 503"
    )
    assert captured.err.count("\n") == 1


def test_a_dry_run_needs_no_cluster_at_all(
    opened: list[Settings], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ELASTICSEARCH_URL")
    monkeypatch.setenv("KIBANA_URL", KIBANA_URL)
    with respx.mock(assert_all_called=False) as router:
        kibana = router.route(url__startswith=KIBANA_URL)
        assert main(["setup", "--dry-run"]) == 0
        assert not kibana.called
    lines = capsys.readouterr().out.splitlines()
    assert all(": would install" in line for line in lines)
    assert "kibana rule monthly-budget: would install (budget_usd=1000)" in lines
    assert opened == []
    assert main(["setup"]) == 2
    assert capsys.readouterr().err == (
        "error: setup: ELASTICSEARCH_URL is not set (the embedded store needs no templates)\n"
    )


# --- doctor -------------------------------------------------------------------------------------


def _doctor(capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = doctor(load_settings(require_orgs=False))
    return code, capsys.readouterr().out.splitlines()


def _role_body(lines: list[str]) -> dict[str, object]:
    """The JSON doctor prints after its privileges line, as an operator would copy it."""
    start = next(i for i, line in enumerate(lines) if line.startswith("FAIL  elasticsearch: priv"))
    end = next(i for i in range(start + 1, len(lines)) if lines[i] == "}")
    body: dict[str, object] = json.loads("\n".join(lines[start + 1 : end + 1]))
    return body


def test_doctor_prints_the_missing_privileges_as_a_role_that_fixes_them(
    opened: list[Settings],
    cluster: FakeCluster,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("POLLER_ELASTICSEARCH__STATE_INDEX", "acme-state")
    cluster.roles = [
        {"cluster": ["monitor"], "indices": [{"names": ["logs-openai.*"], "privileges": ["all"]}]}
    ]
    code, lines = _doctor(capsys)
    assert code == 1
    assert lines[1] == (
        "FAIL  elasticsearch: privileges: the credentials lack 9 privileges of the writer role "
        "(acme-state:create_index, acme-state:index, acme-state:read, "
        "acme-state:view_index_metadata, ...) -- fix: grant them, "
        "e.g. as one more role of these credentials (PUT "
        "_security/role/openai-poller-writer-extra) or in a new API key's role_descriptors; the "
        "whole writer role is in docs/elasticsearch-privileges.md:"
    )
    body = _role_body(lines)
    assert body == {
        "indices": [
            {
                "names": ["acme-state"],
                "privileges": ["create_index", "index", "read", "view_index_metadata"],
            },
            {
                "names": ["openai-poller-deadletter"],
                "privileges": ["create_index", "delete", "index", "read", "view_index_metadata"],
            },
        ]
    }
    cluster.roles.append(body)
    code, lines = _doctor(capsys)
    assert lines[1] == "ok    elasticsearch: privileges: privileges ok"


def test_doctor_checks_the_whole_writer_role(
    opened: list[Settings], cluster: FakeCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.roles = []
    _, lines = _doctor(capsys)
    assert _role_body(lines) == {k: v for k, v in writer_role().items() if k != "metadata"}


def test_doctor_names_missing_then_outdated_templates(
    opened: list[Settings], cluster: FakeCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = _doctor(capsys)
    assert code == 1
    assert lines == [
        "ok    elasticsearch: reachable: Elasticsearch 8.15.3",
        "ok    elasticsearch: privileges: not checked (the cluster cannot say: no handler found "
        "for uri [/_security/user/_has_privileges] and method [POST])",
        "FAIL  elasticsearch: templates: templates missing (component template "
        "openai-poller.allocated_costs@package, component template "
        "openai-poller.audio_speeches@package, component template "
        "openai-poller.audio_transcriptions@package, ...) -- fix: run openai-poller setup",
        "ok    elasticsearch: mappings: no data stream of the configured streams exists yet",
    ]
    assert main(["setup"]) == 0
    capsys.readouterr()
    installed = "ok    elasticsearch: templates: templates installed"
    assert _doctor(capsys) == (0, [*lines[:2], installed, lines[3]])
    cluster.index_templates["openai-poller-costs"]["priority"] = 50
    code, lines = _doctor(capsys)
    assert (code, lines[2]) == (
        1,
        "FAIL  elasticsearch: templates: templates outdated (index template openai-poller-costs) "
        "-- fix: run openai-poller setup",
    )


def test_doctor_compares_with_the_configured_retention(
    opened: list[Settings],
    cluster: FakeCluster,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("POLLER_SETUP__RETENTION__METRICS", "90d")
    assert main(["setup"]) == 0
    capsys.readouterr()
    assert _doctor(capsys)[0] == 0


