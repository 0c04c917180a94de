"""`run_setup` against Kibana (respx): the import request, rule creation and update, idempotence,
dry runs that change nothing, and errors that name the problem but never the credentials."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx
from assets_fakes import KIBANA_URL, FakeKibana

from poller.assets import load_assets
from poller.errors import SinkRejectedError, SinkUnavailableError
from poller.install import KibanaAuth, SetupOptions, SetupReport, run_setup

ASSETS = load_assets()
BUDGET_2500 = SetupOptions(rule_parameters={"monthly-budget": {"budget_usd": 2500}})
RUNS_AS = (
    "kibana rules: {verb} setup's credentials (Kibana runs a rule's queries with an API key of "
    "whoever saved it last)"
)


def setup(**kwargs: object) -> SetupReport:
    kwargs.setdefault("kibana_auth", KibanaAuth(api_key="key-id:s3cr3t-key"))
    return run_setup(es=None, kibana_url=KIBANA_URL, **kwargs)  # type: ignore[arg-type]


def test_first_run_imports_the_ndjson_and_creates_every_rule(kibana: FakeKibana) -> None:
    report = setup()
    assert len(kibana.imports) == 1
    name, content, params = kibana.imports[0]
    assert params == {"overwrite": "true"}
    assert name == "openai-poller.ndjson"
    assert content.decode() == ASSETS.saved_objects_ndjson
    request = next(r for r in kibana.requests if r.url.path.endswith("/_import"))
    assert request.method == "POST"
    assert request.headers["kbn-xsrf"]
    assert request.headers["authorization"].startswith("ApiKey ")
    assert "s3cr3t" not in request.headers["authorization"]  # base64 of id:key, as Kibana wants

    posts = [r for r in kibana.requests if r.method == "POST" and "/alerting/rule/" in r.url.path]
    assert len(posts) == len(ASSETS.rules)
    rule = ASSETS.rules[0]
    sent = next(json.loads(r.content) for r in posts if r.url.path.endswith(rule.rule_id))
    assert sent == rule.render()
    assert report.changed
    assert "kibana dashboard openai-poller-usage: created" in report.lines()
    assert f"kibana rule {rule.slug}: created" in report.lines()


def test_second_run_changes_nothing(kibana: FakeKibana) -> None:
    setup()
    writes = len(kibana.writes)
    report = setup()
    assert not report.changed
    lines = report.lines()
    assert lines[len(ASSETS.saved_objects)] == RUNS_AS.format(verb="run as")
    del lines[len(ASSETS.saved_objects)]
    assert all(line.endswith(": unchanged") for line in lines)
    assert len(kibana.writes) == writes


def test_dry_run_only_reads(kibana: FakeKibana) -> None:
    report = setup(dry_run=True)
    assert kibana.writes == []
    assert {r.method for r in kibana.requests} == {"GET"}
    lines = report.lines()
    assert lines.pop(len(ASSETS.saved_objects)) == RUNS_AS.format(verb="would run as")
    assert all(": would create" in line for line in lines)


def _edit_in_kibana(kibana: FakeKibana, budget: int) -> dict[str, Any]:
    """What an operator does in Kibana: a new threshold, a connector, a tag of their own."""
    rule = next(r for r in ASSETS.rules if r.slug == "monthly-budget")
    stored: dict[str, Any] = kibana.rules[rule.rule_id]
    stored["params"]["threshold"] = [budget]
    stored["actions"] = [
        {"group": "query matched", "id": "slack-1", "params": {"message": "hi"}, "uuid": "u1"}
    ]
    stored["actions"][0]["connector_type_id"] = ".slack"
    stored["tags"] = [*stored["tags"], "team:finops"]
    return stored


def test_a_rerun_keeps_thresholds_edited_in_kibana_and_says_so(kibana: FakeKibana) -> None:
    setup()
    stored = _edit_in_kibana(kibana, 7500)
    stored["schedule"] = {"interval": "1d"}  # ours again on the next run
    report = setup(options=BUDGET_2500)
    assert (
        "kibana rule monthly-budget: updated (kept budget_usd=7500 set in Kibana; configured "
        "budget_usd=2500: setup --reset-rules applies it)"
    ) in report.lines()
    put = next(r for r in kibana.requests if r.method == "PUT")
    body = json.loads(put.content)
    assert set(body) == {"name", "tags", "schedule", "params", "actions"}
    assert body["params"]["threshold"] == [7500]
    assert body["schedule"] == {"interval": "1h"}
    assert body["actions"] == [
        {"group": "query matched", "id": "slack-1", "params": {"message": "hi"}, "uuid": "u1"}
    ]
    assert "team:finops" in body["tags"]
    again = setup(options=BUDGET_2500)
    assert not again.changed
    assert (
        "kibana rule monthly-budget: unchanged (kept budget_usd=7500 set in Kibana; configured "
        "budget_usd=2500: setup --reset-rules applies it)"
    ) in again.lines()
    # A threshold equal to the configured one needs no word.
    assert "kibana rule monthly-budget: unchanged" in setup(options=SetupOptions(
        rule_parameters={"monthly-budget": {"budget_usd": 7500}}
    )).lines()


def test_thresholds_inside_an_esql_query_are_kept_too(kibana: FakeKibana) -> None:
    setup()
    rule = next(r for r in ASSETS.rules if r.slug == "spend-spike")
    kibana.rules[rule.rule_id]["params"] = {
        **kibana.rules[rule.rule_id]["params"],
        **rule.render({"spike_factor": 1.5, "min_daily_usd": 10})["params"],
    }
    writes = len(kibana.writes)
    report = setup()
    assert (
        "kibana rule spend-spike: unchanged (kept min_daily_usd=10, spike_factor=1.5 set in "
        "Kibana; configured min_daily_usd=50, spike_factor=3: setup --reset-rules applies it)"
    ) in report.lines()
    assert len(kibana.writes) == writes


def test_reset_rules_applies_the_configured_thresholds(kibana: FakeKibana) -> None:
    setup()
    _edit_in_kibana(kibana, 7500)
    reset = SetupOptions(rule_parameters={"monthly-budget": {"budget_usd": 2500}}, reset_rules=True)
    report = setup(options=reset)
    assert "kibana rule monthly-budget: updated" in report.lines()
    body = json.loads(next(r for r in kibana.requests if r.method == "PUT").content)
    assert body["params"]["threshold"] == [2500]
    assert body["actions"][0]["id"] == "slack-1"  # connectors survive a reset
    assert not setup(options=reset).changed


def test_a_new_rule_gets_the_configured_thresholds(kibana: FakeKibana) -> None:
    setup(options=BUDGET_2500)
    rule = next(r for r in ASSETS.rules if r.slug == "monthly-budget")
    assert kibana.rules[rule.rule_id]["params"]["threshold"] == [2500]


def test_a_rule_of_another_type_is_replaced(kibana: FakeKibana) -> None:
    setup()
    rule = ASSETS.rules[0]
    kibana.rules[rule.rule_id]["rule_type_id"] = ".index-threshold"
    report = setup()
    replaced = f"kibana rule {rule.slug}: replaced (its rule type or consumer changed)"
    assert replaced in report.lines()
    methods = [r.method for r in kibana.requests if r.url.path.endswith(rule.rule_id)]
    assert methods[-2:] == ["DELETE", "POST"]


def test_an_edited_dashboard_is_imported_alone(kibana: FakeKibana) -> None:
    setup()
    kibana.objects[("dashboard", "openai-poller-costs")]["attributes"]["title"] = "mine"
    report = setup()
    assert "kibana dashboard openai-poller-costs: updated" in report.lines()
    content = kibana.imports[-1][1].decode()
    assert [json.loads(line)["id"] for line in content.splitlines()] == ["openai-poller-costs"]


def test_space_prefixes_every_path(kibana: FakeKibana) -> None:
    setup(options=SetupOptions(kibana_space="finance"), dry_run=True)
    assert all(r.url.path.startswith("/s/finance/api/") for r in kibana.requests)


def test_basic_auth_and_no_secret_in_errors(kibana: FakeKibana) -> None:
    kibana.status = 401
    with pytest.raises(SinkRejectedError) as caught:
        setup(kibana_auth=KibanaAuth(username="elastic", password="hunter2-pw"))
    assert "authentication failed" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert kibana.requests[0].headers["authorization"].startswith("Basic ")
    assert "hunter2" not in repr(KibanaAuth(username="elastic", password="hunter2-pw"))


def test_failed_import_is_reported(kibana: FakeKibana) -> None:
    kibana.import_errors = [{"type": "dashboard", "id": "x", "error": {"type": "conflict"}}]
    with pytest.raises(SinkRejectedError, match="dashboard x: conflict"):
        setup()


def test_unreachable_and_overloaded_kibana_are_retryable() -> None:
    with respx.mock(assert_all_called=False) as router:
        router.route(url__startswith=KIBANA_URL).mock(side_effect=httpx.ConnectError("refused"))
        with pytest.raises(SinkUnavailableError, match="unreachable"):
            setup()
    with respx.mock(assert_all_called=False) as router:
        router.route(url__startswith=KIBANA_URL).mock(return_value=httpx.Response(503))
        with pytest.raises(SinkUnavailableError, match="HTTP 503"):
            setup()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kibana_url": "ftp://kibana"}, "KIBANA_URL must be an http(s) URL, not 'ftp://kibana'"),
        (
            {"options": SetupOptions(rule_parameters={"no-such-rule": {"x": 1}})},
            "no rule no-such-rule; rules are: admin-key-created, failed-login-burst, ",
        ),
        (
            {"options": SetupOptions(rule_parameters={"monthly-budget": {"budget": 1}})},
            "rule monthly-budget has no parameter budget (it takes: budget_usd)",
        ),
        ({"options": SetupOptions(kibana_space="../admin")}, "invalid Kibana space id '../admin'"),
        (
            {"kibana_url": "kibana.example:5601"},
            "KIBANA_URL must be an http(s) URL, not 'kibana.example:5601'",
        ),
        (
            {"kibana_auth": KibanaAuth(api_key="a:b", ca_certs="/nonexistent/ca.pem")},
            "cannot read the Kibana CA bundle /nonexistent/ca.pem: ",
        ),
    ],
)
def test_bad_arguments_are_value_errors(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"es": None, "kibana_url": KIBANA_URL, **kwargs}
    with pytest.raises(ValueError) as caught:
        run_setup(**arguments)  # type: ignore[arg-type]
    assert str(caught.value).startswith(message)


def test_auth_needs_one_way_to_log_in() -> None:
    with pytest.raises(
        ValueError, match=r"^give Kibana either an API key or a username and password$"
    ):
        KibanaAuth(api_key="a:b", username="u", password="p")
    with pytest.raises(
        ValueError, match=r"^a Kibana username needs a password, and a password a username$"
    ):
        KibanaAuth(username="u")
