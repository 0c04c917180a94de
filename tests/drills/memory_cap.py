"""A memory cgroup for a drill's process: the kernel's own cap, as Kubernetes sets one.

A process started through `MemoryCap.command` joins the cgroup before it execs, so every page
it ever touches is charged there, and past `limit` the kernel's OOM killer ends it (exit -9),
exactly what a container limit does. cgroup v1 (`memory.limit_in_bytes`) and v2 (`memory.max`)
are both tried, under the test's own cgroup and then at the hierarchy's root; where neither can
be created (no permission, no memory controller), `path` is None and `reason` says why, so the
drill falls back to checking the peak it measures (`VmHWM`).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MemoryCap", "memory_cap"]

_V1 = Path("/sys/fs/cgroup/memory")
_V2 = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class MemoryCap:
    path: Path | None
    version: int = 0
    reason: str = ""

    def command(self, cmd: list[str]) -> list[str]:
        """`cmd`, started inside the cgroup (unchanged without one)."""
        if self.path is None:
            return cmd
        procs = shlex.quote(str(self.path / "cgroup.procs"))
        return ["sh", "-c", f'echo $$ > {procs} && exec "$@"', "sh", *cmd]

    def oom_kills(self) -> int:
        """How many processes the kernel killed in the cgroup for going over its limit."""
        if self.path is None:
            return 0
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        for line in (self.path / name).read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        # An older v1 kernel has no oom_kill count: failcnt counts the times the limit was hit.
        return int((self.path / "memory.failcnt").read_text()) if self.version == 1 else 0

    def peak(self) -> int | None:
        """The cgroup's peak charge (its resident memory and page cache), where the kernel
        keeps one."""
        if self.path is None:
            return None
        name = "memory.max_usage_in_bytes" if self.version == 1 else "memory.peak"
        target = self.path / name
        return int(target.read_text()) if target.exists() else None


def _own(controller: str) -> str:
    """This process's cgroup path in the hierarchy of `controller` ("" for v2)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if controller in names.split(",") or (controller == "" and names == ""):
            return path.lstrip("/")
    return ""


def _candidates() -> Iterator[tuple[int, Path, str]]:
    if (_V1 / "memory.limit_in_bytes").exists():
        own = _own("memory")
        for parent in ([_V1 / own] if own else []) + [_V1]:
            yield 1, parent, "memory.limit_in_bytes"
    controllers = _V2 / "cgroup.controllers"
    if controllers.exists() and "memory" in controllers.read_text().split():
        own = _own("")
        for parent in ([_V2 / own] if own else []) + [_V2]:
            yield 2, parent, "memory.max"


@contextmanager
def memory_cap(limit: int) -> Iterator[MemoryCap]:
    """A fresh cgroup capped at `limit` bytes, removed afterwards (its processes must have
    ended); a `MemoryCap` without a path where none can be made."""
    reasons: list[str] = []
    for version, parent, limit_file in _candidates():
        path = parent / f"poller-drill-{os.getpid()}"
        try:
            path.mkdir()
        except OSError as exc:
            reasons.append(f"v{version} {parent}: {exc.strerror}")
            continue
        try:
            (path / limit_file).write_text(str(limit))
        except OSError as exc:
            reasons.append(f"v{version} {path / limit_file}: {exc.strerror}")
            path.rmdir()
            continue
        try:
            yield MemoryCap(path, version)
        finally:
            path.rmdir()
        return
    yield MemoryCap(None, reason="; ".join(reasons) or "no cgroup memory controller")
