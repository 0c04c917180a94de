"""Per-(org, stream) collection state, kept in the sink beside the documents it describes.

Keeping it in the sink (an Elasticsearch index, or a SQLite table) means a pod or a host holds no
local state, and the state can only be as new as the writes it describes: it is saved after the
sink acknowledged them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from poller.coverage import Coverage

__all__ = ["StreamState", "state_key"]


def state_key(org: str, stream: str) -> str:
    return f"{org}/{stream}"


@dataclass(frozen=True)
class StreamState:
    """Where a stream stands. Only the field of its kind is used:

    - usage and costs: `coverage`, the stretches collected and at which width;
    - audit: `high_water`, the newest `effective_at` of a fully acknowledged window;
    - rate limits: `last_slot`, the last collection slot written.
    """

    coverage: Coverage = field(default_factory=Coverage)
    high_water: int | None = None
    last_slot: int | None = None
    last_success: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None

    @property
    def position(self) -> int | None:
        """The newest moment the stream is complete up to, whatever its kind."""
        if self.coverage.end is not None:
            return self.coverage.end
        return self.high_water if self.high_water is not None else self.last_slot

    def succeeded(self, at: float) -> StreamState:
        return replace(self, last_success=at)

    def failed(self, at: float, message: str) -> StreamState:
        return replace(self, last_error=message, last_error_at=at)

    def to_json(self) -> dict[str, Any]:
        return {
            "coverage": self.coverage.to_json(),
            "high_water": self.high_water,
            "last_slot": self.last_slot,
            "last_success": self.last_success,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> StreamState:
        if not data:
            return cls()
        return cls(
            coverage=Coverage.from_json(data.get("coverage") or ()),
            high_water=data.get("high_water"),
            last_slot=data.get("last_slot"),
            last_success=data.get("last_success"),
            last_error=data.get("last_error"),
            last_error_at=data.get("last_error_at"),
        )
