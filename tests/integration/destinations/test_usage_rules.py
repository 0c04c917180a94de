"""deploy/prometheus/openai-usage-rules.yaml: the mixin's names, rules over counters the poller
serves, and a promtool test for every alert; openai-destination-rules.yaml likewise over the
metrics about destinations (`tool(...)`: skipped where promtool is missing,
but not in CI)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml
from needs import tool
from prometheus_client import CollectorRegistry

from poller.destinations import USAGE_METRICS
from poller.destinations.backends import DestinationMetrics

PROMETHEUS = Path(__file__).resolve().parents[3] / "deploy" / "prometheus"
RULES = PROMETHEUS / "openai-usage-rules.yaml"
TESTS = sorted(PROMETHEUS.glob("openai-usage-rules*.test.yaml"))
MIXIN = {"HighCompletionTokensUsage", "HighPromptTokensUsage", "HighTotalTokensUsage",
         "HighUsageCost"}


def _rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_the_mixin_series_and_alerts_are_there() -> None:
    rules = _rules()
    recorded = {rule["record"] for rule in rules if "record" in rule}
    assert {"openai_completionTokens", "openai_promptTokens", "openai_totalTokens",
            "openai_usageCost"} <= recorded
    alerts = {rule["alert"] for rule in rules if "alert" in rule}
    assert alerts >= MIXIN
    assert "LongRequestDuration" not in alerts  # no latency in the admin APIs
    for rule in rules:
        if "alert" in rule:
            assert rule["labels"]["severity"] in {"critical", "warning"}
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_rules_read_only_counters_the_poller_serves() -> None:
    served = {f"{m.name}_total" for m in USAGE_METRICS}
    recorded = {rule["record"] for rule in _rules() if "record" in rule}
    for rule in _rules():
        names = {n for n in re.findall(r"[A-Za-z_:][\w:]*", rule["expr"]) if "openai" in n}
        assert names <= served | recorded, names - served - recorded


def test_every_alert_has_a_promtool_test() -> None:
    tested = {
        case["alertname"]
        for path in TESTS
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]
        for case in group.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert tested == {rule["alert"] for rule in _rules() if "alert" in rule}


@tool("promtool")
def test_promtool_checks_and_unit_tests_the_rules() -> None:
    for command in (["check", "rules", RULES.name], ["test", "rules", *(p.name for p in TESTS)]):
        result = subprocess.run(
            ["promtool", *command],
            cwd=PROMETHEUS,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


DESTINATION_RULES = PROMETHEUS / "openai-destination-rules.yaml"
DESTINATION_TESTS = PROMETHEUS / "openai-destination-rules.test.yaml"


def test_destination_rules_read_metrics_the_destinations_export() -> None:
    registry = CollectorRegistry()
    DestinationMetrics(registry).reporter("acme", "loki", counting=True).delivered(False)
    exported = {sample.name for family in registry.collect() for sample in family.samples}
    doc = yaml.safe_load(DESTINATION_RULES.read_text(encoding="utf-8"))
    rules = [rule for group in doc["groups"] for rule in group["rules"]]
    tests = yaml.safe_load(DESTINATION_TESTS.read_text(encoding="utf-8"))["tests"]
    tested = {case["alertname"] for group in tests for case in group["alert_rule_test"]
              if case.get("exp_alerts")}
    assert tested == {rule["alert"] for rule in rules}
    for rule in rules:
        names = {n for n in re.findall(r"[A-Za-z_:][\w:]*", rule["expr"]) if "openai" in n}
        assert names and names <= exported, names - exported


@tool("promtool")
def test_promtool_checks_and_unit_tests_the_destination_rules() -> None:
    for command in (["check", "rules", DESTINATION_RULES.name],
                    ["test", "rules", DESTINATION_TESTS.name]):
        result = subprocess.run(
            ["promtool", *command], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
