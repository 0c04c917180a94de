"""Prometheus remote write 1.0: each bucket's increments as samples stamped with its start.

A series per metric and label set, named like the scraped counters without `_total`
(`openai_usage_input_tokens`, ...), is a gauge whose samples are *increments*: the value at a
bucket's start is what the bucket added. `sum_over_time(openai_usage_input_tokens[1d])` is
therefore the usage of that day, by bucket time, however late it was collected.

A receiver refuses a second, different value at a timestamp it holds, so no two samples share
one: the samples of a bucket lie in its first seconds, one second per stream (streams file
their own samples, and two may share a series: completions and embeddings of one project), and
a revision is one more sample a millisecond after the stream's last one for the bucket. The sum
over the bucket stays exact. A request whose answer never came is sent again as it was (the
push loop keeps it), with the same timestamps and values, which receivers take as the same
samples; what changed meanwhile goes as a revision after it. The number of samples sent per
series and bucket is kept in the stream's state for as long as it may be revised.
"""

from __future__ import annotations

from collections.abc import Sequence

import cramjam
from google.protobuf.message import Message

from poller.destinations._dimensions import Labels
from poller.destinations._metrics import USAGE_METRICS
from poller.destinations._settings import RemoteWriteSettings, name_of
from poller.destinations._tally import Tally
from poller.destinations.backends._context import Counting, DestinationContext
from poller.destinations.backends._http import authorization, courier, read_secret
from poller.destinations.backends._prompb import (
    GAUGE,
    Label,
    MetricMetadata,
    Sample,
    TimeSeries,
    write_request,
)
from poller.destinations.backends._pushing import PushLoop
from poller.documents.model import Document
from poller.streams import STREAM_NAMES

__all__ = ["RemoteWriteDestination", "encode_series"]

HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}


def snappy(data: bytes) -> bytes:
    """Snappy's block format, which remote write 1.0 uses (not the framed one)."""
    return bytes(cramjam.snappy.compress_raw(data))


def _samples(
    stream: str, counted: Tally, state: Counting, keep_after: float
) -> dict[Labels, list[Message]]:
    """The samples of `counted` by series (`__name__` first), stamped; the numbers sent so far
    are kept in `state.extra["sent"]` (series id, metric, bucket start → [samples sent, bucket
    end]) until the bucket ended before `keep_after`."""
    offset = STREAM_NAMES.index(stream) * 1000
    sent: dict[str, list[int]] = {
        key: value for key, value in state.extra.get("sent", {}).items() if value[1] >= keep_after
    }
    series: dict[Labels, list[tuple[int, float]]] = {}
    for delta in sorted(counted.deltas, key=lambda d: (d.series_id, d.metric.key, d.bucket.start)):
        key = f"{delta.series_id}/{delta.metric.key}/{delta.bucket.start}"
        number, _ = sent.get(key, (0, delta.bucket.end))
        sent[key] = [number + 1, delta.bucket.end]
        labels = (("__name__", delta.metric.name), *sorted(delta.labels))
        stamp = delta.bucket.start * 1000 + offset + number
        series.setdefault(labels, []).append((stamp, delta.value))
    state.extra["sent"] = sent
    return {
        labels: [Sample(value=value, timestamp=ts) for ts, value in sorted(points)]
        for labels, points in series.items()
    }


def encode_series(series: dict[Labels, list[Message]]) -> bytes:
    """The snappy-compressed `WriteRequest` of `series`, with each metric's metadata."""
    names = {value for labels in series for name, value in labels if name == "__name__"}
    request = write_request(
        timeseries=[
            TimeSeries(labels=[Label(name=k, value=v) for k, v in labels], samples=samples)
            for labels, samples in series.items()
        ],
        metadata=[
            MetricMetadata(type=GAUGE, metric_family_name=m.name, help=m.help, unit=m.unit)
            for m in USAGE_METRICS
            if m.name in names
        ],
    )
    return snappy(request.SerializeToString())


class RemoteWriteDestination:
    def __init__(self, settings: RemoteWriteSettings, context: DestinationContext) -> None:
        self.name = name_of(settings)
        self._url = settings.url
        token = read_secret(settings.token, settings.token_file)
        self._courier = courier(
            settings,
            f"remote write {self.name}",
            context,
            {**HEADERS, **authorization(token, settings.username, settings.password)},
        )
        self._context = context
        self._loop = PushLoop(context, self.name, settings)

    def deliver(self, documents: Sequence[Document]) -> None:
        self._loop.deliver(documents, self)

    def prepare(self, stream: str, counted: Tally, state: Counting) -> bytes:
        keep_after = self._context.clock() - self._context.retention.seconds(stream)
        return encode_series(_samples(stream, counted, state, keep_after))

    def post(self, body: bytes, documents: int) -> tuple[int, str]:
        response = self._courier.post(self._url, body, {})
        if response.is_success:
            return 0, ""
        return documents, f"HTTP {response.status_code}: {response.text[:200]}"

    def probe(self) -> bool:
        """An empty write request: every receiver accepts one."""
        return self._courier.answers(self._url, "POST", snappy(b""))

    def close(self) -> None:
        self._courier.close()
