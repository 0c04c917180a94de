"""The destinations themselves: what `poller.destinations` describes, speaking each protocol.

`build_fanout` builds one org's destinations from its settings; `DestinationMetrics` goes on
the daemon's Prometheus registry once, and serves the scraped usage counters too.
"""

from poller.destinations.backends._build import build_destination, build_fanout
from poller.destinations.backends._context import DestinationContext, state_key
from poller.destinations.backends._exposition import DestinationMetrics, UsageCollector
from poller.destinations.backends._loki import LokiDestination
from poller.destinations.backends._otlp import OtlpDestination
from poller.destinations.backends._prometheus import PrometheusDestination
from poller.destinations.backends._remote_write import RemoteWriteDestination
from poller.destinations.backends._splunk import SplunkHecDestination

__all__ = [
    "DestinationContext",
    "DestinationMetrics",
    "LokiDestination",
    "OtlpDestination",
    "PrometheusDestination",
    "RemoteWriteDestination",
    "SplunkHecDestination",
    "UsageCollector",
    "build_destination",
    "build_fanout",
    "state_key",
]
