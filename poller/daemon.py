"""`run`: the daemon. One scheduled job per (org, stream), until SIGTERM or SIGINT.

Each job runs one cycle (`poller.collect.cycle`): the stream's source for "now", drained into
the sink with cursors committed per acknowledged batch, and its metrics recorded. Around the
jobs: the health server (/metrics, /healthz, /readyz behind the readiness gate), the systemd
watchdog and notifications. A stop request ends a job after its current batch and commit; the
process exits within `shutdown_timeout`.
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
from poller.errors import SinkUnavailableError
from poller.health import HealthServer, ReadinessGate
from poller.metrics import Metrics
from poller.runtime import check_sink, open_sink, org_runtime
from poller.scheduler import Job, build_scheduler, run_until_signal
from poller.settings import Settings, StreamConfig
from poller.sinks import Sink
from poller.sources import OrgAccess

__all__ = ["check_elasticsearch", "run_daemon"]

log = logging.getLogger(__name__)


def check_elasticsearch(settings: Settings) -> None:
    """Before the daemon starts: credentials Elasticsearch refuses, a failed TLS handshake or a
    server that is not Elasticsearch end it with one line (exit 1), since no cycle could ever
    succeed. An unreachable cluster does not: the daemon starts, stays unready, and every
    cycle tries again (a cluster restarting, or started after the poller)."""
    if settings.elasticsearch.url is None or not settings.orgs or not settings.orgs[0].streams:
        return
    org = settings.orgs[0]
    with open_sink(settings) as sink:
        try:
            check_sink(sink, org.name, org.streams[0])
        except SinkUnavailableError as exc:
            log.warning("%s; starting anyway, each cycle retries", exc)


@dataclass(frozen=True)
class _StreamJob:
    """One scheduled run of a stream's cycle, with its metrics."""

    access: OrgAccess
    stream: StreamConfig
    sink: Sink
    metrics: Metrics
    stop: threading.Event
    on_done: Callable[[], None]
    clock: Callable[[], float] = time.time

    def __call__(self) -> None:
        org, name, metrics, clock = self.access.org, self.stream.name, self.metrics, self.clock
        started = clock()
        try:
            result = cycle(
                self.access, self.stream, self.sink, now=int(started), stop=self.stop, clock=clock
            )
        finally:
            metrics.observe_cycle(org, name, clock() - started)
            self.on_done()
        if result.error is not None:
            metrics.mark_error(org, name, at=clock())
        elif result.report is not None:
            metrics.on_write(org, name, result.report.written)
            metrics.mark_success(org, name, at=clock())
            if result.report.state.position is not None:
                metrics.set_lag(org, name, clock() - result.report.state.position)


class _FirstCycles:
    """Opens the readiness gate once every stream has finished its first cycle."""

    def __init__(self, pending: set[tuple[str, str]], gate: ReadinessGate) -> None:
        self._pending = pending
        self._gate = gate
        self._lock = threading.Lock()

    def done(self, org: str, stream: str) -> Callable[[], None]:
        def finished() -> None:
            with self._lock:
                self._pending.discard((org, stream))
                if not self._pending:
                    self._gate.first_cycle_done()

        return finished


def run_daemon(settings: Settings) -> int:
    """Exit code 0 when every job finished within the shutdown timeout, else 1."""
    check_elasticsearch(settings)
    metrics = Metrics()
    stop = threading.Event()
    with ExitStack() as stack:
        sink = open_sink(settings)
        stack.callback(sink.close)
        gate = ReadinessGate(sink.probe)
        first = _FirstCycles({(o.name, s) for o in settings.orgs for s in o.streams}, gate)
        jobs: list[Job] = []
        for org in settings.orgs:
            rt = stack.enter_context(org_runtime(org, observer=metrics, stop=stop))
            for stream in org.stream_configs():
                metrics.declare(org.name, stream.name, stream.interval.total_seconds())
                job = _StreamJob(
                    rt.access, stream, sink, metrics, stop, first.done(org.name, stream.name)
                )
                jobs.append(Job(
                    id=f"{org.name}/{stream.name}",
                    func=job,
                    interval_seconds=stream.interval.total_seconds(),
                    jitter=settings.jitter.total_seconds(),
                ))
        scheduler = build_scheduler(jobs, stop)
        if settings.metrics.enabled:
            server = HealthServer(
                metrics.registry,
                host=settings.metrics.host,
                port=settings.metrics.port,
                live=lambda: bool(scheduler.running),
                ready=gate,
            )
            server.start()
            stack.callback(server.stop)
        watchdog = systemd.Watchdog(healthy=lambda: bool(scheduler.running))
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
