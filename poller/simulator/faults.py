"""Fault injection: which fault, if any, a request gets, and how a fault rewrites a response.

A `FaultPlan` comes from `--faults` (`kind=probability,...`). Each request draws once from an RNG
seeded with `--seed`, so the same seed and the same request order give the same faults in every
run; the kinds are mutually exclusive, so each kind happens with exactly its probability.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from poller.simulator.model import JSON

__all__ = [
    "DRIFT_COUNTER",
    "DRIFT_DIMENSION",
    "DRIFT_FIELD",
    "DRIFT_FIELDS",
    "FAULT_KINDS",
    "FaultInjector",
    "FaultPlan",
    "drift",
    "drift_counter",
    "truncate",
]

FAULT_KINDS: Final = ("429", "500", "502", "503", "timeout", "malformed", "drift")
DRIFT_FIELD: Final = "sim_drift"  # an unknown field a drifted response adds to every object
_DRIFT_VALUE: Final = "a field this client does not know yet"
# The API's next fields, as a newer API would send them on usage results: a new dimension on
# every usage result, and a new counter on completions results (derived from input_tokens, so
# a test can tell the exact value each document must hold).
DRIFT_DIMENSION: Final = ("api_source", "responses")
DRIFT_COUNTER: Final = "input_cache_write_30m_tokens"
DRIFT_FIELDS: Final = (DRIFT_FIELD, DRIFT_DIMENSION[0], DRIFT_COUNTER)  # every key drift adds
_USAGE_RESULT: Final = "organization.usage."
_COMPLETIONS_RESULT: Final = "organization.usage.completions.result"


def drift_counter(input_tokens: int) -> int:
    """The `DRIFT_COUNTER` a drifted completions result with `input_tokens` carries."""
    return input_tokens // 10


@dataclass(frozen=True)
class FaultPlan:
    """Probability per fault kind; kinds absent from the plan never happen."""

    probabilities: tuple[tuple[str, float], ...] = ()

    @classmethod
    def parse(cls, spec: str) -> FaultPlan:
        """Parse `429=0.1,timeout=0.05`; a ValueError says what is wrong, in one line."""
        if not spec.strip():
            return cls()
        seen: dict[str, float] = {}
        for item in spec.split(","):
            kind, sep, raw = (part.strip() for part in item.partition("="))
            if not sep or not kind:
                raise ValueError(f"invalid item {item.strip()!r}: expected kind=probability")
            if kind not in FAULT_KINDS:
                raise ValueError(
                    f"unknown fault kind {kind!r}; choose from: {', '.join(FAULT_KINDS)}"
                )
            if kind in seen:
                raise ValueError(f"fault kind {kind!r} is given twice")
            try:
                probability = float(raw)
            except ValueError:
                raise ValueError(f"probability of {kind!r} is not a number: {raw!r}") from None
            if not (math.isfinite(probability) and 0.0 <= probability <= 1.0):
                raise ValueError(f"probability of {kind!r} must be between 0 and 1, got {raw}")
            seen[kind] = probability
        total = math.fsum(seen.values())
        if total > 1.0 + 1e-9:
            raise ValueError(
                f"probabilities add up to {total:g}; at most 1 (a request gets one fault at most)"
            )
        return cls(tuple(seen.items()))


class FaultInjector:
    """Draws the fault for each request from a seeded RNG; thread-safe."""

    def __init__(self, plan: FaultPlan, seed: int) -> None:
        self._plan = plan
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def draw(self) -> str | None:
        """The fault kind for the next request, or None. One RNG draw per request."""
        if not self._plan.probabilities:
            return None
        with self._lock:
            point = self._rng.random()
        threshold = 0.0
        for kind, probability in self._plan.probabilities:
            threshold += probability
            if point < threshold:
                return kind
        return None


def drift(body: JSON) -> JSON:
    """The same answer as a newer API might send it: unknown fields, costs' value as a string.

    Adds `DRIFT_FIELD` to the envelope, to every item of `data` and to every result of a bucket;
    adds `DRIFT_DIMENSION` to every usage result and `DRIFT_COUNTER` to every completions
    result; turns `amount.value` into a decimal string (`"12.50"`), as the live costs API has
    been seen to do. Everything else is untouched, so a tolerant client reads the same facts.
    """
    drifted = _with_extra(body)
    data = body.get("data")
    if isinstance(data, list):
        drifted["data"] = [_drift_item(item) for item in data]
    return drifted


def _drift_item(item: Any) -> Any:
    if not isinstance(item, dict):
        return item
    drifted = _with_extra(item)
    results = item.get("results")
    if isinstance(results, list):
        drifted["results"] = [_drift_result(result) for result in results]
    return drifted


def _drift_result(result: Mapping[str, Any]) -> JSON:
    drifted = _with_extra(result)
    kind = result.get("object")
    if isinstance(kind, str) and kind.startswith(_USAGE_RESULT):
        name, value = DRIFT_DIMENSION
        drifted[name] = value
    if kind == _COMPLETIONS_RESULT and isinstance(result.get("input_tokens"), int):
        drifted[DRIFT_COUNTER] = drift_counter(result["input_tokens"])
    amount = result.get("amount")
    if isinstance(amount, dict) and isinstance(amount.get("value"), int | float):
        drifted["amount"] = {**amount, "value": _decimal_string(amount["value"])}
    return drifted


def _with_extra(obj: Mapping[str, Any]) -> JSON:
    return {**obj, DRIFT_FIELD: _DRIFT_VALUE}


def _decimal_string(value: float) -> str:
    """`12.5` → `"12.50"`: at least two decimals, never an exponent, no precision lost."""
    exact = Decimal(repr(value))
    exponent = exact.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        exact = exact.quantize(Decimal("0.01"))
    return format(exact, "f")


def truncate(payload: bytes) -> bytes:
    """A body cut off mid-way, as a dropped connection or a buggy proxy delivers it: never JSON."""
    return payload[: max(1, len(payload) // 2)]
