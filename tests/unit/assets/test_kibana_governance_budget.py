"""The governance and budget assets as shipped: the audit dashboard shows governance changes
(never baselines), the Costs dashboard's budget table runs the rules' own query, and the
governance rule watches changes of retention and model permissions only."""

from __future__ import annotations

import json
from typing import Any

from poller.assets import load_assets
from tools.assets.kibana._budget_rules import BUDGET_TABLE_ESQL, LIMIT_REACHED_ESQL
from tools.assets.kibana._governance import GOVERNANCE_SEARCH_ID

ASSETS = load_assets()
OBJECTS = {(o["type"], o["id"]): o for o in ASSETS.saved_objects}
RULES = {rule.slug: rule for rule in ASSETS.rules}


def panels(dashboard_id: str) -> list[dict[str, Any]]:
    dashboard = OBJECTS["dashboard", dashboard_id]
    return list(json.loads(dashboard["attributes"]["panelsJSON"]))


def _layers(panel: dict[str, Any], datasource: str) -> dict[str, Any]:
    states = panel["embeddableConfig"]["attributes"]["state"]["datasourceStates"]
    layers: dict[str, Any] = states.get(datasource, {}).get("layers", {})
    return layers


def test_the_audit_dashboard_shows_governance_changes_not_baselines() -> None:
    search = OBJECTS["search", GOVERNANCE_SEARCH_ID]["attributes"]
    query = json.loads(search["kibanaSavedObjectMeta"]["searchSourceJSON"])["query"]["query"]
    assert query == (
        'data_stream.dataset : "openai.governance" and event.kind : "event" '
        'and not openai.governance.change : "baseline"'
    )
    assert {"openai.governance.before.mode", "openai.governance.after.model_ids"} <= set(
        search["columns"]
    )
    audit = panels("openai-poller-audit")
    titles = [panel.get("title") for panel in audit]
    assert titles[-2:] == ["Governance changes by setting", "Governance changes"]
    table = audit[-2]["embeddableConfig"]["attributes"]["state"]
    assert table["query"]["query"] == query
    references = OBJECTS["dashboard", "openai-poller-audit"]["references"]
    assert {"type": "search", "id": GOVERNANCE_SEARCH_ID, "name": f"{audit[-1]['panelIndex']}:"
            f"panel_{audit[-1]['panelIndex']}"} in references


def test_the_budget_table_runs_the_rules_query_without_parameters() -> None:
    (table,) = [
        panel
        for panel in panels("openai-poller-costs")
        if panel["type"] == "lens"
        and _layers(panel, "textBased")
        and panel["embeddableConfig"]["attributes"]["visualizationType"] == "lnsDatatable"
    ]
    state = table["embeddableConfig"]["attributes"]["state"]
    assert state["query"] == {"esql": BUDGET_TABLE_ESQL}
    assert "${" not in BUDGET_TABLE_ESQL
    head = LIMIT_REACHED_ESQL.split("| EVAL limit_source")[0]
    assert BUDGET_TABLE_ESQL.startswith(head)  # the same days, spend and limits as the rules


def test_the_governance_rule_watches_retention_and_model_permission_changes() -> None:
    params = RULES["governance-change"].render()["params"]
    filters = json.loads(params["esQuery"])["query"]["bool"]["filter"]
    assert filters == [
        {"term": {"data_stream.dataset": "openai.governance"}},
        {"term": {"event.kind": "event"}},
        {"term": {"openai.governance.change": "changed"}},
        {"terms": {"openai.governance.setting": ["data_retention", "model_permissions"]}},
    ]
    assert (params["threshold"], params["thresholdComparator"]) == ([1], ">=")
    assert params["timeField"] == "event.ingested"


def test_the_spend_limit_rules_take_the_configured_budget() -> None:
    for slug in ("spend-limit-forecast", "spend-limit-reached"):
        rule = RULES[slug]
        assert dict(rule.parameters) == {"budget_usd": 1000}
        query = rule.render({"budget_usd": 2500})["params"]["esqlQuery"]["esql"]
        assert "TO_DOUBLE(2500)" in query
