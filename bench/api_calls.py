"""Section 1: API calls of a backfill of every stream, against the minimum and against Elastic.

Each stream is backfilled alone over `[END - days, END)` with the simulator's clock fixed at
NOW, and its calls are read from `/_sim/stats` (no faults are injected, so every call is a 200
and none is a retry). The directory (names next to ids) is listed once before, and its calls
are reported on their own: the poller lists it once per org per `directory_ttl`, not per stream.

The runs use no `group_by`: the API pages by buckets only, so grouping changes how big a page
is, never how many pages there are, and ungrouped pages keep this section short.

- minimum: ceil(buckets / max limit) per segment of one width (1440/168/31 buckets for
  1m/1h/1d usage, 180 for costs); audit ceil(events / 100); rate limits one projects page per
  100 active projects plus one rate-limits page per 100 limits of each of them.
- Elastic: its documented request pattern (`start_time` = now - initial_interval, no
  `end_time`, no `limit`, so the API defaults of 60/24/7 buckets per page apply up to now,
  open bucket included); it collects 8 of the 10 usage streams, no costs; its audit and
  rate-limits streams ask for 100 items per page like the poller. `auto` has no Elastic
  equivalent: that row uses Elastic's default width, 1m.
"""

from __future__ import annotations

import math
from typing import Any

from bench.common import DAY, END, NOW, MemorySink, Simulator, backfill, org_settings, runtime
from poller.coverage import AUTO_DAY_AGE, AUTO_HOUR_AGE, align_down
from poller.simulator.organization import build_organization
from poller.streams import (
    COSTS_MAX_LIMIT,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    STREAM_NAMES,
    USAGE_ENDPOINTS,
    BucketWidth,
)

# The usage streams Elastic's integration collects (reference §2); it has no costs stream.
ELASTIC_USAGE = (
    "completions", "embeddings", "moderations", "images", "audio_speeches",
    "audio_transcriptions", "code_interpreter_sessions", "vector_stores",
)
PAGE_ITEMS = 100  # audit and directory lists: the documented maximum, used by both
TARGET = 1.05


def _pages(items: int, per_page: int) -> int:
    return max(1, math.ceil(items / per_page))


def _auto_pieces(since: int, until: int, now: int) -> list[tuple[int, int, BucketWidth]]:
    """The backfill's `auto` rule, restated: 1d older than 15 days, 1h older than a day, 1m."""
    day_edge = align_down(now - AUTO_DAY_AGE, BucketWidth.DAY)
    hour_edge = align_down(now - AUTO_HOUR_AGE, BucketWidth.HOUR)
    pieces = [
        (since, min(until, day_edge), BucketWidth.DAY),
        (max(since, day_edge), min(until, hour_edge), BucketWidth.HOUR),
        (max(since, hour_edge), until, BucketWidth.MINUTE),
    ]
    return [(a, b, w) for a, b, w in pieces if a < b]


