"""How `report` prints the rate-limit section (`poller.report_limits`)."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from poller.report_limits import LimitRow, RateLimits

from ._grid import grid
from ._text import plain, safe

__all__ = ["limits_json", "print_limits"]

_SHOWN = 10  # rows of the table without --top: the least headroom first


def _row_json(row: LimitRow) -> dict[str, Any]:
    headroom = row.headroom
    return {"project_id": plain(row.project_id),
            "name": None if row.project_name is None else plain(row.project_name),
            "model": plain(row.model), "rpm_limit": row.rpm, "tpm_limit": row.tpm,
            "peak_rpm": row.peak_rpm, "peak_tpm": row.peak_tpm,
            "headroom_pct": None if headroom is None else round(100 * headroom, 1)}


def _stamp(moment: Any) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%MZ")


def limits_json(limits: RateLimits) -> dict[str, Any]:
    return {"snapshot": _stamp(limits.collected_at),
            "peaks_since": _stamp(limits.peaks.start), "peaks_until": _stamp(limits.peaks.end),
            "limits": [_row_json(r) for r in limits.rows]}


def _number(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def print_limits(console: Console, limits: RateLimits, top: int | None) -> None:
    """The pairs with a known peak, the least headroom first; a line counts the rest."""
    if limits.collected_at is None:
        return
    known = [r for r in limits.rows if r.headroom is not None]
    shown = known[: top if top is not None else _SHOWN]
    dot = " \N{MIDDLE DOT} "
    console.print(safe(f"rate limits{dot}snapshot {_stamp(limits.collected_at)}{dot}peak "
                       f"minutes since {_stamp(limits.peaks.start)}"), style="bold")
    if shown:
        rows = [[safe(r.project_name or r.project_id), safe(r.model), _number(r.rpm),
                 _number(r.peak_rpm), _number(r.tpm), _number(r.peak_tpm),
                 f"{100 * (r.headroom or 0.0):.0f}%"] for r in shown]
        headers = ["project", "model", "RPM", "peak", "TPM", "peak", "free"]
        console.print(grid(headers, rows, texts=2, width=console.width))
    console.print(f"{len(limits.rows)} limits; {len(known)} with per-minute usage, "
                  f"{len(shown)} shown (`--format json` lists all)")
