"""`PageSizer`: how many buckets the next usage or costs page may ask for.

A page is decoded whole (its results plain JSON until a batch takes them, `RawUsagePage`) and held
while its documents are built and written, so its size, not the organization's, bounds the
poller's memory. A page's size is its buckets times the results in
each, and only the results vary: a minute of a small org grouped by every dimension holds two
results, one of a large org hundreds, and a day at the maximum `limit` (1,440 minutes) hundreds
of thousands. So the sizer learns the results per bucket of each query shape (stream, width,
group_by) from the pages it sees, and asks for as many buckets as fit `max_results`. A shape it
has not seen yet starts from a guess of `FIRST_GUESS` results per bucket: a whole page at 1h and
1d (a few hundred results per bucket there is the large end), a few hours at 1m.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Sequence
from typing import Final

__all__ = ["EMPTY_GROWTH", "FIRST_GUESS", "PageSizer"]

FIRST_GUESS: Final = 500
EMPTY_GROWTH: Final = 8
_TAIL: Final = 10  # the last tenth of a page


class PageSizer:
    """Thread-safe: the daemon's jobs share one client per org."""

    def __init__(self, max_results: int) -> None:
        if max_results < 1:
            raise ValueError(f"max_results must be at least 1, got {max_results}")
        self._max_results = max_results
        self._density: dict[Hashable, float] = {}
        self._lock = threading.Lock()

    def limit(self, shape: Hashable, most: int, *, grouped: bool = True) -> int:
        """Buckets for the next page of `shape`: at least 1 (a page holds whole buckets), at
        most `most` (the caller's limit). An ungrouped query has at most one result a bucket,
        so its first page needs no guess."""
        return self.plan(shape, most, grouped=grouped)[0]

    def plan(self, shape: Hashable, most: int, *, grouped: bool = True) -> tuple[int, int]:
        """`limit()`, and the results a page of that many buckets is expected to hold: what
        the request reserves in the process's `ResultsBudget` before it is sent."""
        with self._lock:
            density = self._density.get(shape, FIRST_GUESS if grouped else 1.0)
            expected = density if shape in self._density else self._prior(density)
        buckets = max(1, min(most, int(self._max_results / density)))
        return buckets, max(1, round(buckets * expected))

    def _prior(self, guess: float) -> float:
        """The results per bucket a shape not seen yet is expected to hold: the guess, or the
        densest shape this org has shown if that is less. The page is still sized by the guess
        (a page must not overflow), but a small org's first pages do not each reserve a whole
        page's budget, which would make them run one at a time behind each other."""
        return min(guess, max(self._density.values(), default=guess))

    def learn(self, shape: Hashable, results: Sequence[int], *, grouped: bool = True) -> None:
        """A page of `shape` held `results[i]` results in its i-th bucket. The density learned is
        the page's, or that of its last tenth if higher: traffic ramps up through a day, and the
        next page starts where this one ended. An empty page says little about the busy day
        after a quiet night, so it only lets the next page grow `EMPTY_GROWTH` times: a quiet
        stream reaches the whole `limit` in a page or two, a busy one is caught at one page of
        `max_results` more."""
        total = sum(results)
        if total <= 0:
            if results:
                with self._lock:
                    known = self._density.get(shape, FIRST_GUESS if grouped else 1.0)
                    self._density[shape] = known / EMPTY_GROWTH
            return
        tail = results[-max(1, len(results) // _TAIL) :]
        density = max(total / len(results), sum(tail) / len(tail))
        with self._lock:
            self._density[shape] = density
