"""The traffic plan: every finest-grain row ("combo") of every usage stream, and its source.

Each API key runs an *app* (chat, RAG, agent, voice, creative, batch pipeline, developer
experiments); an app is a recipe of *lines* of traffic, and a line walks a model ladder (see
org_models.py), one combo per rung. A combo's dimensions are fixed, so an `api_key_id` always
comes with its project and owner, and its `user_id` is None for service-account keys.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from poller.simulator.model import Dims
from poller.simulator.org_activity import Source
from poller.simulator.org_metrics import LEAVES
from poller.simulator.org_models import LADDERS, PROMPT_CACHING_DAY, TIER_LAUNCH_DAY, Ladder
from poller.simulator.org_profiles import CountProfile, Profile, StorageProfile, TokenProfile
from poller.simulator.org_rng import make_rng
from poller.simulator.org_roster import ApiKey, Member, Project, Roster
from poller.simulator.org_sizes import SizeProfile
from poller.simulator.org_time import day_index, day_of
from poller.streams import USAGE_ENDPOINTS

__all__ = ["OPEN_END", "Combo", "Plan", "plan_traffic"]

OPEN_END: Final = 10**9  # a day index no history reaches
_NEVER: Final = OPEN_END
_BATCH_API_DAY: Final = day_index("2024-04-15")


@dataclass(frozen=True)
class Combo:
    dims: Dims  # in the order of UsageEndpoint.dimensions
    source: int  # index into Plan.sources
    first_day: int
    end_day: int  # exclusive
    profile: Profile


@dataclass(frozen=True)
class Plan:
    sources: tuple[Source, ...]
    combos: Mapping[str, tuple[Combo, ...]]  # per usage stream


@dataclass(frozen=True)
class _Line:
    ladder: str  # a LADDERS name; "name*" picks the alias or the snapshot variant
    chance: float
    weight: float  # share of the key's volume
    batch: bool = False


_RECIPES: Final = {
    "chat": (
        _Line("mini*", 1.0, 2.0),
        _Line("flagship*", 0.8, 1.0),
        _Line("reasoning-mini", 0.3, 0.3),
        _Line("moderation", 1.0, 1.5),
        _Line("embed-small", 0.2, 0.5),
    ),
    "rag": (
        _Line("embed-small", 1.0, 3.0),
        _Line("mini*", 1.0, 2.0),
        _Line("flagship*", 0.5, 0.6),
        _Line("embed-large", 0.3, 1.0),
        _Line("file-search", 1.0, 1.0),
        _Line("web-search-mini", 0.3, 0.3),
    ),
    "agent": (
        _Line("flagship*", 1.0, 1.0),
        _Line("web-search", 1.0, 0.5),
        _Line("reasoning", 0.6, 0.2),
        _Line("reasoning-mini", 0.5, 0.6),
        _Line("file-search", 0.5, 0.5),
        _Line("code-interpreter", 1.0, 0.3),
    ),
    "voice": (
        _Line("realtime", 1.0, 0.3),
        _Line("tts", 1.0, 1.0),
        _Line("stt", 1.0, 1.0),
        _Line("mini*", 0.6, 1.0),
        _Line("tts-hd", 0.3, 0.3),
        _Line("stt-mini", 0.3, 0.5),
    ),
    "creative": (
        _Line("image-square", 1.0, 1.0),
        _Line("mini*", 0.7, 1.0),
        _Line("image-landscape", 0.6, 0.5),
        _Line("image-portrait", 0.5, 0.4),
        _Line("image-edit", 0.4, 0.3),
        _Line("image-variation", 0.2, 0.2),
        _Line("image-tokens", 0.4, 0.2),
    ),
    "batch": (
        _Line("mini*", 1.0, 3.0, batch=True),
        _Line("flagship*", 0.6, 1.0, batch=True),
        _Line("embed-small", 0.5, 2.0),
    ),
    "dev": (
        _Line("flagship*", 1.0, 1.0),
        _Line("mini*", 0.6, 1.0),
        _Line("reasoning-mini", 0.3, 0.5),
        _Line("embed-small", 0.2, 0.5),
        _Line("web-search-mini", 0.2, 0.3),
    ),
}
_FINE_TUNED_LINE: Final = _Line("fine-tuned", 1.0, 0.6)

# Driver units per day for a key of intensity 1 at activity 1.
_BASE_RATE: Final = {
    "completions": 1200.0,
    "embeddings": 1500.0,
    "moderations": 1500.0,
    "images": 40.0,
    "audio_speeches": 150.0,
    "audio_transcriptions": 120.0,
    "web_search_calls": 150.0,
    "file_search_calls": 300.0,
    "code_interpreter_sessions": 60.0,
}
# (input, output) tokens per request by ladder family.
_TOKENS: Final = {
    "flagship": (1800.0, 350.0),
    "mini": (900.0, 200.0),
    "reasoning": (2500.0, 1200.0),
    "reasoning-mini": (1500.0, 900.0),
    "realtime": (1500.0, 400.0),
    "image-tokens": (300.0, 4200.0),
    "fine-tuned": (700.0, 120.0),
}
# Further counters per driver unit: tokens, images, characters, seconds, searches per request.
_PER_UNIT: Final[dict[str, Callable[[random.Random], tuple[float, ...]]]] = {
    "embeddings": lambda rng: (600.0 * rng.lognormvariate(0, 0.5),),
    "moderations": lambda rng: (300.0 * rng.lognormvariate(0, 0.5),),
    "images": lambda rng: (rng.uniform(1.2, 2.0),),
    "audio_speeches": lambda rng: (600.0 * rng.lognormvariate(0, 0.4),),
    "audio_transcriptions": lambda rng: (90.0 * rng.lognormvariate(0, 0.5),),
    "web_search_calls": lambda rng: (rng.uniform(1.1, 2.2),),
}
_TIERS: Final = ("default", "priority", "flex", "scale")
_TIER_WEIGHTS: Final = (0.8, 0.06, 0.09, 0.05)
_UNCACHED: Final = ("gpt-3.5", "gpt-4-turbo", "gpt-4o-2024-05-13")


def plan_traffic(seed: int, size: SizeProfile, roster: Roster) -> Plan:
    rng = make_rng(seed, size.name, "traffic")
    builder = _Builder(rng, size)
    keys = roster.keys
    fine_tuned_key = next((key for key in keys if key.app == "chat"), keys[0])
    for project in roster.projects:
        builder.project(project, fine_tuned_key)
    return Plan(
        sources=tuple(builder.sources),
        combos={stream: tuple(combos) for stream, combos in builder.combos.items()},
    )


def _first_day(t: int) -> int:
    """The first whole day after `t`: objects exist before their first usage."""
    return day_of(t) + 1


class _Builder:
    def __init__(self, rng: random.Random, size: SizeProfile) -> None:
        self.rng = rng
        self.size = size
        self.sources: list[Source] = []
        self.combos: dict[str, list[Combo]] = {stream: [] for stream in LEAVES}

    def _source(self, source: Source) -> int:
        self.sources.append(source)
        return len(self.sources) - 1

    def project(self, project: Project, fine_tuned_key: ApiKey) -> None:
        end = project.end_day or OPEN_END
        first = _first_day(project.created_at)
        project_source = self._source(Source("project", first, end))
        streams: set[str] = set()
        for key in project.keys:
            lines = [line for line in _RECIPES[key.app] if self._keeps(line)]
            if key is fine_tuned_key:
                lines.append(_FINE_TUNED_LINE)
            kind = "user" if isinstance(key.owner, Member) else "service"
            source = self._source(Source(kind, _first_day(key.created_at), end))
            for line in lines:
                ladder = self._ladder(line.ladder)
                streams.add(ladder.stream)
                if ladder.stream != "code_interpreter_sessions":
                    self._line(project, key, source, line, ladder)
        if "code_interpreter_sessions" in streams:
            rate = _BASE_RATE["code_interpreter_sessions"] * self.size.intensity
            self._add(
                "code_interpreter_sessions",
                {"project_id": project.id},
                project_source,
                (first, end),
                CountProfile(rate * self.rng.lognormvariate(0, 0.6), ()),
            )
        if "file_search_calls" in streams:
            start = max(first, LADDERS["vector-store"].steps[0].from_day)
            storage = StorageProfile(
                base_bytes=self.rng.lognormvariate(19.5, 1.2),  # ~300 MB, from MBs to GBs
                growth_per_day=self.rng.uniform(0.002, 0.01),
                first_day=start,
            )
            self._add(
                "vector_stores", {"project_id": project.id}, project_source, (start, end), storage
            )

    def _keeps(self, line: _Line) -> bool:
        """Certain lines always run; smaller organizations run fewer of the optional ones."""
        return line.chance >= 1.0 or self.rng.random() < line.chance * self.size.lines_per_key

    def _ladder(self, name: str) -> Ladder:
        if name.endswith("*"):
            name = name[:-1] + ("-alias" if self.rng.random() < 0.5 else "")
        return LADDERS[name]

    def _line(
        self, project: Project, key: ApiKey, source: int, line: _Line, ladder: Ladder
    ) -> None:
        """One combo per rung the line reaches, each used until the line moves on."""
        rng = self.rng
        dims: dict[str, str | bool | None] = {
            "project_id": project.id,
            "user_id": key.user_id,
            "api_key_id": key.id,
        }
        not_before = _first_day(key.created_at)
        if ladder.stream == "completions":
            tier = "default" if line.batch else rng.choices(_TIERS, _TIER_WEIGHTS)[0]
            dims |= {"batch": line.batch, "service_tier": tier}
            not_before = max(not_before, TIER_LAUNCH_DAY[tier])
            if line.batch:
                not_before = max(not_before, _BATCH_API_DAY)
        elif ladder.stream == "web_search_calls":
            dims["context_level"] = rng.choices(("low", "medium", "high"), (0.25, 0.55, 0.2))[0]
        elif ladder.stream == "file_search_calls":
            dims["vector_store_id"] = rng.choice(project.vector_store_ids)
        lag = rng.randint(0, 120)
        steps = ladder.steps[: self._rungs(ladder)]
        starts = [max(not_before, step.from_day + lag) for step in steps]
        ends = [*starts[1:], project.end_day or OPEN_END]
        rate = _BASE_RATE[ladder.stream] * key.intensity * line.weight * self.size.intensity
        for step, start, end in zip(steps, starts, ends, strict=True):
            if start < end:
                step_dims = dims | dict(step.extras) | ({"model": step.model} if step.model else {})
                profile = self._profile(ladder, line, step.model, rate)
                self._add(ladder.stream, step_dims, source, (start, end), profile)

    def _rungs(self, ladder: Ladder) -> int:
        """How far up its ladder a line climbs: some stay on an older, non-legacy model."""
        steps = ladder.steps
        reached = 1
        while reached < len(steps) and (steps[reached - 1].legacy or self.rng.random() > 0.08):
            reached += 1
        return reached

    def _profile(self, ladder: Ladder, line: _Line, model: str | None, rate: float) -> Profile:
        if ladder.stream == "completions":
            return self._tokens(line, model or "", rate)
        draw = _PER_UNIT.get(ladder.stream)
        return CountProfile(rate, draw(self.rng) if draw else (), spread=0.15)

    def _tokens(self, line: _Line, model: str, rate: float) -> TokenProfile:
        rng = self.rng
        family = line.ladder.rstrip("*")
        tokens_in, tokens_out = _TOKENS[family]
        image_in = 0.5 if family == "image-tokens" else 0.0
        if family in ("flagship", "mini") and rng.random() < 0.25:  # a vision app
            image_in = rng.uniform(0.1, 0.35)
        return TokenProfile(
            rate=rate,
            input_per_request=tokens_in * rng.lognormvariate(0, 0.4) * (2.0 if line.batch else 1.0),
            output_per_request=tokens_out * rng.lognormvariate(0, 0.4),
            cached_share=rng.uniform(0.1, 0.6),
            caching_from_day=_NEVER if model.startswith(_UNCACHED) else PROMPT_CACHING_DAY,
            cache_write_share=rng.uniform(0.01, 0.04) if model.startswith("gpt-5") else 0.0,
            audio_in_share=0.75 if family == "realtime" else 0.0,
            image_in_share=image_in,
            audio_out_share=0.85 if family == "realtime" else 0.0,
            image_out_share=1.0 if family == "image-tokens" else 0.0,
        )

    def _add(
        self,
        stream: str,
        dims: Mapping[str, str | bool | None],
        source: int,
        period: tuple[int, int],
        profile: Profile,
    ) -> None:
        ordered = tuple(dims.get(name) for name in USAGE_ENDPOINTS[stream].dimensions)
        self.combos[stream].append(Combo(ordered, source, period[0], period[1], profile))
