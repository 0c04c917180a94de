"""The Elasticsearch sink: documents into data streams exactly once in effect, cursor state and
dead letters in plain indices beside them.

Options are values (`EsConnection`, `EsIndices`, `EsWriteOptions`, `ItemRetry`), each checking
itself with ValueError. `ClusterDiagnostics` answers `doctor`; `ErrorTranslator`,
`describe_error` and `redact_url` let other code that talks to the cluster (setup) report
errors as the sink does; `Compat8Transport` serves clients outside the sink (tests, benchmarks).
"""

from poller.sinks.elasticsearch._connection import Cluster
from poller.sinks.elasticsearch._diagnostics import ClusterDiagnostics, ClusterInfo, PrivilegeCheck
from poller.sinks.elasticsearch._errors import ErrorTranslator, describe_error, redact_url
from poller.sinks.elasticsearch._leases import StateCells
from poller.sinks.elasticsearch._options import (
    EsConnection,
    EsCredentials,
    EsIndices,
    EsWriteOptions,
    worst_case_seconds,
)
from poller.sinks.elasticsearch._reader import ElasticsearchReader
from poller.sinks.elasticsearch._retry import Backoff, ItemRetry
from poller.sinks.elasticsearch._sink import ElasticsearchSink
from poller.sinks.elasticsearch._transport import Compat8Transport

__all__ = [
    "Backoff",
    "Cluster",
    "ClusterDiagnostics",
    "ClusterInfo",
    "Compat8Transport",
    "ElasticsearchReader",
    "ElasticsearchSink",
    "ErrorTranslator",
    "EsConnection",
    "EsCredentials",
    "EsIndices",
    "EsWriteOptions",
    "ItemRetry",
    "PrivilegeCheck",
    "StateCells",
    "describe_error",
    "redact_url",
    "worst_case_seconds",
]
