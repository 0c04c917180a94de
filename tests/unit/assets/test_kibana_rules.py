"""The alert rules: valid `.es-query` bodies, the mixin's five and the eight new ones, windows
offset by the time usage takes to arrive, and thresholds as parameters."""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

import pytest

from poller.assets import RuleAsset, load_assets

RULES = {rule.slug: rule for rule in load_assets().rules}
MIXIN = {
    "HighCompletionTokensUsage",
    "HighPromptTokensUsage",
    "HighTotalTokensUsage",
    "HighUsageCost",
    "LongRequestDuration",
}
NEW = {
    "monthly-budget",
    "spend-spike",
    "admin-key-created",
    "failed-login-burst",
    "role-or-owner-change",
    "spend-alert-threshold",
    "spend-limit-forecast",
    "spend-limit-enforcing",
}
DSL_REQUIRED = {
    "esQuery",
    "index",
    "threshold",
    "thresholdComparator",
    "timeField",
    "timeWindowSize",
    "timeWindowUnit",
}
ESQL_REQUIRED = {
    "esqlQuery",
    "threshold",
    "thresholdComparator",
    "timeField",
    "timeWindowSize",
    "timeWindowUnit",
}


def rendered(slug: str, **overrides: float) -> dict[str, Any]:
    return RULES[slug].render(overrides)


@pytest.mark.parametrize("slug", sorted(RULES))
def test_rule_bodies_have_what_the_alerting_api_requires(slug: str) -> None:
    body = rendered(slug)
    assert {"name", "rule_type_id", "consumer", "schedule", "params"} <= body.keys()
    assert body["rule_type_id"] == ".es-query"
    assert body["consumer"] == "stackAlerts"
    assert body["schedule"]["interval"].endswith(("m", "h"))
    assert body["actions"] == []
    assert "openai-poller" in body["tags"]
    params = body["params"]
    required = ESQL_REQUIRED if params["searchType"] == "esqlQuery" else DSL_REQUIRED
    assert required <= params.keys()
    assert params["thresholdComparator"] in (">", ">=", "<", "<=")
    assert all(isinstance(t, int | float) for t in params["threshold"])
    assert "${" not in json.dumps(body)
    if params["searchType"] == "esQuery":
        assert json.loads(params["esQuery"])["query"]["bool"]["filter"]
        assert params["index"] == ["logs-openai.*"]


@pytest.mark.parametrize("slug", sorted(RULES))
def test_rule_ids_are_stable_uuid_v4(slug: str) -> None:
    """Kibana accepts predefined rule ids only as UUID v1/v4."""
    assert uuid.UUID(RULES[slug].rule_id).version == 4


def test_the_mixins_five_and_the_eight_new_rules_are_present() -> None:
    tags = {t for rule in RULES.values() for t in rendered(rule.slug)["tags"]}
    covered = {t.partition(":")[2] for t in tags if t.startswith(("mixin:", "replaces:"))}
    assert covered == MIXIN
    assert RULES.keys() >= NEW
    assert len(RULES) == 15


@pytest.mark.parametrize(
    "slug", ["high-completion-tokens", "high-prompt-tokens", "high-total-tokens", "high-usage-cost"]
)
def test_five_minute_rules_read_settled_buckets(slug: str) -> None:
    """Usage is stamped with the bucket start and arrives after grace + poll: read 10 min late."""
    params = rendered(slug)["params"]
    filters = json.loads(params["esQuery"])["query"]["bool"]["filter"]
    window = next(f["range"]["@timestamp"] for f in filters if "range" in f)
    assert window == {"gte": "now-15m/m", "lt": "now-10m/m"}
    assert {"term": {"openai.base.bucket_width": "1m"}} in filters
    assert params["timeWindowSize"] >= 15 and params["timeWindowUnit"] == "m"
    assert params["groupBy"] == "top" and params["termField"] == "openai.base.model"
    assert params["aggType"] == "sum"


def test_thresholds_default_to_the_mixin_and_can_be_overridden() -> None:
    assert rendered("high-completion-tokens")["params"]["threshold"] == [10000]
    assert rendered("high-prompt-tokens")["params"]["threshold"] == [5000]
    assert rendered("high-total-tokens")["params"]["threshold"] == [15000]
    assert rendered("high-usage-cost")["params"]["threshold"] == [100]
    assert rendered("monthly-budget", budget_usd=2500)["params"]["threshold"] == [2500]
    esql = rendered("spend-spike", spike_factor=4.5)["params"]["esqlQuery"]["esql"]
    assert "baseline * 4.5" in esql and ">= 50" in esql


