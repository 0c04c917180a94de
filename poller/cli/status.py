"""`status`: per org and stream, the position, lag, last success and last error."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from poller.settings import Settings
from poller.sinks import Sink
from poller.state import StreamState, state_key

__all__ = ["StatusRequest", "status", "status_rows"]


@dataclass(frozen=True)
class StatusRequest:
    """`status [--json]` as of `now` (Unix seconds)."""

    now: float
    as_json: bool = False


def status_rows(settings: Settings, sink: Sink, *, now: float) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for org in settings.orgs:
        for name in org.streams:
            state = StreamState.from_json(sink.load_state(state_key(org.name, name)))
            position = state.position
            rows.append({
                "org": org.name,
                "stream": name,
                "position": _iso(position),
                "lag_seconds": None if position is None else round(now - position),
                "last_success": _iso(state.last_success),
                "last_error": state.last_error,
                "last_error_at": _iso(state.last_error_at),
            })
    return rows


def status(settings: Settings, sink: Sink, request: StatusRequest) -> int:
    rows = status_rows(settings, sink, now=request.now)
    if request.as_json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title="openai-poller status")
    for column in ("org", "stream", "position", "lag_seconds", "last_success", "last_error"):
        table.add_column(column)
    for row in rows:
        table.add_row(*[
            "" if row[c] is None else str(row[c])
            for c in ("org", "stream", "position", "lag_seconds", "last_success", "last_error")
        ])
    Console().print(table)
    return 0


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat().replace("+00:00", "Z")
