"""How the client talks HTTP: its timeouts and size limits, value objects next to `RetryPolicy`.

Grouped like httpx's own `Timeout` and `Limits`, so a caller states a policy once and the client
takes a handful of arguments instead of one per knob.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import httpx

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_MAX_RESULTS_PER_PAGE",
    "DEFAULT_REQUEST_TIMEOUT",
    "ResponseLimits",
    "Timeouts",
]

DEFAULT_REQUEST_TIMEOUT: Final = 30.0
DEFAULT_CONNECT_TIMEOUT: Final = 5.0  # the SDK's; a longer wait for a TCP handshake helps nobody
DEFAULT_MAX_RESPONSE_BYTES: Final = 64 * 2**20
# About 15 MB of JSON for the widest usage results: a page is decoded whole and its results held
# until its last batch is written (~1 KB each as decoded JSON: ~30 MiB; models only a batch at a
# time, `poller.client._usage_page`), so this, with the process's
# results budget (`poller.client._budget`) that lets no other page beside a full one, bounds the
# memory. It holds a busy day of a mid-sized org at 1m (the simulator's `medium`: up to 28k), so
# only large orgs pay more calls for it.
DEFAULT_MAX_RESULTS_PER_PAGE: Final = 30_000


@dataclass(frozen=True)
class Timeouts:
    """Seconds one request may wait: `request` for each read, write and connection-pool wait,
    `connect` for the TCP and TLS handshake (never more than `request`), `total` for the whole
    request, body included (None: `request`), so an answer that drips in byte by byte, each
    read within `request`, cannot hold a request far longer than that."""

    request: float = DEFAULT_REQUEST_TIMEOUT
    connect: float = DEFAULT_CONNECT_TIMEOUT
    total: float | None = None

    def __post_init__(self) -> None:
        for name in ("request", "connect", "total"):
            value = getattr(self, name)
            if name == "total" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"Timeouts.{name} takes seconds as a number, got {value!r}")
            if not (math.isfinite(value) and value > 0):
                raise ValueError(
                    f"Timeouts.{name} must be a positive number of seconds, got {value!r}"
                )

    def as_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(self.request, connect=min(self.request, self.connect))

    @property
    def deadline(self) -> float:
        """Seconds one whole request may take."""
        return self.request if self.total is None else self.total


@dataclass(frozen=True)
class ResponseLimits:
    """How big one response may be. `max_response_bytes` caps a body (decoded) whatever its
    endpoint: past it the request fails instead of the process running out of memory.
    `max_results_per_page` sizes usage and costs pages: the client asks for as many buckets as
    the previous page's results per bucket say fit (never more than the caller's `limit`)."""

    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    max_results_per_page: int = DEFAULT_MAX_RESULTS_PER_PAGE

    def __post_init__(self) -> None:
        for name in ("max_response_bytes", "max_results_per_page"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"ResponseLimits.{name} takes an integer, got {value!r}")
            if value < 1:
                raise ValueError(f"ResponseLimits.{name} must be at least 1, got {value!r}")
