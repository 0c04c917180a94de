"""Governance: a saved search of the changes to retention, permissions and certificates, and
its panels on the audit and security dashboard (the rule is `_governance_rule`).

Change documents (`event.kind: event`) carry the value before and after; `baseline` ones only
record the first snapshot, so the panels leave them out.
"""

from __future__ import annotations

from typing import Any, Final

from tools.assets.kibana._columns import Metric, Terms, count
from tools.assets.kibana._common import kql_dataset
from tools.assets.kibana._lens import Lens
from tools.assets.kibana._panels import Panel, SearchPanel, saved_search

__all__ = ["FIELD", "GOVERNANCE_SEARCH_ID", "governance_panels", "governance_search"]

GOVERNANCE_SEARCH_ID: Final = "openai-poller-governance-changes"
_CHANGES: Final = (
    f"{kql_dataset('governance')} and event.kind : \"event\" "
    'and not openai.governance.change : "baseline"'
)
FIELD: Final = "openai.governance"


def governance_search() -> dict[str, Any]:
    columns = ["setting", "change", "project_name", "project_id", "certificate_id"]
    columns += ["changed_fields"]
    for side in ("before", "after"):
        columns += [f"{side}.{name}" for name in ("type", "mode", "model_ids", "enabled_tools")]
        columns.append(f"{side}.active")
    return saved_search(
        GOVERNANCE_SEARCH_ID,
        "[OpenAI poller] Governance changes",
        "Every change to data retention, model and hosted-tool permissions and certificates "
        "the governance snapshots found, with the value before and after, newest first "
        "(@timestamp: the snapshot that found it; previous_collected_at: the one before, which "
        "did not have it yet).",
        _CHANGES,
        [f"{FIELD}.{column}" for column in columns],
    )


def governance_panels() -> list[Panel]:
    return [
        Lens(
            "Governance changes by setting",
            "table",
            {
                "setting": Terms(f"{FIELD}.setting", "Setting", size=10, order_by="changes"),
                "change": Terms(f"{FIELD}.change", "Change", size=5, order_by="changes"),
                "project": Terms(
                    f"{FIELD}.project_name",
                    "Project",
                    size=20,
                    order_by="changes",
                    missing=True,
                ),
                "changes": count("Changes"),
                "last": Metric("max", "@timestamp", "Last found"),
            },
            kql=_CHANGES,
            description=(
                "Changes to data retention, model and hosted-tool permissions and certificates "
                "between two governance snapshots (every 6 hours by default)."
            ),
        ),
        SearchPanel("Governance changes", GOVERNANCE_SEARCH_ID),
    ]
