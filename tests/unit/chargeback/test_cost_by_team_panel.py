"""The Costs dashboard's "cost by team" panels read the allocated cents by team, only from the
allocated_costs stream, and the fields they read are mapped."""

from __future__ import annotations

import json

from poller.assets import load_assets
from tools.assets import field_uses

OBJECTS = load_assets().saved_objects
COSTS = next(o for o in OBJECTS if o["id"] == "openai-poller-costs")


def _panel(title: str) -> dict[str, object]:
    found = [p for p in json.loads(COSTS["attributes"]["panelsJSON"])
             if p["embeddableConfig"].get("attributes", {}).get("title") == title]
    assert len(found) == 1, title
    attributes: dict[str, object] = found[0]["embeddableConfig"]["attributes"]
    return attributes


def test_cost_by_team_sums_allocated_dollars_by_team_name() -> None:
    attributes = _panel("Billed cost by team (allocated)")
    state = attributes["state"]
    assert isinstance(state, dict)
    assert state["query"] == {"language": "kuery",
                              "query": "data_stream.dataset : \"openai.allocated_costs\""}
    (layer,) = state["datasourceStates"]["formBased"]["layers"].values()
    columns = {c["operationType"]: c for c in layer["columns"].values()}
    assert columns["terms"]["sourceField"] == "user.group.name"
    assert columns["terms"]["params"]["missingBucket"] is True  # usage of no team is shown
    assert columns["sum"]["sourceField"] == "openai.allocated_costs.amount_usd"


def test_the_team_panels_fields_are_read_as_the_mappings_type_them() -> None:
    used = {(u.where.split(" ")[1], u.path, u.use) for u in field_uses(OBJECTS, ())}
    assert {
        ("openai-poller-costs", "user.group.name", "terms"),
        ("openai-poller-costs", "openai.allocated_costs.amount_usd", "numeric"),
        ("openai-poller-costs", "openai.base.user_label", "terms"),
    } <= used
