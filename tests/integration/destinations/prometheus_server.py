"""A real Prometheus on loopback: a scrape target, the remote-write receiver on, and an
out-of-order window wide enough for backfilled buckets; its HTTP API for the checks."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from loopback import free_port, stop_group

STARTUP_SECONDS = 30.0
SCRAPE_INTERVAL = "1s"
# Buckets written by remote write reach back a day and a half (yesterday's costs).
OUT_OF_ORDER_WINDOW = "3d"


@dataclass(frozen=True)
class Prometheus:
    url: str

    @property
    def write_url(self) -> str:
        return f"{self.url}/api/v1/write"

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
        answer = httpx.get(f"{self.url}/api/v1/query", params=params, timeout=10).json()
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def scalar(self, expr: str, at: float | None = None) -> float | None:
        """The value of a one-series answer; None when there is no series."""
        result = self.query(expr, at)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts the rules hold now, pending or firing."""
        answer = httpx.get(f"{self.url}/api/v1/alerts", timeout=10).json()
        assert answer["status"] == "success", answer
        alerts: list[dict[str, Any]] = answer["data"]["alerts"]
        return alerts

    def wait_for(self, what: str, check: Callable[[], bool], seconds: float = 20.0) -> None:
        """Poll `check` until it holds: scrapes happen on Prometheus's own schedule."""
        deadline = time.monotonic() + seconds
        while not check():
            assert time.monotonic() < deadline, f"Prometheus never showed {what}"
            time.sleep(0.2)


def _config(target: str, rule_files: Sequence[Path]) -> str:
    rules = "".join(f"\n  - {path}" for path in rule_files)
    return f"""
global:
  scrape_interval: {SCRAPE_INTERVAL}
  scrape_timeout: {SCRAPE_INTERVAL}
  evaluation_interval: {SCRAPE_INTERVAL}
rule_files:{rules or " []"}
scrape_configs:
  - job_name: openai-poller
    static_configs:
      - targets: ["{target}"]
storage:
  tsdb:
    out_of_order_time_window: {OUT_OF_ORDER_WINDOW}
"""


@contextlib.contextmanager
def prometheus(
    workdir: Path, target: str, rule_files: Sequence[Path] = ()
) -> Iterator[Prometheus]:
    """Prometheus scraping `target` (host:port) and evaluating `rule_files` every second, its
    data and log under `workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(_config(target, rule_files), encoding="utf-8")
    port = free_port()
    server = Prometheus(f"http://127.0.0.1:{port}")
    log_path = workdir / "prometheus.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--web.enable-remote-write-receiver",
             "--log.level=warn"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while not _ready(server.url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"Prometheus did not start:\n{log_path.read_text(errors='replace')}"
                    )
                time.sleep(0.1)
            yield server
        finally:
            stop_group(proc)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
