"""deploy/prometheus/: the alert rules read metrics the poller exports, and promtool accepts them
and passes their unit tests (`tool(...)`: skipped where promtool is missing, but not in CI)."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest
from deploy_files import DEPLOY, yaml_docs
from needs import tool

from poller.metrics import Metrics
from poller.sinks import WriteReport

RULES = DEPLOY / "prometheus" / "openai-poller-rules.yaml"
RULE_TESTS = DEPLOY / "prometheus" / "openai-poller-rules.test.yaml"

EXPECTED_ALERTS = {
    "OpenAIPollerDown",
    "OpenAIPollerCursorStalled",
    "OpenAIPollerNeverSucceeded",
    "OpenAIPollerErrorsRising",
    "OpenAIPollerDeadLetters",
    "OpenAIPollerLagGrowing",
    "OpenAIPollerRateLimited",
}


def _exported_metric_names() -> set[str]:
    metrics = Metrics()
    metrics.declare("acme", "costs", 3600)
    metrics.on_response("/organization/costs", 429)
    metrics.on_retry("/organization/costs", "429", 1.0)
    metrics.on_write("acme", "costs", WriteReport(created=1))
    metrics.set_lag("acme", "costs", 1.0)
    metrics.mark_success("acme", "costs")
    metrics.mark_error("acme", "costs")
    metrics.observe_cycle("acme", "costs", 1.0)
    return {sample.name for family in metrics.registry.collect() for sample in family.samples}


def _rules() -> list[dict[str, Any]]:
    (doc,) = yaml_docs(RULES)
    (group,) = doc["groups"]
    assert group["name"] == "openai-poller"
    return list(group["rules"])


def test_rules_define_the_expected_alerts() -> None:
    rules = _rules()
    assert {rule["alert"] for rule in rules} == EXPECTED_ALERTS
    for rule in rules:
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["description"]


@pytest.mark.parametrize("rule", _rules(), ids=lambda rule: rule["alert"])
def test_rule_expressions_are_promql_shaped(rule: dict[str, Any]) -> None:
    expr = rule["expr"]
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    for char in re.sub(r'"[^"]*"', '""', expr):  # brackets inside label values do not count
        if char in "([{":
            stack.append(char)
        elif char in pairs:
            assert stack and stack.pop() == pairs[char], expr
    assert not stack, expr
    for window in re.findall(r"\[([^\]]+)\]", expr):
        assert re.fullmatch(r"\d+[smhd]", window), expr
    # Every poller metric an alert reads is one the poller exports.
    referenced = set(re.findall(r"\bopenai_poller_[a-z_]+", expr))
    assert referenced <= _exported_metric_names(), referenced - _exported_metric_names()


@tool("promtool")
def test_promtool_checks_and_unit_tests_the_rules() -> None:
    for command in (["check", "rules", RULES.name], ["test", "rules", RULE_TESTS.name]):
        result = subprocess.run(
            ["promtool", *command],
            cwd=RULES.parent,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
