"""Reliability drills: prints a closing table of every drill that ran in the session."""

from __future__ import annotations

from typing import Any

from drill_support import RESULTS, SCANS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not RESULTS:
        return
    tr = terminalreporter
    tr.section("reliability drills")
    w = max(len(r.drill) for r in RESULTS) + 2
    header = f"{'drill':<{w}}{'faults':>8}{'expected':>10}{'found':>8}{'dups':>6}{'lost':>6}  notes"
    tr.write_line(header)
    tr.write_line("-" * len(header))
    for r in RESULTS:
        tr.write_line(f"{r.drill:<{w}}{r.faults:>8}{r.expected:>10}{r.found:>8}{r.duplicates:>6}"
                      f"{r.lost:>6}  {'; '.join(r.notes)}")
    tr.write_line(
        f"secrets: {SCANS.files} files and {SCANS.texts} texts scanned ({SCANS.bytes:,} bytes), "
        f"{len(SCANS.found)} secrets found"
    )
