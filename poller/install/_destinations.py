"""What each destination needs on the receiving side, and the files for it, for `setup`.

The files are read and reviewed where they live, `deploy/prometheus/` and `deploy/splunk/`;
setuptools ships only files inside a package, so the asset generator copies them to
`poller/_assets/destinations/` (`python -m tools.assets`; its check fails on a stale copy).
`setup` prints, for the destination types the orgs configure, which files to install where
and what else the receiver needs, and writes the files into a directory when asked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Final, Literal

__all__ = [
    "DESTINATION_ASSETS",
    "DestinationAsset",
    "destination_notes",
    "write_destination_asset",
]

_ALL: Final = frozenset({"prometheus", "remote_write", "otlp", "loki", "splunk_hec"})


@dataclass(frozen=True)
class DestinationAsset:
    """A packaged file, what it is, where it goes, and which destination types need it."""

    file: str
    source: str  # its canonical place in the repository
    what: str
    where: str
    types: frozenset[str]

    def text(self) -> bytes:
        return (files("poller") / "_assets" / "destinations" / self.file).read_bytes()


DESTINATION_ASSETS: Final = (
    DestinationAsset(
        "openai-usage-rules.yaml", "deploy/prometheus/openai-usage-rules.yaml",
        "Prometheus recording and alerting rules over the scraped usage and cost counters: "
        "the Grafana OpenAI mixin's series and alerts, daily and monthly budgets, spikes",
        "set its two budgets, then list it under rule_files in prometheus.yml (or put its "
        "groups in a PrometheusRule's spec.groups)",
        frozenset({"prometheus"}),
    ),
    DestinationAsset(
        "openai-destination-rules.yaml", "deploy/prometheus/openai-destination-rules.yaml",
        "Prometheus alerts on the destinations: one not acknowledging, data refused for good, "
        "series at max_series",
        "list it under rule_files of the Prometheus that scrapes the poller's /metrics",
        _ALL,
    ),
    DestinationAsset(
        "openai-poller-dashboard.json", "deploy/splunk/openai-poller-dashboard.json",
        "Splunk Dashboard Studio definition: usage, estimated and billed cost, audit log",
        "Splunk Web: Dashboards, Create New Dashboard, Dashboard Studio; in the source view "
        "replace everything with this file, Save (deploy/splunk/README.md)",
        frozenset({"splunk_hec"}),
    ),
    DestinationAsset(
        "props.conf", "deploy/splunk/props.conf",
        "search-time JSON extraction for the openai:* sourcetypes",
        "$SPLUNK_HOME/etc/apps/openai_poller/local/props.conf on the search heads, then "
        "reload them",
        frozenset({"splunk_hec"}),
    ),
)

# What a receiver needs besides files, by destination type (docs/destinations.md).
_NOTES: Final = {
    "prometheus": "scrape the daemon's /metrics (metrics.port) with a job named openai-poller",
    "remote_write": "the receiver must take out-of-order samples: Prometheus "
    "--web.enable-remote-write-receiver and storage.tsdb.out_of_order_time_window of 2h (4d "
    "with costs); Mimir -ingester.out-of-order-time-window; Thanos Receive "
    "--tsdb.out-of-order.time-window",
    "otlp": "nothing to install; the receiver must add delta sums (an OpenTelemetry "
    "Collector's deltatocumulative processor, or a delta-aware backend)",
    "loki": "nothing to install; query the lines with {org=\"<org>\"} | json",
    "splunk_hec": "an index, and a HEC token allowed to write to it (with indexer "
    "acknowledgment on when the destination says ack: true)",
}


def destination_notes(types: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(type, what its receiver needs), for each of `types`, in a fixed order."""
    wanted = set(types)
    for kind, note in _NOTES.items():
        if kind in wanted:
            yield kind, note


def write_destination_asset(
    asset: DestinationAsset, directory: Path, *, dry_run: bool
) -> Literal["created", "updated", "unchanged"]:
    """Write the asset into `directory` (created if missing) unless it already holds it; a
    dry run only tells. Raises OSError when the directory or file cannot be written."""
    target = directory / asset.file
    content = asset.text()
    if target.exists():
        if target.read_bytes() == content:
            return "unchanged"
        outcome: Literal["created", "updated"] = "updated"
    else:
        outcome = "created"
    if not dry_run:
        directory.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return outcome
