"""Pure functions that turn the client's typed API objects into ECS documents with
deterministic ids.

One mapper per kind of stream (`map_usage_result`, `map_costs_result`, `map_audit_log`,
`map_rate_limit`), all taking a `MappingContext`; per page (`map_usage_page`, `map_audit_page`,
`map_rate_limit_page`) they return the page's documents and, as `Rejected` entries built by
`rejected`, the items no document can be built from. `stream_fields` lists every field the
mappers can write, with its Elasticsearch type, for the index templates.
"""

from poller.documents.audit import categorize, event_action, map_audit_log
from poller.documents.common import MappingContext, PriceEstimator
from poller.documents.costs import map_costs_result
from poller.documents.fields import (
    FieldSpec,
    all_stream_fields,
    audit_payload_paths,
    mapped_only_fields,
    stream_fields,
)
from poller.documents.model import Document, Names, Rejected
from poller.documents.pages import Mapped, map_audit_page, map_rate_limit_page, map_usage_page
from poller.documents.rate_limits import map_rate_limit
from poller.documents.rejected import rejected
from poller.documents.usage import map_usage_result

__all__ = [
    "Document",
    "FieldSpec",
    "Mapped",
    "MappingContext",
    "Names",
    "PriceEstimator",
    "Rejected",
    "all_stream_fields",
    "audit_payload_paths",
    "categorize",
    "event_action",
    "map_audit_log",
    "map_audit_page",
    "map_costs_result",
    "map_rate_limit",
    "map_rate_limit_page",
    "map_usage_page",
    "map_usage_result",
    "mapped_only_fields",
    "rejected",
    "stream_fields",
]