def test_monthly_budget_sums_billed_cost_since_the_month_start() -> None:
    params = rendered("monthly-budget")["params"]
    filters = json.loads(params["esQuery"])["query"]["bool"]["filter"]
    assert {"range": {"@timestamp": {"gte": "now/M"}}} in filters
    assert params["aggField"] == "openai.costs.amount.value"
    assert (params["timeWindowSize"], params["timeWindowUnit"]) == (32, "d")


NOT_A_NUMBER = "rule high-total-tokens: threshold must be a number, not"


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        (
            {"nope": 1},
            ValueError,
            "rule high-total-tokens has no parameter nope (it takes: threshold)",
        ),
        ({"threshold": "1; DROP"}, TypeError, f"{NOT_A_NUMBER} '1; DROP'"),
        ({"threshold": True}, TypeError, f"{NOT_A_NUMBER} True"),
        ({"threshold": math.nan}, ValueError, f"{NOT_A_NUMBER} nan"),
    ],
)
def test_bad_parameters_are_refused(
    overrides: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        RULES["high-total-tokens"].render(overrides)
    assert str(caught.value) == message


def test_rendering_replaces_whole_values_typed_and_parts_as_text() -> None:
    rule = RuleAsset(
        "x", "id", "", {"n": 3}, {"params": {"threshold": ["${n}"], "esql": "| WHERE a > ${n}"}}
    )
    assert rule.render() == {"params": {"threshold": [3], "esql": "| WHERE a > 3"}}
    assert rule.render({"n": 0.5})["params"]["esql"] == "| WHERE a > 0.5"


@pytest.mark.parametrize("slug", sorted(RULES))
def test_parameters_are_read_back_from_an_installed_rule(slug: str) -> None:
    """What setup keeps on a re-run: the thresholds a rule holds in Kibana, wherever our body
    puts them (a threshold list, or inside an ES|QL query)."""
    rule = RULES[slug]
    edited = {name: value * 7 + 0.25 for name, value in rule.parameters.items()}
    assert rule.parameters_in(rule.render(edited)) == edited
    assert rule.parameters_in(rule.render()) == dict(rule.parameters)


def test_a_parameter_whose_place_was_rewritten_is_not_read() -> None:
    rule = RULES["spend-spike"]
    installed = rule.render({"spike_factor": 5})
    installed["params"]["esqlQuery"]["esql"] = "FROM logs-openai.* | LIMIT 1"
    assert rule.parameters_in(installed) == {}
    budget = RULES["monthly-budget"].render()
    budget["params"]["threshold"] = ["a lot"]
    assert RULES["monthly-budget"].parameters_in(budget) == {}
    assert RULES["monthly-budget"].parameters_in({}) == {}


def test_reading_back_parses_integers_floats_and_exponents() -> None:
    rule = RuleAsset("x", "id", "", {"n": 3, "m": 1}, {"q": "a > ${n} AND b < ${m}"})
    assert rule.parameters_in({"q": "a > 12 AND b < 0.5"}) == {"n": 12, "m": 0.5}
    assert rule.parameters_in({"q": "a > 1e+20 AND b < -2"}) == {"n": 1e20, "m": -2}
    assert isinstance(rule.parameters_in({"q": "a > 12 AND b < 0.5"})["n"], int)


@pytest.mark.parametrize("slug", ["admin-key-created", "role-or-owner-change", "governance-change"])
def test_single_event_audit_rules_window_on_arrival(slug: str) -> None:
    """OpenAI can report an audit event hours after it happened (`@timestamp`): windowing on
    `event.ingested` (the audit streams' final pipeline) fires once it arrives."""
    params = rendered(slug)["params"]
    assert params["timeField"] == "event.ingested"
    assert (params["timeWindowSize"], params["timeWindowUnit"]) == (60, "m")
    filters = json.loads(params["esQuery"])["query"]["bool"]["filter"]
    assert not [f for f in filters if "range" in f]  # no second window on @timestamp


def test_other_rules_window_on_the_event_time() -> None:
    """Sums and bursts are about when things happened: they stay on `@timestamp`."""
    on_arrival = {"admin-key-created", "role-or-owner-change", "governance-change"}
    others = sorted(set(RULES) - on_arrival)
    assert len(others) == 12
    assert {rendered(slug)["params"]["timeField"] for slug in others} == {"@timestamp"}
