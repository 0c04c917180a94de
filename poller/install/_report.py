"""What a setup run looked at and did: one `Change` per object, gathered by a `Recorder`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

_CHANGES: Final = frozenset({"create", "update", "replace", "plan"})
_VERBS: Final = {
    "create": ("created", "would create"),
    "update": ("updated", "would update"),
    "replace": ("replaced", "would replace"),
    "unchanged": ("unchanged", "unchanged"),
    "rollover": ("needs a rollover", "needs a rollover"),
    "skip": ("skipped", "skipped"),
    "note": ("left in place", "left in place"),
    "plan": ("would install", "would install"),  # a dry run that could not compare
    "offline": ("not compared", "not compared"),
    "runs_as": ("run as", "would run as"),
}


@dataclass(frozen=True)
class Change:
    """One thing setup looked at: what (`target`), what it did (`action`), and why (`detail`)."""

    target: str
    action: str  # a key of _VERBS
    detail: str = ""

    def line(self, dry_run: bool) -> str:
        verb = _VERBS[self.action][1 if dry_run else 0]
        if self.action == "runs_as":  # the detail is the object of the verb
            return f"{self.target}: {verb} {self.detail}"
        return f"{self.target}: {verb}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class SetupReport:
    """What `run_setup` changed (or would change, with `dry_run`); `lines()` is for people."""

    dry_run: bool
    changes: tuple[Change, ...]

    def lines(self) -> list[str]:
        return [change.line(self.dry_run) for change in self.changes]

    @property
    def changed(self) -> bool:
        """Whether anything was (or would be) written; a plan, not compared, counts as all."""
        return any(change.action in _CHANGES for change in self.changes)


Listener = Callable[[Change], None]


class Recorder:
    """The changes of one run, in order; with `dry_run` the installers only read and record.

    `listener` hears each change as it is recorded, so a run that fails half-way has already
    told what it did before the error."""

    def __init__(self, *, dry_run: bool, listener: Listener | None = None) -> None:
        self.dry_run = dry_run
        self._changes: list[Change] = []
        self._listener = listener

    def __len__(self) -> int:
        return len(self._changes)

    def add(self, target: str, action: str, detail: str = "") -> None:
        change = Change(target, action, detail)
        self._changes.append(change)
        if self._listener is not None:
            self._listener(change)

    def report(self) -> SetupReport:
        return SetupReport(dry_run=self.dry_run, changes=tuple(self._changes))
