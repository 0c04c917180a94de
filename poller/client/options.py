"""How the client talks HTTP: its timeouts, as a value object next to `RetryPolicy`.

Grouped like httpx's own `Timeout` and `Limits`, so a caller states a policy once and the client
takes a handful of arguments instead of one per knob.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import httpx

__all__ = ["DEFAULT_CONNECT_TIMEOUT", "DEFAULT_REQUEST_TIMEOUT", "Timeouts"]

DEFAULT_REQUEST_TIMEOUT: Final = 30.0
DEFAULT_CONNECT_TIMEOUT: Final = 5.0  # the SDK's; a longer wait for a TCP handshake helps nobody


@dataclass(frozen=True)
class Timeouts:
    """Seconds one request may wait: `request` for each read, write and connection-pool wait,
    `connect` for the TCP and TLS handshake (never more than `request`)."""

    request: float = DEFAULT_REQUEST_TIMEOUT
    connect: float = DEFAULT_CONNECT_TIMEOUT

    def __post_init__(self) -> None:
        for name in ("request", "connect"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"Timeouts.{name} takes seconds as a number, got {value!r}")
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"Timeouts.{name} must be a positive number of seconds, "
                                 f"got {value!r}")

    def as_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(self.request, connect=min(self.request, self.connect))
