"""`run`: the daemon. One scheduled job per (org, stream), until SIGTERM or SIGINT.

Each job runs one cycle (`poller.collect.cycle`): the stream's source for "now", drained into
the sink with cursors committed per acknowledged batch, and its metrics, health and failures
recorded. Around the jobs: the health server (/metrics; /healthz, alive while cycles keep
running; /readyz, ready while no cycle outcome says otherwise and the sink answers), the
systemd watchdog (pinged only while alive) and notifications. A stop request ends a job after
its current batch and commit; the process exits within `shutdown_timeout`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass

from poller import systemd
from poller.collect import cycle
from poller.destinations.backends import DestinationMetrics
from poller.errors import SinkUnavailableError
from poller.health import CycleHealth, HealthServer, ReadinessGate
from poller.leases import LeaseKeeper, LeaseLostError, open_ha
from poller.logs import FailureLog
from poller.metrics import Metrics
from poller.retention import pruning_jobs
from poller.runtime import check_sink, open_sink, org_destinations, org_runtime, templates_policy
from poller.scheduler import Job, build_scheduler, run_until_signal
from poller.settings import Settings, StreamConfig
from poller.sinks import Sink
from poller.sources import OrgAccess

__all__ = ["check_elasticsearch", "run_daemon", "stale_after"]

log = logging.getLogger(__name__)

# Liveness: no cycle started or finished for this many of the shortest interval, plus the
# grace, is a stalled scheduler (or every worker stuck), not a slow cycle.
STALE_INTERVALS = 3
STALE_GRACE_SECONDS = 300.0


def check_elasticsearch(settings: Settings) -> None:
    """Before the daemon starts: credentials Elasticsearch refuses, a failed TLS handshake, a
    server that is not Elasticsearch or missing index templates (`Templates`) end it with one
    line (exit 1), since no cycle could ever succeed. An unreachable cluster does not: the
    daemon starts, stays unready, and every cycle tries again (a cluster restarting, or
    started after the poller)."""
    if settings.elasticsearch.url is None or not settings.orgs or not settings.orgs[0].streams:
        return
    org = settings.orgs[0]
    with open_sink(settings) as sink:
        try:
            check_sink(sink, org.name, org.streams[0])
            templates_policy(settings).ensure(sink, {s for o in settings.orgs for s in o.streams})
        except SinkUnavailableError as exc:
            log.warning("%s; starting anyway, each cycle retries", exc)


@dataclass(frozen=True)
class _JobContext:
    """What every stream's job shares."""

    sink: Sink
    metrics: Metrics
    stop: threading.Event
    health: CycleHealth
    failures: FailureLog
    clock: Callable[[], float] = time.time
    leases: LeaseKeeper | None = None  # None: every org is ours (ha.enabled off)


@dataclass(frozen=True)
class _StreamJob:
    """One scheduled run of a stream's cycle, with its metrics, health and failure log.

    Every failed cycle counts, whatever failed: an exception the poller did not raise on
    purpose is this stream's failure too (counted, one log line), not the scheduler's.
    """

    access: OrgAccess
    stream: StreamConfig
    ctx: _JobContext

    def __call__(self) -> None:
        org, name, ctx = self.access.org, self.stream.name, self.ctx
        ctx.health.started()
        if ctx.leases is not None and ctx.leases.held(org) is None:
            # Another replica collects it (idle, healthy), unless no lease can be had because
            # the store cannot be reached: then this cycle failed, as it would without leases.
            failure = ctx.leases.failure
            ctx.health.finished(org, name, failure)
            if failure is not None:
                ctx.metrics.mark_error(org, name, at=ctx.clock())
                ctx.failures.failed(org, name, failure)
            return
        started = ctx.clock()
        error: BaseException | None = None
        report = None
        try:
            result = cycle(
                self.access, self.stream, ctx.sink, now=int(started), stop=ctx.stop, clock=ctx.clock
            )
            error, report = result.error, result.report
        except Exception as exc:  # counted and logged below: this cycle's failure
            log.debug("cycle %s/%s raised %s", org, name, type(exc).__name__, exc_info=True)
            error = exc
        finally:
            ctx.metrics.observe_cycle(org, name, ctx.clock() - started)
        if isinstance(error, LeaseLostError):
            log.info("cycle %s/%s ended: %s", org, name, error)
            error = None  # the org passed to another replica: a handoff, not a failure
            report = None
        ctx.health.finished(org, name, error)
        if error is not None:
            ctx.metrics.mark_error(org, name, at=ctx.clock())
            ctx.failures.failed(org, name, error)
        elif report is not None:
            ctx.failures.succeeded(org, name)
            ctx.metrics.on_write(org, name, report.written)
            ctx.metrics.mark_success(org, name, at=ctx.clock())
            if report.state.position is not None:
                ctx.metrics.set_lag(org, name, ctx.clock() - report.state.position)


