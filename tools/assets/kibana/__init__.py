"""The Kibana assets: `openai-poller.ndjson` (saved objects) and `rules/*.json` (alerting rules).

Panels are declared compactly (`_usage`, `_costs`, `_audit`) and expanded to the saved-object
format of Kibana 8.x (`formBased` datasource, by-value panels) by `_lens`, `_columns` and
`_panels`; `build()` renders every file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from tools.assets.kibana._audit import audit_dashboard, audit_search
from tools.assets.kibana._budget_rules import budget_rules
from tools.assets.kibana._common import NDJSON_NAME, dumps
from tools.assets.kibana._costs import costs_dashboard
from tools.assets.kibana._data_view import data_view
from tools.assets.kibana._governance import governance_search
from tools.assets.kibana._governance_rule import governance_rule
from tools.assets.kibana._rules import rules
from tools.assets.kibana._usage import usage_dashboard

__all__ = ["NDJSON_NAME", "build", "rules", "saved_objects"]


def saved_objects() -> list[dict[str, Any]]:
    """In import order: what the others reference comes first."""
    return [
        data_view(),
        audit_search(),
        governance_search(),
        usage_dashboard(),
        costs_dashboard(),
        audit_dashboard(),
    ]


def _ndjson(objects: Sequence[Mapping[str, Any]]) -> str:
    return "".join(dumps(obj) + "\n" for obj in objects)


def build() -> dict[str, str]:
    """Every generated file under kibana/, by path relative to kibana/, with its text."""
    files = {NDJSON_NAME: _ndjson(saved_objects())}
    for rule in (*rules(), *budget_rules(), governance_rule()):
        files[f"rules/{rule.slug}.json"] = (
            json.dumps(rule.document(), indent=2, sort_keys=True) + "\n"
        )
    return files
