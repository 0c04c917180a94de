"""Ids, versions and helpers every Kibana asset shares.

Time offsets (see kibana/README.md): usage documents carry the bucket START and are indexed only
once the bucket settled (grace 2 min) and the next poll (every 5 min) ran, so a 1-minute bucket
can arrive up to ~8.5 min after its start. The 5-minute usage rules therefore read bucket starts
in [now-15m, now-10m) (minute-aligned), never the last minutes that are still arriving.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any, Final

from poller.documents import all_stream_fields

DATA_VIEW_ID: Final = "openai-poller-logs-openai"
DATA_VIEW_TITLE: Final = "logs-openai.*"
AUDIT_SEARCH_ID: Final = "openai-poller-audit-log"
USAGE_DASHBOARD_ID: Final = "openai-poller-usage"
COSTS_DASHBOARD_ID: Final = "openai-poller-costs"
AUDIT_DASHBOARD_ID: Final = "openai-poller-audit"
NDJSON_NAME: Final = "openai-poller.ndjson"

# The oldest Kibana these objects are written for; newer Kibana migrates them forward.
CORE_MIGRATION_VERSION: Final = "8.8.0"
TYPE_MIGRATION_VERSION: Final = {
    "index-pattern": "8.0.0",
    "search": "8.0.0",
    "dashboard": "8.9.0",
}
PANEL_VERSION: Final = "8.9.0"

USAGE_OFFSET_MINUTES: Final = 10  # grace 2 min + poll 5 min + 1 min bucket + margin
AUDIT_OFFSET_MINUTES: Final = 15  # poll 5 min + overlap re-read 5 min + the API's own lag

# Data-view runtime fields: the display name where the directory knew it, else the id, so a
# chart split by project never drops (or lumps together) the documents without a name.
LABEL_FIELDS: Final = {
    "openai.base.project_label": ("openai.base.project_name", "openai.base.project_id"),
    "openai.base.user_label": ("openai.base.user_email", "openai.base.user_id"),
    "openai.base.api_key_label": ("openai.base.api_key_name", "openai.base.api_key_id"),
}
# The Elasticsearch type of every field a panel can read: mapped ones and the runtime labels.
FIELD_TYPES: Final = {
    **{spec.path: spec.type for specs in all_stream_fields().values() for spec in specs},
    **dict.fromkeys(LABEL_FIELDS, "keyword"),
}

NAV: Final = (
    f"[Usage](#/view/{USAGE_DASHBOARD_ID}) · [Costs](#/view/{COSTS_DASHBOARD_ID}) · "
    f"[Audit and security](#/view/{AUDIT_DASHBOARD_ID})"
)


def stable_id(*parts: str) -> str:
    """A deterministic id shaped as a UUID v4 (Kibana requires v1/v4 for predefined rule ids)."""
    digest = hashlib.sha256("/".join(("openai-poller", *parts)).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def dumps(value: Any) -> str:
    """Compact JSON, as Kibana stores nested JSON strings (panelsJSON, searchSourceJSON)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def kql_dataset(*streams: str) -> str:
    values = " or ".join(f'"openai.{s}"' for s in streams)
    return (
        f"data_stream.dataset : ({values})"
        if len(streams) > 1
        else f"data_stream.dataset : {values}"
    )
