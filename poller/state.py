"""Per-(org, stream) collection state, kept in the sink beside the documents it describes.

Keeping it in the sink (an Elasticsearch index, or a SQLite table) means a pod or a host holds no
local state, and the state can only be as new as the writes it describes: it is saved after the
sink acknowledged them.

State that cannot be read, or that says something impossible (a position past the API's now, a
schema version this poller does not know), is a `StateError`, never a position: acting on it
would skip or duplicate data without anyone noticing. The error names the stream and the fix,
`openai-poller state rebuild`, which derives the state from the stored documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, Protocol

from poller.coverage import Coverage, Shape
from poller.errors import StateError

__all__ = [
    "FUTURE_TOLERANCE",
    "STATE_VERSION",
    "StateStore",
    "StreamState",
    "check_position",
    "load_stream_state",
    "rebuild_hint",
    "saved_state",
    "state_key",
]

# Version 2 records each coverage segment's shape (grouping, org id). Version 1 (no `version`
# field) is read as collected with what is configured, which is what it did.
STATE_VERSION: Final = 2
# How far past the API's now a saved position may lie before it is taken for impossible: clocks
# of two hosts running the poller one after the other may differ a little, never by this much.
FUTURE_TOLERANCE: Final = 900


def state_key(org: str, stream: str) -> str:
    return f"{org}/{stream}"


def rebuild_hint(org: str, stream: str) -> str:
    return f"run `openai-poller state rebuild --org {org} --streams {stream}`"


@dataclass(frozen=True)
class StreamState:
    """Where a stream stands. Only the field of its kind is used:

    - usage and costs: `coverage`, the stretches collected and in which shape;
    - audit: `high_water`, the newest `effective_at` of a fully acknowledged window;
    - rate limits, spend controls, governance: `last_slot`, the last collection slot written;
    - governance: also `snapshot`, the settings of the last snapshot written, which the next
      one is compared with (`poller.documents.governance.GovernanceSnapshot`).
    """

    coverage: Coverage = field(default_factory=Coverage)
    high_water: int | None = None
    last_slot: int | None = None
    snapshot: Mapping[str, Any] | None = None
    last_success: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None

    @property
    def position(self) -> int | None:
        """The newest moment the stream is complete up to, whatever its kind."""
        if self.coverage.end is not None:
            return self.coverage.end
        return self.high_water if self.high_water is not None else self.last_slot

    @property
    def shapes(self) -> tuple[tuple[int, Shape], ...]:
        """Usage and costs: where each shape (width, grouping, org id) starts, oldest first. A
        shape whose `group_by` is None was saved before shapes were: as configured."""
        return self.coverage.shapes()

    def succeeded(self, at: float) -> StreamState:
        """A success clears the last error: `status` shows an error only while it is current."""
        return replace(self, last_success=at, last_error=None, last_error_at=None)

    def failed(self, at: float, message: str) -> StreamState:
        return replace(self, last_error=message, last_error_at=at)

    def to_json(self) -> dict[str, Any]:
        snapshot = {} if self.snapshot is None else {"snapshot": dict(self.snapshot)}
        return {
            **snapshot,
            "version": STATE_VERSION,
            "coverage": self.coverage.to_json(),
            "high_water": self.high_water,
            "last_slot": self.last_slot,
            "last_success": self.last_success,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> StreamState:
        """ValueError or TypeError when `data` is not a state this poller wrote."""
        if not data:
            return cls()
        if not isinstance(data, Mapping):
            raise TypeError(f"state must be an object, not {type(data).__name__}")
        version = data.get("version", 1)
        if version not in (1, STATE_VERSION) or isinstance(version, bool):
            raise ValueError(f"unknown state version {version!r} (this poller reads 1 and 2)")
        return cls(
            coverage=Coverage.from_json(data.get("coverage") or ()),
            high_water=_optional(data, "high_water", int),
            last_slot=_optional(data, "last_slot", int),
            snapshot=_optional(data, "snapshot", Mapping),
            last_success=_optional(data, "last_success", float),
            last_error=_optional(data, "last_error", str),
            last_error_at=_optional(data, "last_error_at", float),
        )


def _optional(data: Mapping[str, Any], name: str, kind: type[Any]) -> Any:
    value = data.get(name)
    if value is None:
        return None
    allowed = (int, float) if kind is float else (kind,)
    if isinstance(value, bool) or not isinstance(value, allowed):
        raise TypeError(f"{name} must be {kind.__name__}, not {value!r:.40}")
    return value


class StateStore(Protocol):
    """Where states are saved: any sink."""

    def load_state(self, key: str) -> Mapping[str, Any] | None: ...


def load_stream_state(store: StateStore, org: str, stream: str) -> StreamState:
    """The saved state of `org`/`stream` (empty when none); StateError, naming the fix, when
    it is unreadable."""
    saved = saved_state(store, org, stream)
    return saved if saved is not None else StreamState()


def saved_state(store: StateStore, org: str, stream: str) -> StreamState | None:
    """The saved state of `org`/`stream`, None when nothing is saved; StateError when it is
    unreadable."""
    try:
        data = store.load_state(state_key(org, stream))
        return None if data is None else StreamState.from_json(data)
    except (ValueError, TypeError) as exc:  # a JSON decode error is a ValueError
        raise StateError(
            f"{org}/{stream}: saved state is unreadable ({_first_line(exc)}); "
            f"{rebuild_hint(org, stream)}"
        ) from None


def check_position(state: StreamState, *, org: str, stream: str, now: int) -> None:
    """StateError when the state claims data from after `now`: a cursor in the future would
    skip everything until then, and backfill fills only gaps, so it could not repair it."""
    position = state.position
    if position is not None and position > now + FUTURE_TOLERANCE:
        ahead = position - now
        raise StateError(
            f"{org}/{stream}: saved position is {ahead} s after the API's now; "
            f"{rebuild_hint(org, stream)}"
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
