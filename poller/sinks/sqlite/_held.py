"""Reading the `deadletter` table for a replay, and removing what was replayed.

Pages follow the row id. A letter kept again (refused anew) keeps its row but gets a new
`failed_at`, which is at or after the replay's `until`, so it is not met again, and the
removal, guarded by the `failed_at` that was read, leaves it in place.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from poller.sinks._contract import DeadLetterRecord, HeldLetter
from poller.sinks.sqlite._database import Database

__all__ = ["held_pages", "release"]

_PAGE = (
    "SELECT id, doc_id, data_stream, status, reason, source, failed_at FROM deadletter "
    "WHERE data_stream = ? AND failed_at >= ? AND failed_at < ? AND id > ? ORDER BY id LIMIT ?"
)


def _text(t: datetime) -> str:
    """As the store writes `failed_at`, so text order is time order."""
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def held_pages(
    db: Database, data_stream: str, *, since: datetime | None, until: datetime, page: int
) -> Iterator[list[HeldLetter]]:
    if page < 1:
        raise ValueError("page must be at least 1")
    lower = _text(since) if since is not None else ""
    last = 0
    while True:
        rows = db.query(_PAGE, (data_stream, lower, _text(until), last, page))
        if not rows:
            return
        yield [
            HeldLetter(
                DeadLetterRecord(doc_id=r[1], data_stream=r[2], status=int(r[3]), reason=r[4],
                                 source=r[5], failed_at=r[6]),
                token=f"{r[0]}|{r[6]}",
            )
            for r in rows
        ]
        if len(rows) < page:
            return
        last = int(rows[-1][0])


def release(db: Database, letters: Sequence[HeldLetter]) -> int:
    if not letters:
        return 0
    keys = [tuple(letter.token.split("|", 1)) for letter in letters]
    with db.transaction(f"removing {len(letters)} replayed dead letters") as tx:
        cursor = tx.executemany("DELETE FROM deadletter WHERE id = ? AND failed_at = ?", keys)
        return int(cursor.rowcount)
