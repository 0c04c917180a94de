"""Pure functions that turn API results into ECS documents with deterministic ids.

One mapper per kind of stream (`map_usage_result`, `map_costs_result`, `map_audit_log`,
`map_rate_limit`), all taking a `MappingContext`; `stream_fields` lists every field they can
write, with its Elasticsearch type, for the index templates.
"""

from poller.documents.audit import categorize, map_audit_log
from poller.documents.common import MappingContext, PriceEstimator
from poller.documents.costs import map_costs_result
from poller.documents.fields import FieldSpec, all_stream_fields, audit_payload_paths, stream_fields
from poller.documents.model import Document, Names
from poller.documents.rate_limits import map_rate_limit
from poller.documents.usage import map_usage_result

__all__ = [
    "Document",
    "FieldSpec",
    "MappingContext",
    "Names",
    "PriceEstimator",
    "all_stream_fields",
    "audit_payload_paths",
    "categorize",
    "map_audit_log",
    "map_costs_result",
    "map_rate_limit",
    "map_usage_result",
    "stream_fields",
]
