"""One org's destinations, built from its settings, behind a `FanOut`."""

from __future__ import annotations

from collections.abc import Sequence

from poller.destinations._contract import Destination, FanOut, Route
from poller.destinations._settings import (
    DestinationSettings,
    LokiSettings,
    OtlpSettings,
    PrometheusSettings,
    RemoteWriteSettings,
    SplunkHecSettings,
    streams_of,
)
from poller.destinations.backends._context import DestinationContext
from poller.destinations.backends._loki import LokiDestination
from poller.destinations.backends._otlp import OtlpDestination
from poller.destinations.backends._prometheus import PrometheusDestination
from poller.destinations.backends._remote_write import RemoteWriteDestination
from poller.destinations.backends._splunk import SplunkHecDestination

__all__ = ["build_destination", "build_fanout"]


def build_destination(settings: DestinationSettings, context: DestinationContext) -> Destination:
    """The destination `settings` describe. Reads token files now: raises ValueError when one
    cannot be read."""
    match settings:
        case PrometheusSettings():
            return PrometheusDestination(settings, context)
        case RemoteWriteSettings():
            return RemoteWriteDestination(settings, context)
        case OtlpSettings():
            return OtlpDestination(settings, context)
        case LokiSettings():
            return LokiDestination(settings, context)
        case SplunkHecSettings():
            return SplunkHecDestination(settings, context)


def build_fanout(
    settings: Sequence[DestinationSettings], context: DestinationContext
) -> FanOut:
    """The org's destinations, each taking the streams its settings give."""
    return FanOut([Route(build_destination(s, context), streams_of(s)) for s in settings])