def _readiness(health: CycleHealth, destinations: DestinationMetrics) -> Callable[[], str | None]:
    """The cycles' verdict and the destinations', both when both have one: a destination that
    did not acknowledge holds the cursors of its streams, even while the org's other streams
    succeed, and is named even when every stream fails on its account."""

    def ready() -> str | None:
        return "; ".join(filter(None, (health.readiness(), destinations.unready()))) or None

    return ready


def stale_after(settings: Settings) -> float:
    """Seconds without any cycle starting or finishing after which the daemon is not alive."""
    shortest = min(
        (s.interval.total_seconds() for o in settings.orgs for s in o.stream_configs()),
        default=0.0,
    )
    return STALE_INTERVALS * shortest + STALE_GRACE_SECONDS


def run_daemon(settings: Settings) -> int:
    """Exit code 0 when every job finished within the shutdown timeout, else 1. Raises
    `poller.health.MetricsPortError` when the metrics port cannot be bound."""
    check_elasticsearch(settings)
    metrics = Metrics()
    stop = threading.Event()
    with ExitStack() as stack:
        sink = open_sink(settings)
        stack.callback(sink.close)
        health = CycleHealth(
            {(o.name, s) for o in settings.orgs for s in o.streams},
            stale_after=stale_after(settings),
        )
        ha = stack.enter_context(open_ha(settings, sink, on_change=metrics.set_lease_held))
        ctx = _JobContext(sink if ha is None else ha.sink, metrics, stop, health, FailureLog(),
                          leases=None if ha is None else ha.keeper)
        jobs: list[Job] = []
        destination_metrics = DestinationMetrics(metrics.registry)
        for org in settings.orgs:
            rt = stack.enter_context(org_runtime(
                org, observer=metrics, stop=stop, neighbours=settings.neighbours(org.name)))
            rt = stack.enter_context(org_destinations(rt, ctx.sink, destination_metrics, stop))
            access = rt.access
            for stream in org.stream_configs():
                metrics.declare(org.name, stream.name, stream.interval.total_seconds())
                jobs.append(Job(
                    id=f"{org.name}/{stream.name}",
                    func=_StreamJob(access, stream, ctx),
                    interval_seconds=stream.interval.total_seconds(),
                    jitter=settings.jitter.total_seconds(),
                ))
        scheduler = build_scheduler([*jobs, *pruning_jobs(sink, settings.deadletter_retention)],
                                    stop)

        def live() -> str | None:
            return health.liveness() if scheduler.running else "the scheduler is not running"

        if settings.metrics.enabled:
            server = HealthServer(
                metrics.registry,
                host=settings.metrics.host,
                port=settings.metrics.port,
                live=live,
                ready=ReadinessGate(sink.probe, cycles=_readiness(health, destination_metrics)),
            )
            server.start()
            stack.callback(server.stop)
        watchdog = systemd.Watchdog(healthy=lambda: live() is None)
        watchdog.start()
        stack.callback(watchdog.stop)
        systemd.ready(f"polling {len(jobs)} streams")
        log.info("openai-poller running: %d jobs", len(jobs))
        clean = run_until_signal(
            scheduler,
            stop,
            on_stop=_stopping,
            timeout=settings.shutdown_timeout.total_seconds(),
        )
    return 0 if clean else 1


def _stopping() -> None:
    systemd.stopping()
