"""Usage over any window at any `now`: whole pieces of settled data plus late-arriving minutes.

A window is cut into the fewest whole days, hours and minutes (org_time.pieces), whose rows
are summed; additivity across split points follows from the exact splits underneath. Minutes
that ended less than `settle_seconds` before `now` report `floor(v * f)` of each leaf, with
`f = (now - m) / (60 + settle_seconds)` growing to 1, so partial values rise monotonically to
the settled ones; minutes starting at or after `now` have no data yet.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from poller.simulator.model import Dims
from poller.simulator.org_combos import Combo
from poller.simulator.org_metrics import Expand, expander
from poller.simulator.org_split import Row
from poller.simulator.org_time import EPOCH, MINUTE, ceil_minute, pieces
from poller.simulator.org_traffic import Rows, StreamTraffic

__all__ = ["UsageLedger"]


class UsageLedger:
    def __init__(
        self,
        traffic: Mapping[str, StreamTraffic],
        combos: Mapping[str, Sequence[Combo]],
        settle_seconds: float,
    ) -> None:
        self._traffic = dict(traffic)
        self._dims = {
            stream: tuple(c.dims for c in stream_combos) for stream, stream_combos in combos.items()
        }
        self._expand: dict[str, Expand] = {stream: expander(stream) for stream in traffic}
        self._settle = settle_seconds

    @property
    def streams(self) -> tuple[str, ...]:
        return tuple(self._traffic)

    def usage(self, stream: str, start: int, end: int, now: float) -> dict[Dims, dict[str, int]]:
        """The finest rows of `stream` for minutes starting in `[start, end)`, as of `now`."""
        rows = self._rows(stream, start, end, now)
        dims, expand = self._dims[stream], self._expand[stream]
        return {dims[index]: expand(row) for index, row in rows.items()}

    def _rows(self, stream: str, start: int, end: int, now: float) -> Rows:
        """Like `usage`, but keyed by combo index and in leaf form."""
        try:
            traffic = self._traffic[stream]
        except KeyError:
            raise KeyError(
                f"unknown usage stream {stream!r}; choose from: {', '.join(self._traffic)}"
            ) from None
        first = max(ceil_minute(start), EPOCH)
        stop = ceil_minute(end)
        settled = stop
        if now < math.inf:
            stop = min(stop, ceil_minute(now))
            last_settled = math.floor((now - MINUTE - self._settle) / MINUTE) * MINUTE
            settled = max(first, min(stop, last_settled + MINUTE))
        if first >= stop:
            return {}
        parts = [traffic.piece(width, t) for width, t in pieces(first, settled)]
        late = [
            (traffic.piece(MINUTE, minute), (now - minute) / (MINUTE + self._settle))
            for minute in range(settled, stop, MINUTE)
        ]
        if len(parts) == 1 and not late:
            return parts[0]
        return _sum(parts, late)


def _sum(parts: list[Rows], late: list[tuple[Rows, float]]) -> dict[int, Row]:
    totals: dict[int, list[int]] = {}
    for rows in parts:
        _add(totals, rows.items())
    for rows, fraction in late:
        _add(
            totals, ((index, tuple(int(v * fraction) for v in row)) for index, row in rows.items())
        )
    return {index: tuple(values) for index, values in totals.items() if any(values)}


def _add(totals: dict[int, list[int]], rows: Iterable[tuple[int, Row]]) -> None:
    for index, row in rows:
        current = totals.get(index)
        if current is None:
            totals[index] = list(row)
        else:
            for k, value in enumerate(row):
                current[k] += value