def minimum_calls(
    stream: str, mode: str, since: int, until: int, *, audit_events: int, rate_limit_pages: int,
    spend_pages: int, governance_pages: int = 0,
) -> int:
    if stream == "audit":
        return _pages(audit_events, PAGE_ITEMS)
    if stream == "rate_limits":
        return rate_limit_pages
    if stream in ("spend_limits", "spend_alerts"):
        return spend_pages
    if stream == "governance":
        return governance_pages
    if stream == "costs":
        return _pages((until - since) // DAY, COSTS_MAX_LIMIT)
    if stream == "allocated_costs":  # per 31 days, at 1d: costs and the 10 usage endpoints
        return len(USAGE_ENDPOINTS) * _pages((until - since) // DAY, MAX_LIMIT[BucketWidth.DAY])
    if mode == "auto":
        pieces = _auto_pieces(since, until, NOW)
    else:
        pieces = [(since, until, BucketWidth(mode))]
    return sum(_pages((b - a) // w.seconds, MAX_LIMIT[w]) for a, b, w in pieces)


def elastic_calls(
    stream: str, mode: str, since: int, *, audit_events: int, rate_limit_pages: int
) -> int | None:
    if stream == "audit":
        return _pages(audit_events, PAGE_ITEMS)
    if stream == "rate_limits":
        return rate_limit_pages
    if stream not in ELASTIC_USAGE:
        return None
    width = BucketWidth.MINUTE if mode == "auto" else BucketWidth(mode)
    buckets = math.ceil((NOW - since) / width.seconds)  # up to now, the open bucket included
    return _pages(buckets, DEFAULT_LIMIT[width])


def _calls(stats: dict[str, dict[str, int]]) -> tuple[int, dict[str, int]]:
    by_template = {t: sum(counts.values()) for t, counts in stats.items()}
    errors = sum(
        n
        for template, counts in stats.items()
        for status, n in counts.items()
        # a project without a spend limit answers 404: the API's way of saying "none"
        if status != "200" and not (status == "404" and template.endswith("/spend_limit"))
    )
    if errors:
        raise RuntimeError(f"unexpected non-200 answers (no faults are injected): {stats}")
    return sum(by_template.values()), by_template


def run(sim: Simulator, *, size: str, seed: int, days: int, modes: list[str]) -> dict[str, Any]:
    since, until = END - days * DAY, END
    org = build_organization(seed, size)
    audit_events = len(org.audit_events(since, min(until, NOW), NOW))
    active = [p for p in org.directory.projects if p.get("status") != "archived"]
    rate_limit_pages = _pages(len(active), PAGE_ITEMS) + sum(
        _pages(len(org.directory.project_rate_limits[p["id"]]), PAGE_ITEMS) for p in active
    )
    # A spend snapshot lists the projects, reads the org's object, then each active project's.
    spend_pages = _pages(len(active), PAGE_ITEMS) + 1 + len(active)
    # A governance snapshot: the projects, the org's retention and certificates, then each
    # active project's retention, model and tool permissions and certificates.
    certificates = _pages(len(org.governance.certificates), PAGE_ITEMS)
    governance_pages = _pages(len(active), PAGE_ITEMS) + 1 + (1 + len(active)) * certificates
    governance_pages += 3 * len(active)
    settings = org_settings(sim.base_url, STREAM_NAMES, group_by=())
    out: dict[str, Any] = {
        "window": {"since": since, "until": until, "now": NOW, "days": days},
        "group_by": [],
        "audit_events": audit_events,
        "active_projects": len(active),
        "modes": {},
    }
    with runtime(settings) as rt:
        sim.reset()
        rt.names.refresh()
        out["directory_calls"], out["directory_by_template"] = _calls(sim.stats())
        for mode in modes:
            width = None if mode == "auto" else BucketWidth(mode)
            sink = MemorySink()
            rows: dict[str, Any] = {}
            for stream in STREAM_NAMES:
                sim.reset()
                result = backfill(rt, sink, [stream], since=since, until=until, width=width)
                calls, by_template = _calls(sim.stats())
                minimum = minimum_calls(
                    stream, mode, since, until,
                    audit_events=audit_events, rate_limit_pages=rate_limit_pages,
                    spend_pages=spend_pages, governance_pages=governance_pages,
                )
                rows[stream] = {
                    "calls": calls,
                    "minimum": minimum,
                    "elastic": elastic_calls(
                        stream, mode, since,
                        audit_events=audit_events, rate_limit_pages=rate_limit_pages,
                    ),
                    "documents": result.documents,
                    "by_template": by_template,
                    "met": calls <= minimum * TARGET,
                }
            calls = sum(r["calls"] for r in rows.values())
            minimum = sum(r["minimum"] for r in rows.values())
            both = [r for r in rows.values() if r["elastic"] is not None]
            out["modes"][mode] = {
                "streams": rows,
                "total_calls": calls,
                "total_minimum": minimum,
                "ratio_to_minimum": calls / minimum,
                "calls_on_streams_elastic_collects": sum(r["calls"] for r in both),
                "elastic_calls": sum(r["elastic"] for r in both),
                "met": all(r["met"] for r in rows.values()),
            }
    out["elastic_default_1m_usage_calls"] = sum(
        _pages(math.ceil((NOW - since) / 60), DEFAULT_LIMIT[BucketWidth.MINUTE])
        for stream in USAGE_ENDPOINTS if stream in ELASTIC_USAGE
    )
    out["target"] = f"calls <= minimum x {TARGET} for every stream and mode"
    out["met"] = all(m["met"] for m in out["modes"].values())
    return out
