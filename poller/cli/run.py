"""`run`: the daemon. One scheduled job per (org, stream), until SIGTERM or SIGINT.

Each job runs one cycle: build the stream's source for "now", drain it into the sink with
cursors committed per acknowledged batch, and record metrics. A stop request ends a job after
its current batch and commit; the process exits within `shutdown_timeout`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack

from poller import systemd
from poller.errors import PollerError, StopRequested
from poller.health import HealthServer, ReadinessGate
from poller.metrics import Metrics
from poller.pipeline import run_source
from poller.runtime import OrgRuntime, open_sink, org_runtime
from poller.scheduler import Job, build_scheduler, run_until_signal
from poller.settings import Settings, StreamConfig
from poller.sinks import Sink

__all__ = ["run_daemon"]

log = logging.getLogger(__name__)


def _cycle(
    rt: OrgRuntime,
    *,
    stream: StreamConfig,
    sink: Sink,
    metrics: Metrics,
    stop: threading.Event,
    on_done: Callable[[], None],
) -> Callable[[], None]:
    org = rt.settings.name

    def job() -> None:
        started = time.time()
        try:
            report = run_source(rt.cycle_source(stream, int(started)), sink, stop=stop)
        except StopRequested:
            log.info("cycle %s/%s stopped while waiting to retry", org, stream.name)
            return
        except PollerError as exc:
            metrics.mark_error(org, stream.name)
            log.error("cycle %s/%s failed: %s", org, stream.name, exc)
            return
        finally:
            metrics.observe_cycle(org, stream.name, time.time() - started)
            on_done()
        metrics.on_write(org, stream.name, report.written)
        metrics.mark_success(org, stream.name)
        if report.state.position is not None:
            metrics.set_lag(org, stream.name, time.time() - report.state.position)

    return job


def run_daemon(settings: Settings) -> int:
    metrics = Metrics()
    stop = threading.Event()
    with ExitStack() as stack:
        sink = open_sink(settings)
        stack.callback(sink.close)
        gate = ReadinessGate(sink.probe)
        jobs: list[Job] = []
        pending = {(o.name, s) for o in settings.orgs for s in o.streams}
        lock = threading.Lock()
        for org in settings.orgs:
            rt = stack.enter_context(org_runtime(org, observer=metrics, stop=stop))
            for stream in org.stream_configs():
                metrics.declare(org.name, stream.name, stream.interval.total_seconds())

                def done(key: tuple[str, str] = (org.name, stream.name)) -> None:
                    with lock:
                        pending.discard(key)
                        if not pending:
                            gate.first_cycle_done()

                jobs.append(Job(
                    id=f"{org.name}/{stream.name}",
                    func=_cycle(
                        rt, stream=stream, sink=sink, metrics=metrics, stop=stop, on_done=done,
                    ),
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
