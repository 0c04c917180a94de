"""Destinations besides the primary sink: Prometheus (scraped and remote write), OTLP metrics,
Splunk HEC and Loki.

This front holds what the settings and the pipeline need, and imports no backend: the
`Destination` contract, the `FanOut` the pipeline calls after the primary sink acknowledged a
batch and before the cursor moves, the settings models, and the pure parts every metric
destination shares (which numbers are counted, under which labels, and the ledger that tells a
revision from a repeat). The destinations themselves, and `build_fanout`, are in
`poller.destinations.backends`. Guarantees and wiring: docs/destinations.md.
"""

from poller.destinations._contract import Destination, FanOut, Route, StateStore
from poller.destinations._dimensions import DEFAULT_DIMENSIONS, DIMENSIONS, Labeler, Labels
from poller.destinations._ledger import Ledger, Retention, RevisableStream
from poller.destinations._metrics import USAGE_METRICS, UsageMetric, bucket_of, contribution
from poller.destinations._settings import (
    DEFAULT_SOURCETYPES,
    DeliveryRetry,
    Destinations,
    DestinationSettings,
    LokiSettings,
    OtlpSettings,
    PrometheusSettings,
    RemoteWriteSettings,
    SplunkHecSettings,
    name_of,
    streams_of,
)
from poller.destinations._tally import Delta, SeriesBook, SeriesLimit, Tally, tally

__all__ = [
    "DEFAULT_DIMENSIONS",
    "DEFAULT_SOURCETYPES",
    "DIMENSIONS",
    "USAGE_METRICS",
    "DeliveryRetry",
    "Delta",
    "Destination",
    "DestinationSettings",
    "Destinations",
    "FanOut",
    "Labeler",
    "Labels",
    "Ledger",
    "LokiSettings",
    "OtlpSettings",
    "PrometheusSettings",
    "RemoteWriteSettings",
    "Retention",
    "RevisableStream",
    "Route",
    "SeriesBook",
    "SeriesLimit",
    "SplunkHecSettings",
    "StateStore",
    "Tally",
    "UsageMetric",
    "bucket_of",
    "contribution",
    "name_of",
    "streams_of",
    "tally",
]
