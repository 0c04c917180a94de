"""Stream settings for the source tests, every default spelled out."""

from __future__ import annotations

from datetime import timedelta

from poller.settings import StreamConfig
from poller.streams import BucketWidth, get_stream

H, D = 3600, 86400
T0 = 1_789_948_800  # a day boundary (2026-09-21T00:00:00Z)


def config(
    stream: str,
    *,
    width: BucketWidth = BucketWidth.HOUR,
    interval: int = 300,
    initial_interval: int = D,
    grace: int = 120,
    settlement_window: int = H,
    overlap: int = 0,
) -> StreamConfig:
    return StreamConfig(
        spec=get_stream(stream),
        bucket_width=width,
        group_by=(),
        interval=timedelta(seconds=interval),
        initial_interval=timedelta(seconds=initial_interval),
        settlement_grace=timedelta(seconds=grace),
        settlement_window=timedelta(seconds=settlement_window),
        overlap=timedelta(seconds=overlap),
    )
