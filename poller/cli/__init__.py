"""The `openai-poller` command line: argument parsing and dispatch to one module per command.

Exit codes (INTERFACE.md): 0 success; 2 usage or configuration error, reported as one line on
stderr with no traceback; 1 a runtime failure after start-up.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from poller import __version__
from poller.errors import ConfigError, PollerError

if TYPE_CHECKING:
    from poller.settings import Settings

__all__ = ["main"]

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting, so errors stay one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(f"{self.prog}: {message}")


def _settings(*, require_orgs: bool) -> Settings:
    from poller.logs import configure_logging
    from poller.settings import load_settings, secret_values

    settings = load_settings(require_orgs=require_orgs)
    configure_logging(settings.log_format, settings.log_level, secret_values(settings))
    if logging.getLogger().level > logging.DEBUG:
        # The Elasticsearch transport warns at each retry of a request, with the stack trace of
        # the connection error; the sink's own error after the retries says it in one line.
        logging.getLogger("elastic_transport").setLevel(logging.ERROR)
    return settings


def _run(args: argparse.Namespace) -> int:
    from poller.daemon import run_daemon

    return run_daemon(_settings(require_orgs=True))


def _backfill(args: argparse.Namespace) -> int:
    from poller.runtime import open_sink

    from .backfill import backfill_request, run_backfill

    settings = _settings(require_orgs=True)
    request = backfill_request(settings, args, now=int(time.time()))
    with open_sink(settings) as sink:
        return run_backfill(request, sink)


def _status(args: argparse.Namespace) -> int:
    from poller.runtime import open_sink

    from .status import StatusRequest, status

    settings = _settings(require_orgs=False)
    request = StatusRequest(now=time.time(), as_json=args.json)
    with open_sink(settings) as sink:
        return status(settings, sink, request)


def _state(args: argparse.Namespace) -> int:
    from poller.runtime import open_sink

    from .state import rebuild_targets, state_rebuild

    settings = _settings(require_orgs=True)
    targets = rebuild_targets(settings, args)
    with open_sink(settings) as sink:
        return state_rebuild(targets, sink, now=int(time.time()))


def _report(args: argparse.Namespace) -> int:
    from poller.runtime import open_sink

    from .report import report, report_request

    settings = _settings(require_orgs=False)
    namespace = settings.orgs[0].namespace if settings.orgs else "default"
    request = report_request(args, namespace=namespace, now=int(time.time()))
    with open_sink(settings) as sink:  # after the request: bad input opens nothing
        return report(sink.reader(), request)


def _setup(args: argparse.Namespace) -> int:
    from .setup import setup

    return setup(
        _settings(require_orgs=False),
        dry_run=args.dry_run,
        reset_rules=args.reset_rules,
        api_key_file=args.es_api_key_file,
    )


def _doctor(args: argparse.Namespace) -> int:
    from .doctor import doctor

    return doctor(_settings(require_orgs=True))


def _demo(args: argparse.Namespace) -> int:
    from .demo import demo

    return demo(now=int(time.time()))


def _simulate(args: argparse.Namespace) -> int:
    from poller.simulator.server import SimulatorOptions, serve

    options = SimulatorOptions(
        port=args.port,
        host=args.host,
        seed=args.seed,
        size=args.size,
        admin_key=args.admin_key,
        settle_seconds=args.settle_seconds,
        faults=args.faults,
        rate_limit=args.rate_limit,
    )
    try:
        return serve(options)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="openai-poller", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"openai-poller {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("run", help="poll every configured org and stream until SIGTERM").set_defaults(
        handler=_run
    )
    backfill = sub.add_parser("backfill", help="collect a past window once and exit")
    backfill.add_argument("--since", required=True)
    backfill.add_argument("--until")
    backfill.add_argument("--streams")
    backfill.add_argument("--bucket-width", default="auto", choices=["auto", "1m", "1h", "1d"])
    backfill.add_argument("--org")
    backfill.set_defaults(handler=_backfill)
    setup = sub.add_parser("setup", help="install Elasticsearch templates and Kibana objects")
    setup.add_argument("--dry-run", action="store_true")
    setup.add_argument("--reset-rules", action="store_true")
    setup.add_argument("--es-api-key-file", metavar="PATH")
    setup.set_defaults(handler=_setup)
    status = sub.add_parser("status", help="cursor, lag, last success and error per stream")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_status)
    sub.add_parser("doctor", help="check the key, audit logging and the sink").set_defaults(
        handler=_doctor
    )
    state = sub.add_parser("state", help="derive stream state from the stored documents")
    state_sub = state.add_subparsers(dest="action", required=True, parser_class=_Parser)
    rebuild = state_sub.add_parser("rebuild", help="replace each stream's state by what is stored")
    rebuild.add_argument("--org")
    rebuild.add_argument("--streams")
    rebuild.set_defaults(handler=_state)
    report = sub.add_parser("report", help="usage and cost summary from the sink")
    report.add_argument("--since")
    report.add_argument("--until")
    report.add_argument("--by")
    report.add_argument("--json", action="store_true")
    report.set_defaults(handler=_report)
    sub.add_parser("demo", help="simulator -> backfill -> embedded store -> report").set_defaults(
        handler=_demo
    )

    simulate = sub.add_parser("simulate", help="serve the simulated OpenAI admin API")
    simulate.add_argument("--port", type=int, required=True)
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--seed", type=int, default=1)
    simulate.add_argument("--size", default="medium", choices=["small", "medium", "large"])
    simulate.add_argument("--admin-key", default="sk-admin-demo")
    simulate.add_argument("--settle-seconds", type=float, default=600.0)
    simulate.add_argument("--faults", default="")
    simulate.add_argument("--rate-limit", type=float, default=0.0, metavar="RPM")
    simulate.set_defaults(handler=_simulate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except PollerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        return EXIT_RUNTIME
