"""`status`: per org and stream a verdict (`ok`, `behind`, `failing`), the lag, and the error.

It reads what the store holds, not only what is configured: an org or stream found in the store
(a former configuration, another host's daemon writing to the same cluster) is shown too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.table import Table

from poller.leases import read_leases
from poller.redaction import redact
from poller.settings import OrgSettings, Settings
from poller.sinks import ReadableSink
from poller.state import StreamState, check_position, saved_state
from poller.streams import STREAM_NAMES, StreamKind, get_stream

from ._text import human_age, plain, safe, short_error

__all__ = ["StatusRequest", "Verdict", "status", "status_rows", "verdict"]

Verdict = Literal["ok", "behind", "failing"]
# For a stream that is not configured (found only in the store): its bucket, plus an hour.
_UNCONFIGURED_SLACK = 3600


@dataclass(frozen=True)
class StatusRequest:
    """`status [--json]` as of `now` (Unix seconds)."""

    now: float
    as_json: bool = False


def _allowed_lag(org: OrgSettings | None, stream: str) -> float:
    """How far behind `now` the stream's position may be while all is well: a bucket still
    open, its settlement grace, and two missed polls."""
    if org is not None and stream in org.streams:
        config = org.stream(stream)
        return (config.bucket_width.seconds + config.settlement_grace.total_seconds()
                + 2 * config.interval.total_seconds())
    width = get_stream(stream).fixed_width
    return (width.seconds if width is not None else 60) + _UNCONFIGURED_SLACK


def verdict(state: StreamState, *, now: float, allowed_lag: float, audit: bool) -> Verdict:
    """`failing` when the last attempt failed, `behind` when never collected or further behind
    than allowed, else `ok`. Audit's position is its newest event, which may be old in a quiet
    org, so its freshness is that of its last success."""
    if state.last_error_at is not None and (
        state.last_success is None or state.last_error_at > state.last_success
    ):
        return "failing"
    moment = state.last_success if audit else state.position
    if moment is None or now - moment > allowed_lag:
        return "behind"
    return "ok"


def _other_orgs(settings: Settings, sink: ReadableSink) -> list[str]:
    """Orgs whose documents are in the store but that are not configured."""
    names = [org.name for org in settings.orgs]
    reader = sink.reader()
    for namespace in dict.fromkeys([*(o.namespace for o in settings.orgs), "default"]):
        for stream in STREAM_NAMES:
            found = reader.sums_by(f"logs-openai.{stream}-{namespace}", [], "organization.name")
            names += [n for n in found if n is not None and n not in names]
    return names[len(settings.orgs) :]


def _states(
    settings: Settings, sink: ReadableSink, now: float
) -> Iterator[tuple[str, str, StreamState]]:
    """The configured orgs' streams first (a sink that cannot be read fails on its state, as
    every command does), then streams with a saved state, of any org found in the store.
    Unreadable state, or a position after now, is a `StateError`: one line naming the fix."""
    configured = [(org.name, org.streams) for org in settings.orgs]
    for org, wanted in [*configured, *((o, ()) for o in _other_orgs(settings, sink))]:
        for stream in STREAM_NAMES:
            saved = saved_state(sink, org, stream)
            if saved is not None:
                check_position(saved, org=org, stream=stream, now=int(now))
            if saved is not None or stream in wanted:
                yield org, stream, saved if saved is not None else StreamState()


def status_rows(settings: Settings, sink: ReadableSink, *, now: float) -> list[dict[str, Any]]:
    configured = {org.name: org for org in settings.orgs}
    rows: list[dict[str, Any]] = []
    for org, stream, state in _states(settings, sink, now):
        audit = get_stream(stream).kind is StreamKind.AUDIT
        found = verdict(state, now=now, allowed_lag=_allowed_lag(configured.get(org), stream),
                        audit=audit)
        position = state.position
        lag = None if position is None else round(now - position)
        current_error = found == "failing"
        rows.append({
            "org": org,
            "stream": stream,
            "verdict": found,
            "configured": org in configured and stream in configured[org].streams,
            "position": _iso(position),
            "lag_seconds": lag,
            "lag": human_age(lag),
            "last_success": _iso(state.last_success),
            # Redacted again: a store written before a secret was known keeps it as written.
            "last_error": redact(state.last_error) if current_error and state.last_error
            else None,
            "last_error_at": _iso(state.last_error_at) if current_error else None,
        })
    leases = read_leases(sink, list(dict.fromkeys(row["org"] for row in rows)))
    lease_of = {r.org: {k: _plain(v) for k, v in r.to_json(now).items()} for r in leases}
    for row in rows:
        row["lease"] = lease_of.get(row["org"])  # None: no replica ran with ha.enabled
    return rows


def status(settings: Settings, sink: ReadableSink, request: StatusRequest) -> int:
    rows = status_rows(settings, sink, now=request.now)
    if request.as_json:
        print(json.dumps([{k: _plain(v) for k, v in row.items()} for row in rows], indent=2))
        return 0
    console = Console()
    table = Table(title="openai-poller status", box=box.SIMPLE_HEAD, pad_edge=False,
                  title_justify="left")
    for column in ("org", "stream", "verdict", "lag", "last success"):
        table.add_column(column, overflow="ellipsis", no_wrap=True)
    for row in rows:
        success = row["last_success"]
        ago = "never" if success is None else human_age(request.now - _seconds(success)) + " ago"
        style = {"ok": "green", "behind": "yellow", "failing": "red"}[row["verdict"]]
        table.add_row(safe(row["org"]), row["stream"], f"[{style}]{row['verdict']}[/]",
                      row["lag"], ago)
    console.print(table)
    _print_leases(console, rows, request.now)
    for row in rows:
        if row["last_error"] is not None:
            when = row["last_error_at"] or "?"
            console.print(safe(f"{row['org']}/{row['stream']} failed at {when}:"))
            console.print(Padding(safe(short_error(row["last_error"])), (0, 0, 0, 2)))
    return 0


def _print_leases(console: Console, rows: list[dict[str, Any]], now: float) -> None:
    """Each org's lease (who collects it, until when, its fencing token), when it has one."""
    leases = {row["org"]: row["lease"] for row in rows if row["lease"] is not None}
    if not leases:
        return
    table = Table(title="leases", box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    for column in ("org", "holder", "lease", "token"):
        table.add_column(column, overflow="ellipsis", no_wrap=True)
    for org, lease in leases.items():
        text = lease["state"]  # released, damaged
        if lease["expires"] is not None:
            left = _seconds(lease["expires"]) - now
            held = lease["state"] == "held"
            text = f"held, {human_age(left)} left" if held else f"expired {human_age(-left)} ago"
        table.add_row(safe(org), safe(lease["holder"] or "?"), text, str(lease["token"] or "?"))
    console.print(table)


def _plain(value: Any) -> Any:
    return plain(value) if isinstance(value, str) else value


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat().replace("+00:00", "Z")


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()
