"""Builds the running parts from `Settings`: the sink, and per org a client, names and the
mapping context its sources share, and its destinations.

Commands (run, backfill, status, report, demo) share this wiring; what each of them collects is
planned by the sources (`poller.sources`), and the policy around it is in `poller.collect`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from poller.client import AdminClient, ClientObserver, RetryPolicy, Timeouts
from poller.destinations import Retention
from poller.destinations.backends import DestinationContext, DestinationMetrics, build_fanout
from poller.directory import DirectoryCache
from poller.documents import MappingContext
from poller.errors import ConfigError, SinkRejectedError, StopRequested
from poller.install import SetupOptions, duration_text, missing_templates, run_setup
from poller.pricing import load_price_table
from poller.settings import OrgSettings, Settings
from poller.sinks import ReadableSink, Sink, SqliteSink
from poller.sinks.elasticsearch import ElasticsearchSink, EsConnection, EsCredentials, EsIndices
from poller.sources import OrgAccess
from poller.state import state_key

log = logging.getLogger(__name__)

__all__ = [
    "OrgRuntime",
    "Templates",
    "check_sink",
    "interruptible_sleep",
    "open_elasticsearch",
    "open_sink",
    "org_destinations",
    "org_runtime",
    "retention_texts",
    "templates_policy",
]


def open_sink(settings: Settings, *, read_only: bool = False) -> ReadableSink:
    """Elasticsearch when `ELASTICSEARCH_URL` is set, else the embedded SQLite store;
    `read_only` opens the store without ever creating or changing it (`status`, `report`)."""
    if settings.elasticsearch.url is None:
        return SqliteSink(str(settings.store_path), read_only=read_only)
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
    fetched or written (a read never changes the sink). State the sink returned but that is
    not JSON is the stream's problem, reported when the stream runs, not the sink's."""
    with contextlib.suppress(ValueError):
        sink.load_state(state_key(org, stream))


@dataclass(frozen=True)
class Templates:
    """What `run` and `backfill` do before their first write into Elasticsearch when the index
    templates are missing: refuse (`install` None, the default), or install them with
    `install` (the `auto_setup` setting). Without them Elasticsearch would create the data
    streams from its generic `logs` template, with dynamic mappings only a rollover can
    replace; the embedded store needs nothing."""

    install: SetupOptions | None = None
    namespaces: tuple[str, ...] = ()

    def ensure(self, sink: Sink, streams: Collection[str]) -> None:
        """Raises SinkRejectedError when templates are missing and may not be installed;
        SinkUnavailableError / SinkRejectedError when the cluster cannot be read."""
        if not isinstance(sink, ElasticsearchSink) or not streams:
            return
        missing = missing_templates(sink.client, streams)
        if not missing:
            return
        if self.install is None:
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            raise SinkRejectedError(  # the first one and a count: `doctor` lists them all
                "run `openai-poller setup` first (or set POLLER_AUTO_SETUP=true): "
                f"Elasticsearch lacks {missing[0]}{more}"
            )
        log.warning("installing what Elasticsearch lacks (auto_setup): %s", ", ".join(missing))
        run_setup(es=sink.client, kibana_url=None, namespaces=self.namespaces or None,
                  options=self.install)


def templates_policy(settings: Settings) -> Templates:
    """The `Templates` of `settings`: `auto_setup` installs what `setup` would (without
    Kibana), with the same lifecycle and retention settings."""
    namespaces = tuple(sorted({org.namespace for org in settings.orgs}))
    if not settings.auto_setup:
        return Templates(namespaces=namespaces)
    options = SetupOptions(ilm=settings.setup.ilm, retention=retention_texts(settings))
    return Templates(options, namespaces)


def retention_texts(settings: Settings) -> dict[str, str]:
    """`setup.retention` as Elasticsearch writes durations, for `setup` and `auto_setup` alike
    (`doctor` compares the cluster against the same); a duration it cannot write is a
    ConfigError naming the setting."""
    retention = settings.setup.retention
    try:
        return {"metrics": duration_text(retention.metrics),
                "audit": duration_text(retention.audit)}
    except ValueError as exc:
        raise ConfigError(f"config: setup.retention: {exc}") from None


@dataclass(frozen=True)
class OrgRuntime:
    """One org's settings, names cache, and what its sources fetch and map with."""

    settings: OrgSettings
    names: DirectoryCache
    access: OrgAccess

    @property
    def client(self) -> AdminClient:
        return self.access.client

    def close(self) -> None:
        self.client.close()


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
    *,
    fail_fast: bool = False,
    neighbours: frozenset[str] = frozenset(),
) -> Iterator[OrgRuntime]:
    """`stop` ends retry waits early with `StopRequested`, so a SIGTERM is not held up by a
    long Retry-After. `fail_fast`: OpenAI unreachable on the first request is one error at
    once (backfill, doctor), not minutes of retries (the daemon keeps retrying).
    `neighbours`: `Settings.neighbours` of the org."""
    client = AdminClient(
        admin_key=org.admin_key,
        base_url=org.base_url,
        timeouts=Timeouts(request=org.request_timeout.total_seconds()),
        retry=RetryPolicy(
            max_attempts=org.retry.max_attempts,
            max_elapsed=org.retry.max_elapsed.total_seconds(),
            max_retry_after=org.retry.max_retry_after.total_seconds(),
            sleep=time.sleep if stop is None else interruptible_sleep(stop),
            fail_fast_first_connect=fail_fast,
        ),
        observer=observer,
    )
    names = DirectoryCache(client, ttl=org.directory_ttl.total_seconds(), clock=time.monotonic)
    context = MappingContext(
        organization_id=org.organization_id or org.name,
        organization_name=org.name,
        namespace=org.namespace,
        price_table=load_price_table(),
    )
    runtime = OrgRuntime(org, names, OrgAccess(
        org.name, client, context, names, neighbours=neighbours))
    try:
        yield runtime
    finally:
        runtime.close()


@contextmanager
def org_destinations(
    rt: OrgRuntime, sink: Sink, metrics: DestinationMetrics, stop: threading.Event
) -> Iterator[OrgRuntime]:
    """`rt` delivering to its org's destinations, built once for all its streams, after `sink`
    acknowledged a batch and before its cursor moves (`run` and `backfill` alike); `rt` itself
    without any. Their ledgers live in `sink`'s state store; `stop` ends their retry waits
    (`StopRequested`). A token file that cannot be read is a ConfigError, before anything is
    fetched."""
    org = rt.settings
    if not org.destinations:
        yield rt
        return
    context = DestinationContext(
        org.name, sink, metrics, retention=Retention.for_streams(org.stream_configs()),
        sleep=interruptible_sleep(stop),
    )
    try:
        fanout = build_fanout(org.destinations, context)
    except ValueError as exc:
        raise ConfigError(f"org {org.name}: a destination cannot start: {exc}") from None
    try:
        yield replace(rt, access=replace(rt.access, destinations=fanout))
    finally:
        fanout.close()
