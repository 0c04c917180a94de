"""Which operation serves a path: the spec's path templates as patterns, and what a handler gets.

A template's `{name}` segments match one path segment each and reach the handler as
`Call.path[name]`; a path that matches no route is the app's 404.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from poller.simulator.model import JSON
from poller.simulator.params import Query

__all__ = ["Call", "Handler", "Route", "match_route"]


@dataclass(frozen=True)
class Call:
    """One API request as a handler sees it."""

    query: Query
    path: Mapping[str, str]
    now: float


Handler = Callable[[Call], JSON]


@dataclass(frozen=True)
class Route:
    template: str  # the spec's path under /v1, e.g. "/v1/organization/projects/{project_id}"
    scope: str
    handler: Handler
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.template))
        object.__setattr__(self, "pattern", re.compile(regex + r"\Z"))


def match_route(routes: Sequence[Route], path: str) -> tuple[Route | None, dict[str, str]]:
    """The first route whose template matches all of `path`, with the path's parameters."""
    for route in routes:
        match = route.pattern.match(path)
        if match:
            return route, match.groupdict()
    return None, {}
