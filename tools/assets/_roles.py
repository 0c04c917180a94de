"""The Elasticsearch roles openai-poller needs: a writer for `run` and `backfill`, and one for
`setup`. Bodies of `PUT _security/role/<name>` and, as they are, of an API key's
`role_descriptors`; docs/elasticsearch-privileges.md shows them and explains each privilege.

Least privilege, from what the code does: audit documents are only ever created (`create_doc`);
usage, costs and rate limits are revised in place (`index`, into the backing index that holds
them); the sink's own indices are created on first write and written with `index`, never
deleted. `setup` also reads the data streams, because Kibana runs each rule with an API key of
whoever saved it last.
"""

from __future__ import annotations

from typing import Any, Final

from poller.assets import PREFIX
from poller.defaults import DEFAULT_DEADLETTER_INDEX, DEFAULT_STATE_INDEX
from poller.streams import STREAM_NAMES, StreamKind, get_stream

__all__ = ["KIBANA_FEATURES", "roles"]

WRITER: Final = f"{PREFIX}-writer"
SETUP: Final = f"{PREFIX}-setup"
# Kibana 8.x feature privileges (Kibana 9 maps them to their `_v2` successors).
KIBANA_FEATURES: Final = (
    "feature_actions.read",  # keep the connectors attached to a rule when updating it
    "feature_dashboard.all",
    "feature_discover.all",  # the audit log search
    "feature_indexPatterns.all",  # the data view
    "feature_savedObjectsManagement.all",  # the import API
    "feature_stackAlerts.all",  # `.es-query` rules, consumer stackAlerts
)
_READ: Final = ("read", "view_index_metadata")


def _data_streams(*, audit: bool) -> list[str]:
    return [
        f"logs-openai.{name}-*"
        for name in STREAM_NAMES
        if (get_stream(name).kind is StreamKind.AUDIT) == audit
    ]


def _writer() -> dict[str, Any]:
    return {
        "cluster": ["monitor"],
        "indices": [
            {  # `maintenance`: a backfill ends with a refresh, so a report right after it reads
                # what it wrote
                "names": _data_streams(audit=True),
                "privileges": sorted(["auto_configure", "create_doc", "maintenance", *_READ]),
            },
            {
                "names": _data_streams(audit=False),
                "privileges": sorted(
                    ["auto_configure", "create_doc", "index", "maintenance", *_READ]
                ),
            },
            {
                "names": [DEFAULT_STATE_INDEX],
                "privileges": sorted(["create_index", "index", *_READ]),
            },
            {  # `delete`: dead letters past `deadletter_retention` are pruned (delete_by_query)
                "names": [DEFAULT_DEADLETTER_INDEX],
                "privileges": sorted(["create_index", "delete", "index", *_READ]),
            },
        ],
        "metadata": {"managed_by": PREFIX, "for": "openai-poller run and backfill"},
    }


def _setup() -> dict[str, Any]:
    return {
        "cluster": ["manage_ilm", "manage_index_templates", "manage_ingest_pipelines", "monitor"],
        "indices": [{"names": ["logs-openai.*"], "privileges": sorted(["manage", *_READ])}],
        "applications": [
            {
                "application": "kibana-.kibana",
                "privileges": list(KIBANA_FEATURES),
                "resources": ["space:default"],
            }
        ],
        "metadata": {"managed_by": PREFIX, "for": "openai-poller setup"},
    }


def roles() -> dict[str, dict[str, Any]]:
    """Role name → body."""
    return {WRITER: _writer(), SETUP: _setup()}
