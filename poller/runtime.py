"""Builds the running parts from `Settings`: the sink, and per org a client, names and sources.

Commands (run, backfill, status, report, demo) share this wiring, so each of them is a few lines
of policy on top of the same objects.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from poller.client.api import AdminClient
from poller.client.observer import ClientObserver
from poller.coverage import Coverage, Segment, align_down
from poller.directory import DirectoryCache
from poller.documents import MappingContext
from poller.errors import ConfigError, StopRequested
from poller.pipeline import Batch, Source
from poller.pricing import load_price_table
from poller.settings import OrgSettings, Settings, StreamConfig
from poller.sinks import ReadableSink, Sink, SqliteSink
from poller.sinks.elasticsearch import ElasticsearchSink, EsConnection, EsCredentials, EsIndices
from poller.sources.audit import AuditSource, AuditWindow
from poller.sources.buckets import BucketSource
from poller.sources.plans import backfill_segments, cycle_segments
from poller.sources.rate_limits import RateLimitSource
from poller.state import StreamState, state_key
from poller.streams import BucketWidth, StreamKind

__all__ = ["OrgRuntime", "check_sink", "open_elasticsearch", "open_sink", "org_runtime"]


def open_sink(settings: Settings) -> ReadableSink:
    """Elasticsearch when `ELASTICSEARCH_URL` is set, else the embedded SQLite store."""
    if settings.elasticsearch.url is None:
        return SqliteSink(str(settings.store_path))
    return open_elasticsearch(settings)


def open_elasticsearch(settings: Settings) -> ElasticsearchSink:
    """The Elasticsearch sink of `settings`, for the commands that need the cluster itself
    (`setup`, `doctor`). A value the settings let through but the client refuses (a URL it
    cannot parse) is a ConfigError like any other bad setting; no request is sent yet."""
    es = settings.elasticsearch
    if es.url is None:
        raise ConfigError("no Elasticsearch URL configured (ELASTICSEARCH_URL)")
    try:
        credentials = EsCredentials(
            api_key=es.api_key.get_secret_value() if es.api_key else None,
            username=es.username,
            password=es.password.get_secret_value() if es.password else None,
        )
        connection = EsConnection(
            es.url,
            credentials=credentials,
            ca_certs=str(es.ca_certs) if es.ca_certs else None,
            timeout=es.timeout.total_seconds(),
        )
        indices = EsIndices(state=es.state_index, deadletter=es.deadletter_index)
        return ElasticsearchSink(connection, indices=indices)
    except ValueError as exc:
        raise ConfigError(f"invalid Elasticsearch settings: {exc}") from None


def check_sink(sink: Sink, org: str, stream: str) -> None:
    """Read one cursor: a sink that is unreachable, refuses the credentials or the TLS
    handshake, or cannot be read, fails here with its one-line error, before anything is
    fetched or written (a read never changes the sink)."""
    sink.load_state(state_key(org, stream))


@dataclass
class OrgRuntime:
    """One org's client, names and mapping context; makes the sources of its streams."""

    settings: OrgSettings
    client: AdminClient
    names: DirectoryCache
    context: MappingContext

    def close(self) -> None:
        self.client.close()

    def cycle_source(self, stream: StreamConfig, now: int) -> Source:
        """What one daemon cycle of `stream` fetches."""
        kind = stream.spec.kind
        if kind is StreamKind.AUDIT:
            # The first window reaches back `initial_interval`; later ones overlap the mark.
            return _CycleAudit(self, stream, now)
        if kind is StreamKind.RATE_LIMITS:
            slot = align_down(now, BucketWidth.MINUTE)
            slot -= slot % int(stream.interval.total_seconds())
            return RateLimitSource(self.settings.name, self.client, self.context, slot)

        def plan(coverage: Coverage) -> list[Segment]:
            return cycle_segments(
                coverage,
                now=now,
                width=stream.bucket_width,
                initial_interval=_seconds(stream.initial_interval),
                grace=_seconds(stream.settlement_grace),
                settlement_window=_seconds(stream.settlement_window),
            )

        return BucketSource(
            self.settings.name, stream.name, self.client, self.context, plan, stream.group_by
        )

    def backfill_source(
        self, stream: StreamConfig, *, since: int, until: int, width: BucketWidth | None, now: int
    ) -> Source:
        """What `backfill --since --until` fetches for `stream`."""
        kind = stream.spec.kind
        if kind is StreamKind.AUDIT:
            window = AuditWindow(since, min(until, now), move_high_water=False)
            return AuditSource(self.settings.name, self.client, self.context, window)
        if kind is StreamKind.RATE_LIMITS:  # a snapshot stream: one snapshot now
            return self.cycle_source(stream, now)
        chosen = BucketWidth.DAY if kind is StreamKind.COSTS else width

        def plan(coverage: Coverage) -> list[Segment]:
            # Re-read what may still be revised: the window before now, and the window before
            # the newest collected bucket (which may be older than now when the daemon is off).
            newest = min(now, coverage.end if coverage.end is not None else now)
            return backfill_segments(
                coverage,
                since=since,
                until=until,
                now=now,
                grace=_seconds(stream.settlement_grace),
                width=chosen,
                reread_from=newest - _seconds(stream.settlement_window),
            )

        return BucketSource(
            self.settings.name, stream.name, self.client, self.context, plan, stream.group_by
        )


@dataclass(frozen=True)
class _CycleAudit:
    """An audit source whose window depends on the saved high-water mark."""

    runtime: OrgRuntime
    config: StreamConfig
    now: int
    stream: str = "audit"

    @property
    def org(self) -> str:
        return self.runtime.settings.name

    def batches(self, state: StreamState) -> Iterator[Batch]:
        if state.high_water is None:
            start = self.now - _seconds(self.config.initial_interval)
        else:
            start = state.high_water - _seconds(self.config.overlap)
        window = AuditWindow(start, self.now)
        source = AuditSource(self.org, self.runtime.client, self.runtime.context, window)
        return source.batches(state)


def _seconds(value: timedelta) -> int:
    return int(value.total_seconds())


def interruptible_sleep(stop: threading.Event) -> Callable[[float], None]:
    """A sleep that raises `StopRequested` as soon as `stop` is set."""

    def sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise StopRequested("stopped while waiting to retry")

    return sleep


@contextmanager
def org_runtime(
    org: OrgSettings,
    observer: ClientObserver | None = None,
    stop: threading.Event | None = None,
) -> Iterator[OrgRuntime]:
    """`stop` ends retry waits early with `StopRequested`, so a SIGTERM is not held up by a
    long Retry-After."""
    client = AdminClient(
        admin_key=org.admin_key,
        base_url=org.base_url,
        timeout=org.request_timeout.total_seconds(),
        max_attempts=org.retry.max_attempts,
        max_elapsed=org.retry.max_elapsed.total_seconds(),
        max_retry_after=org.retry.max_retry_after.total_seconds(),
        observer=observer,
        sleep=time.sleep if stop is None else interruptible_sleep(stop),
    )
    names = DirectoryCache(client, ttl=org.directory_ttl.total_seconds(), clock=time.monotonic)
    context = MappingContext(
        organization_id=org.organization_id or org.name,
        organization_name=org.name,
        namespace=org.namespace,
        names=names,
        price_table=load_price_table(),
    )
    runtime = OrgRuntime(org, client, names, context)
    try:
        yield runtime
    finally:
        runtime.close()
