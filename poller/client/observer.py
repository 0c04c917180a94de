"""The hook through which the client reports what it does, for self-metrics (Prometheus later)."""

from __future__ import annotations

from typing import Protocol

__all__ = ["ClientObserver"]


class ClientObserver(Protocol):
    """Told about every HTTP response and every retry. `endpoint` is the path template, e.g.
    `/organization/projects/{project_id}/rate_limits`, so ids never become metric labels."""

    def on_response(self, endpoint: str, status: int) -> None: ...

    def on_retry(self, endpoint: str, reason: str, wait: float) -> None: ...
