"""The document type every mapper produces and every sink consumes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Document", "GroupRef", "Names", "Rejected"]


@dataclass(frozen=True)
class Document:
    """One ECS document bound for `data_stream` under a deterministic `doc_id`.

    The same API fact always yields the same `doc_id`, so writing it twice is a no-op and a
    revised bucket replaces its earlier version instead of adding to it.
    """

    stream: str  # stream name from poller.streams, e.g. "completions"
    data_stream: str  # e.g. "logs-openai.completions-default"
    doc_id: str
    source: Mapping[str, Any]  # JSON-serialisable; nested objects, never dotted keys


@dataclass(frozen=True)
class Rejected:
    """An API item no document can be built from (it fails the spec's schema, or lacks an id or
    a time): kept whole in the dead-letter store, so one poison item never stalls its stream.

    `doc.source` is the item as the API sent it, and `doc.doc_id` a digest of it, so keeping
    the same item twice keeps it once.
    """

    doc: Document
    reason: str


@dataclass(frozen=True, order=True)
class GroupRef:
    """A group (team) a user belongs to, as the directory listed it; ordered by id, so a
    user's groups always come in the same order."""

    id: str
    name: str | None = None


class Names(Protocol):
    """Looks up display names next to ids; None when the directory does not know the id."""

    def project_name(self, project_id: str) -> str | None: ...

    def user_email(self, user_id: str) -> str | None: ...

    def api_key_name(self, api_key_id: str) -> str | None: ...

    def user_groups(self, user_id: str) -> tuple[GroupRef, ...]:
        """The groups `user_id` belongs to, by id; () when none or unknown."""
        ...
