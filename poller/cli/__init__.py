"""The `openai-poller` command line: argument parsing and dispatch to one module per command.

Exit codes (docs/interface.md): 0 success; 2 usage or configuration error, reported as one line on
stderr with no traceback; 1 a runtime failure after start-up.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from poller import __version__
from poller.errors import AuthenticationError, ConfigError, PollerError
from poller.redaction import redact
from poller.reporting import BY_CHOICES

from ._help import EPILOG, HELP, WHEN, Formatter
from ._text import short_error

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
    from poller.health import MetricsPortError

    try:
        return run_daemon(_settings(require_orgs=True))
    except MetricsPortError as exc:
        raise ConfigError(str(exc)) from None


def _backfill(args: argparse.Namespace) -> int:
    from poller.runtime import open_sink

    from .backfill import backfill_request, run_backfill

    settings = _settings(require_orgs=True)
    request = backfill_request(settings, args, now=int(time.time()))
    with open_sink(settings) as sink:
        return run_backfill(request, sink)


def _status(args: argparse.Namespace) -> int:
    from ._reading import open_for_reading
    from .status import StatusRequest, status

    settings = _settings(require_orgs=False)
    request = StatusRequest(now=time.time(), as_json=args.json)
    with open_for_reading(settings) as sink:
        return status(settings, sink, request)


def _state(args: argparse.Namespace) -> int:
    from poller.runtime import open_sink

    from .state import rebuild_targets, state_rebuild

    settings = _settings(require_orgs=True)
    targets = rebuild_targets(settings, args)
    with open_sink(settings) as sink:
        return state_rebuild(targets, sink, now=int(time.time()))


def _replay(args: argparse.Namespace) -> int:
    from poller.runtime import open_sink

    from .replay import replay, replay_request

    settings = _settings(require_orgs=True)
    now = time.time()
    request = replay_request(settings, args, now=int(now))
    with open_sink(settings) as sink:
        return replay(request, sink, now=now)


def _report(args: argparse.Namespace) -> int:
    from ._reading import open_for_reading
    from .report import billed_through, report, report_request

    settings = _settings(require_orgs=False)
    orgs = [(org.name, org.namespace, org.organization_id or org.name) for org in settings.orgs]
    request = report_request(args, orgs=orgs, now=int(time.time()),
                             budget_usd=settings.alerts.monthly_budget_usd)
    with open_for_reading(settings) as sink:  # after the request: bad input opens nothing
        return report(sink.reader(), request, billed_through(sink, request))


def _setup(args: argparse.Namespace) -> int:
    from .setup import setup

    return setup(
        _settings(require_orgs=False),
        dry_run=args.dry_run,
        reset_rules=args.reset_rules,
        api_key_file=args.es_api_key_file,
        destination_assets=args.destination_assets,
    )


def _doctor(args: argparse.Namespace) -> int:
    from .doctor import doctor

    return doctor(_settings(require_orgs=True))


def _demo(args: argparse.Namespace) -> int:
    from .demo import demo

    return demo(now=int(time.time()))


def _simulate(args: argparse.Namespace) -> int:
    from poller.simulator.faults import FaultPlan
    from poller.simulator.server import SimulatorOptions, serve, simulator_app

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
        simulator_app(options)  # every flag checked before the first line is printed
        plan = FaultPlan.parse(options.faults).probabilities
        faults = ", ".join(f"{kind}={p:g}" for kind, p in plan) or "none"
        print(f"simulate: admin key {options.admin_key}; faults: {faults}", file=sys.stderr,
              flush=True)
        return serve(options)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _command(sub: Any, name: str, handler: Callable[[argparse.Namespace], int]) -> Any:
    summary, details = HELP[name]
    parser = sub.add_parser(name, help=summary, description=f"{summary}.\n\n{details}",
                            formatter_class=Formatter)
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="openai-poller",
        description="Poll OpenAI's admin APIs (usage, costs, audit logs, rate limits) into "
        "Elasticsearch data streams or an embedded SQLite store.",
        epilog=EPILOG,
        formatter_class=Formatter,
    )
    parser.add_argument("--version", action="version", version=f"openai-poller {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser,
                                metavar="COMMAND")

    _command(sub, "run", _run)
    backfill = _command(sub, "backfill", _backfill)
    backfill.add_argument("--since", required=True, metavar="WHEN",
                          help=f"start of the window: {WHEN}")
    backfill.add_argument("--until", metavar="WHEN", help="end of the window (default: now)")
    backfill.add_argument("--streams", metavar="LIST",
                          help="comma-separated stream names (default: the configured streams)")
    backfill.add_argument("--bucket-width", default="auto", choices=["auto", "1m", "1h", "1d"],
                          help="usage bucket width; auto picks the finest the window allows")
    backfill.add_argument("--org", metavar="NAME", help="only this org (default: every org)")
    setup = _command(sub, "setup", _setup)
    setup.add_argument("--dry-run", action="store_true",
                       help="print what would change and change nothing; works offline")
    setup.add_argument("--reset-rules", action="store_true",
                       help="apply the configured alert thresholds even to rules whose "
                       "thresholds were edited in Kibana (default: keep those)")
    setup.add_argument("--es-api-key-file", metavar="PATH",
                       help="a file holding the Elasticsearch API key setup runs with "
                       "(default: setup.* settings, else the daemon's credentials)")
    setup.add_argument("--destination-assets", metavar="DIR",
                       help="write the files the orgs' destinations need (Prometheus rules, "
                       "the Splunk dashboard) into DIR (docs/destinations.md)")
    status = _command(sub, "status", _status)
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _command(sub, "doctor", _doctor)
    state = _command(sub, "state", _state)
    state_sub = state.add_subparsers(dest="action", required=True, parser_class=_Parser,
                                     metavar="ACTION")
    rebuild = state_sub.add_parser(
        "rebuild", formatter_class=Formatter,
        help="replace each stream's saved state by what the sink holds",
        description="Derive each stream's state (coverage, widths, groupings, audit mark, "
        "rate-limit slot) from the stored documents and save it, replacing what was saved.\n\n"
        "Example: openai-poller state rebuild --streams completions,costs",
    )
    rebuild.add_argument("--org", metavar="NAME", help="only this org (default: every org)")
    rebuild.add_argument("--streams", metavar="LIST",
                         help="comma-separated stream names (default: the configured streams)")
    rebuild.set_defaults(handler=_state)
    replay = _command(sub, "replay-deadletters", _replay)
    replay.add_argument("--org", metavar="NAME", help="only this org (default: every org)")
    replay.add_argument("--streams", "--stream", metavar="LIST",
                        help="comma-separated stream names (default: the configured streams)")
    replay.add_argument("--since", metavar="WHEN",
                        help=f"only letters kept from then on (default: all): {WHEN}")
    report = _command(sub, "report", _report)
    report.add_argument("--since", metavar="WHEN", help=f"window start (default: the first "
                        f"document): {WHEN}")
    report.add_argument("--until", metavar="WHEN", help="window end (default: now)")
    report.add_argument("--org", metavar="NAME",
                        help="only this configured org (default: every org, each labelled)")
    report.add_argument("--by", default="model", choices=list(BY_CHOICES), metavar="FIELD",
                        help=f"group usage and cost by one of: {', '.join(BY_CHOICES)}")
    report.add_argument("--top", type=_positive, metavar="N",
                        help="show the N costliest groups of each table (default: all)")
    report.add_argument("--format", default="table", choices=["table", "json", "csv"],
                        help="output format")
    report.add_argument("--json", action="store_true", help="same as --format json")
    _command(sub, "demo", _demo)

    simulate = _command(sub, "simulate", _simulate)
    simulate.add_argument("--port", type=int, required=True, help="TCP port; 0 picks a free one")
    simulate.add_argument("--host", default="127.0.0.1", help="address to listen on")
    simulate.add_argument("--seed", type=int, default=1,
                          help="the same seed gives the same organization and numbers")
    simulate.add_argument("--size", default="medium", choices=["small", "medium", "large"],
                          help="how many projects, users and keys the organization has")
    simulate.add_argument("--admin-key", default="sk-admin-demo",
                          help="the admin key the simulator accepts")
    simulate.add_argument("--settle-seconds", type=float, default=600.0,
                          help="how long after a bucket ends its numbers keep changing")
    simulate.add_argument("--faults", default="", metavar="SPEC",
                          help="KIND=PROBABILITY,...; kinds 429, 500, 502, 503, timeout, "
                          "malformed, drift (default: none)")
    simulate.add_argument("--rate-limit", type=float, default=0.0, metavar="RPM",
                          help="requests per minute before 429s; 0 is unlimited")
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


# The fix of an error whose message does not carry one, by its kind.
_FIXES: dict[type[PollerError], str] = {
    AuthenticationError: "use an organization admin key (sk-admin-...) from "
    "platform.openai.com/settings/organization/admin-keys",
}


def _fail(exc: PollerError) -> None:
    """One short line for the operator; the full text for whoever turns on debug logs."""
    logging.getLogger("poller.cli").debug("error: %s", exc)
    fix = next((text for kind, text in _FIXES.items() if isinstance(exc, kind)), None)
    print(f"error: {redact(short_error(str(exc), fix=fix))}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args_given = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if not args_given:
        parser.print_help()
        return EXIT_USAGE
    try:
        args = parser.parse_args(args_given)
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except ConfigError as exc:
        _fail(exc)
        return EXIT_USAGE
    except PollerError as exc:
        _fail(exc)
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        return EXIT_RUNTIME
