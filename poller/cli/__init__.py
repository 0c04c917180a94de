"""The `openai-poller` command line: argument parsing and dispatch to one module per command.

Exit codes (INTERFACE.md): 0 success; 2 usage or configuration error, reported as one line on
stderr with no traceback; 1 a runtime failure after start-up.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from poller import __version__
from poller.errors import ConfigError, PollerError

__all__ = ["main"]

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting, so errors stay one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(f"{self.prog}: {message}")


def _not_yet(issue: int) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        print(
            f"openai-poller {args.command}: not implemented yet (tracked in issue {issue})",
            file=sys.stderr,
        )
        return EXIT_RUNTIME

    return run


def _simulate(args: argparse.Namespace) -> int:
    from poller.simulator.server import run_from_args

    return run_from_args(args)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="openai-poller", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"openai-poller {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("run", help="poll every configured org and stream until SIGTERM").set_defaults(
        handler=_not_yet(4)
    )
    backfill = sub.add_parser("backfill", help="collect a past window once and exit")
    backfill.add_argument("--since", required=True)
    backfill.add_argument("--until")
    backfill.add_argument("--streams")
    backfill.add_argument("--bucket-width", default="auto", choices=["auto", "1m", "1h", "1d"])
    backfill.add_argument("--org")
    backfill.set_defaults(handler=_not_yet(3))
    setup = sub.add_parser("setup", help="install Elasticsearch templates and Kibana objects")
    setup.add_argument("--dry-run", action="store_true")
    setup.set_defaults(handler=_not_yet(5))
    status = sub.add_parser("status", help="cursor, lag, last success and error per stream")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_not_yet(4))
    sub.add_parser("doctor", help="check the key, audit logging and the sink").set_defaults(
        handler=_not_yet(4)
    )
    report = sub.add_parser("report", help="usage and cost summary from the sink")
    report.add_argument("--since")
    report.add_argument("--until")
    report.add_argument("--by")
    report.add_argument("--json", action="store_true")
    report.set_defaults(handler=_not_yet(4))
    sub.add_parser("demo", help="simulator -> backfill -> embedded store -> report").set_defaults(
        handler=_not_yet(3)
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
