"""How long the embedded store keeps its dead letters (the `state` table is never pruned).

As in Elasticsearch (`poller.sinks.elasticsearch._retention`): a cursor is live for as long as
its stream is, so `state` is kept whole; a dead letter is kept for the dead-letter retention
after it was last written (`failed_at`, renewed whenever the same document is refused again),
long enough to be looked at and replayed, then deleted.
"""

from __future__ import annotations

from datetime import UTC, datetime

from poller.sinks.sqlite._database import Database

__all__ = ["prune_dead_letters"]


def prune_dead_letters(db: Database, before: datetime) -> int:
    """Deletes the dead letters last written before `before`; how many."""
    if before.tzinfo is None:
        raise ValueError("before must be timezone-aware")
    # `failed_at` is written as `2026-11-15T10:00:00.123Z`: in that one form, text order is
    # time order.
    cutoff = before.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    with db.transaction(f"pruning dead letters older than {cutoff}") as tx:
        return tx.execute("DELETE FROM deadletter WHERE failed_at < ?", (cutoff,)).rowcount
