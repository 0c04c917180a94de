"""Loopback servers for the tests, drills and benchmarks: free ports and a noida-db of their own.

noida-db is an Elasticsearch-wire server; see tests/conftest.py for its gaps. It is started as
the native binary (the `noida-db` console script only wraps it in a Python process that would
not pass our SIGTERM on), in its own process group, and stopped as a whole.

`bench/` imports this module as `tests.loopback` (it runs from the repository root).
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["NoidaError", "free_port", "noida", "stop_group"]

STARTUP_SECONDS = 30.0
STOP_SECONDS = 10.0


class NoidaError(RuntimeError):
    """noida-db is missing, exited, or did not answer in time."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 (our own http URL)
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def stop_group(proc: subprocess.Popen[Any], grace: float = STOP_SECONDS) -> None:
    """SIGTERM the process group `proc` leads, SIGKILL it if it lingers, and reap the leader."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.1)
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return  # the whole group is gone
    proc.wait()


def noida_binary() -> str:
    with contextlib.suppress(ModuleNotFoundError):
        native = importlib.resources.files("noida_db").joinpath("noida-db")
        if native.is_file() and os.access(str(native), os.X_OK):
            return str(native)
    found = shutil.which("noida-db", path=str(Path(sys.executable).parent)) or shutil.which(
        "noida-db"
    )
    if not found:
        raise NoidaError("noida-db is not installed (pip install noida-db==0.2.3)")
    return found


@contextlib.contextmanager
def noida(workdir: Path) -> Iterator[str]:
    """A fresh noida-db on a free loopback port, its data and log under `workdir`; its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "noida.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [noida_binary(), "start", "--only", "elasticsearch",
             "--elasticsearch-port", str(port), "--data-dir", str(workdir / "data")],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,  # a harmless GLIBC warning lands here
            start_new_session=True,  # its own process group, stopped as a whole
        )
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while not answers(url):
                if proc.poll() is not None:
                    output = log_path.read_text(errors="replace")
                    raise NoidaError(f"noida-db exited with {proc.returncode}:\n{output}")
                if time.monotonic() > deadline:
                    raise NoidaError(f"noida-db did not answer on {url} within {STARTUP_SECONDS}s")
                time.sleep(0.1)
            yield url
        finally:
            stop_group(proc)
