"""Parsing of `WHEN` (ISO-8601 or a relative age like 30d) and of stream lists."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from poller.errors import ConfigError
from poller.streams import STREAM_NAMES

__all__ = ["parse_streams", "parse_when"]

_AGE = re.compile(r"^(\d+)([mhdw])$")
_UNIT = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(text: str, *, now: int, flag: str) -> int:
    """Unix seconds for an ISO date/datetime (UTC without offset) or an age before `now`."""
    value = text.strip()
    age = _AGE.match(value)
    if age:
        return now - int(age.group(1)) * _UNIT[age.group(2)]
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"{flag}: {text!r} is neither an ISO-8601 date/datetime nor an age like 30d, 12h, 90m"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def parse_streams(text: str | None, configured: tuple[str, ...]) -> tuple[str, ...]:
    if not text:
        return configured
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    for name in names:
        if name not in STREAM_NAMES:
            raise ConfigError(
                f"--streams: unknown stream {name!r} (choose from {', '.join(STREAM_NAMES)})"
            )
    return names
