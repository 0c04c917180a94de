"""The rate-limit section of `report`: each project's limits per model from the newest
`rate_limits` snapshot, and where per-minute usage is stored, the busiest minute of the last
day against them, as headroom.

OpenAI counts a model's limits over every endpoint a project calls it through, and over its
dated snapshots, so a minute's requests and tokens are summed over the usage streams that
carry the model and over the snapshots of it (`limited_model`). Only 1m buckets
tell a minute apart: a day collected at 1h or 1d has no peak (None), never an average posing as
one.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from poller.documents.fields import result_path
from poller.reporting import Reading, Window, newest_snapshot
from poller.streams import StreamKind, get_stream, streams_of_kind

__all__ = ["PEAK_SPAN", "LimitRow", "RateLimits", "build_rate_limits", "limited_model"]

PEAK_SPAN: Final = timedelta(days=1)
_RL: Final = "rate_limits"
_RPM: Final = f"openai.{_RL}.max_requests_per_1_minute"
_TPM: Final = f"openai.{_RL}.max_tokens_per_1_minute"
_PROJECT: Final = "openai.base.project_id"
_MODEL: Final = "openai.base.model"
_WIDTH: Final = "openai.base.bucket_width"
_REQUESTS: Final = "num_model_requests"
_TOKENS: Final = ("input_tokens", "output_tokens")
_SNAPSHOT: Final = re.compile(r"(.+?)-(?:\d{4}-\d{2}-\d{2}|\d{4})")


@dataclass(frozen=True)
class LimitRow:
    """One project's limits for one model (0: none of that kind, as OpenAI sends for image
    models' tokens); the peaks are None where no minute is known."""

    project_id: str
    project_name: str | None
    model: str
    rpm: int
    tpm: int
    peak_rpm: int | None = None
    peak_tpm: int | None = None

    @property
    def headroom(self) -> float | None:
        """The smaller share of a limit the busiest minute left unused (negative: over it)."""
        shares = [1.0 - peak / limit for limit, peak in ((self.rpm, self.peak_rpm),
                                                        (self.tpm, self.peak_tpm))
                  if limit and peak is not None]
        return min(shares) if shares else None


@dataclass(frozen=True)
class RateLimits:
    """`rows`: the limits, the least headroom first, then those with no peak known."""

    collected_at: datetime | None
    peaks: Window
    rows: tuple[LimitRow, ...]


def _streams() -> list[tuple[str, str, list[str]]]:
    """(stream, requests field, token fields) of each usage stream that carries the model."""
    found: list[tuple[str, str, list[str]]] = []
    for spec in streams_of_kind(StreamKind.USAGE):
        endpoint = get_stream(spec.name).usage
        if endpoint is None or "model" not in endpoint.dimensions:
            continue
        if _REQUESTS not in endpoint.metrics:
            continue
        tokens = [result_path(spec.name, m) for m in _TOKENS if m in endpoint.metrics]
        found.append((spec.name, result_path(spec.name, _REQUESTS), tokens))
    return found


def _limits(snapshot: Reading) -> list[LimitRow]:
    project = f"openai.{_RL}.project_id"
    rows = []
    for key, named in snapshot.sums_by(_RL, [], project, f"openai.{_RL}.project_name").items():
        if key is None:
            continue
        models = snapshot.matching({project: key}).sums_by(_RL, [_RPM, _TPM], f"openai.{_RL}.model")
        for model, sums in models.items():
            if model is None:
                continue
            rpm, tpm = (round(sums.values.get(f, 0.0)) for f in (_RPM, _TPM))
            rows.append(LimitRow(key, named.name, model, rpm, tpm))
    return rows


def limited_model(used: str, limited: Collection[str]) -> str | None:
    """The model whose limit a usage model counts against: itself, or for a dated snapshot
    (`gpt-4o-mini-2024-07-18`, `gpt-4-0613`) the model it is a snapshot of (`gpt-4o-mini`);
    None for a model without a limit of its own (`o3-pro` is not `o3`)."""
    if used in limited:
        return used
    dated = _SNAPSHOT.fullmatch(used)
    return dated.group(1) if dated and dated.group(1) in limited else None


def _peaks(read: Reading, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, int]]:
    """Per (project, model) of `pairs` with 1m usage: its busiest minute's requests and
    tokens (each its own busiest minute), over every usage model that counts against it."""
    models: dict[str, set[str]] = {}
    for owner, limited in pairs:
        models.setdefault(owner, set()).add(limited)
    per_minute: dict[tuple[str, str], dict[str | None, list[float]]] = {}
    minute = read.matching({_WIDTH: "1m"})
    for stream, requests, tokens in _streams():
        if not minute.count(stream):
            continue
        for project in minute.sums_by(stream, [], _PROJECT):
            if project is None:
                continue
            in_project = minute.matching({_PROJECT: project})
            for model in in_project.sums_by(stream, [], _MODEL):
                limit = None if model is None else limited_model(model, models.get(project, ()))
                if model is None or limit is None:
                    continue
                groups = in_project.matching({_MODEL: model}).sums_by(
                    stream, [requests, *tokens], "openai.base.start_time")
                into = per_minute.setdefault((project, limit), {})
                for at, sums in groups.items():
                    total = into.setdefault(at, [0.0, 0.0])
                    total[0] += sums.values.get(requests, 0.0)
                    total[1] += sum(sums.values.get(t, 0.0) for t in tokens)
    return {pair: (round(max(v[0] for v in minutes.values())),
                   round(max(v[1] for v in minutes.values())))
            for pair, minutes in per_minute.items() if minutes}


def build_rate_limits(read: Reading, end: datetime) -> RateLimits:
    """The newest snapshot in `read`'s window, and the peaks of the day before `end` (the
    window's end, or now)."""
    peaks = Window(end - PEAK_SPAN, end)
    snapshot = newest_snapshot(read, _RL, now=end)
    if snapshot is None:
        return RateLimits(None, peaks, ())
    limits = _limits(snapshot)
    found = _peaks(read.narrowed(peaks), {(r.project_id, r.model) for r in limits})
    rows = [LimitRow(r.project_id, r.project_name, r.model, r.rpm, r.tpm,
                     *found.get((r.project_id, r.model), (None, None))) for r in limits]
    rows.sort(key=lambda r: (r.headroom is None, r.headroom or 0.0, r.project_id, r.model))
    return RateLimits(snapshot.window.start, peaks, tuple(rows))

