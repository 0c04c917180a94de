"""What `run_setup` installs beyond the defaults: `SetupOptions`, and durations as Elasticsearch
writes them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

RuleParameters = Mapping[str, Mapping[str, float | int]]  # rule slug → parameter → number

_UNITS: Final = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1))


def duration_text(value: timedelta) -> str:
    """`value` as an Elasticsearch time unit (`400d`, `36h`, `1500ms`), in the largest unit
    that holds it exactly.

    ValueError for zero, a negative duration, or one finer than a millisecond.
    """
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    if micros <= 0 or micros % 1000:
        raise ValueError(f"a retention must be a positive whole number of milliseconds: {value}")
    millis = micros // 1000
    unit, size = next((u, s) for u, s in _UNITS if millis % s == 0)
    return f"{millis // size}{unit}"


@dataclass(frozen=True)
class SetupOptions:
    """What to install beyond the defaults, and where in Kibana.

    - `ilm`: also install the ILM policies and hand new backing indices to them (not on
      serverless); by default retention is the data stream lifecycle in the templates.
    - `rule_parameters`: rule slug → parameter → number, e.g.
      `{"monthly-budget": {"budget_usd": 5000}}` (see kibana/README.md). A rule that exists in
      Kibana keeps the parameters it holds there, unless `reset_rules`.
    - `kibana_space`: the Kibana space to install into; None is the default space.
    - `retention`: class (`metrics`, `audit`) → how long documents are kept, as Elasticsearch
      writes durations (`duration_text`); a class left out keeps the shipped retention.
    - `reset_rules`: overwrite the parameters of existing rules with `rule_parameters` (and the
      rules' defaults), discarding thresholds edited in Kibana.
    """

    ilm: bool = False
    rule_parameters: RuleParameters = field(default_factory=dict)
    kibana_space: str | None = None
    retention: Mapping[str, str] = field(default_factory=dict)
    reset_rules: bool = False
