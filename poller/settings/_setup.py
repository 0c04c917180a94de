"""What `setup` installs beyond the defaults, with which credentials, and the alert thresholds.

`setup` runs rarely, by an operator, with more privileges than the daemon needs (templates,
lifecycle, Kibana): it takes its own credentials here, so the daemon's key can stay a writer's.
Every threshold of the shipped Kibana rules is a setting of `alerts`, tagged with the rule and
parameter it fills (`rule_parameters`); a unit test keeps them equal to the rules' own defaults.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Final

from pydantic import AfterValidator, Field, model_validator

from poller.settings._validate import Frozen, PositiveDuration, Secret, Syntax, _matching

__all__ = ["AlertSettings", "RetentionSettings", "SetupSettings"]

# Each alert setting's json_schema_extra names the rule and the parameter it fills.
_RULE: Final = "rule"
_PARAMETER: Final = "parameter"


KibanaSpace = Annotated[
    str,
    AfterValidator(_matching(r"[a-z0-9_-]+", "Kibana space id", "use a-z, 0-9, '_' or '-'")),
    Syntax("space id", "lowercase letters, digits, `_` or `-`, as in Kibana's URLs (`/s/<id>`)"),
]
Usd = Annotated[
    float,
    Field(ge=0, allow_inf_nan=False),
    Syntax("USD", "a number of US dollars, `0` or more: `1000`, `49.5`"),
]
Factor = Annotated[
    float,
    Field(gt=0, allow_inf_nan=False),
    Syntax("factor", "a number above `0`: `3`, `1.5`"),
]
Fraction = Annotated[
    float,
    Field(gt=0, le=1, allow_inf_nan=False),
    Syntax("fraction", "a number above `0`, at most `1`: `0.8` is 80 %"),
]
Tokens = Annotated[int, Field(ge=0), Syntax("tokens", "a whole number of tokens, `0` or more")]
Events = Annotated[int, Field(ge=1), Syntax("count", "a whole number, `1` or more")]


class RetentionSettings(Frozen):
    """How long data streams keep documents: the data stream lifecycle, or ILM with `ilm`."""

    metrics: PositiveDuration = Field(
        default=timedelta(days=400),
        description="Retention of the usage, costs and rate-limit data streams: 13 months "
        "compare a month with the same month last year.",
    )
    audit: PositiveDuration = Field(
        default=timedelta(days=730),
        description="Retention of the audit data streams: two years of audit trail.",
    )


class SetupSettings(Frozen):
    """`setup`'s own credentials and choices; the daemon never reads them."""

    elasticsearch_api_key: Secret | None = Field(
        default=None,
        description="API key `setup` uses for Elasticsearch and Kibana (the encoded key, or "
        "`id:key`), with the setup privileges of docs/elasticsearch-privileges.md; "
        "`--es-api-key-file` overrides it. Kibana rules run as this identity. Unset (and no "
        "`elasticsearch_username`), setup uses the daemon's `elasticsearch` credentials.",
    )
    elasticsearch_username: str | None = Field(
        default=None,
        description="User `setup` authenticates as instead of an API key; needs "
        "`elasticsearch_password`.",
    )
    elasticsearch_password: Secret | None = Field(
        default=None, description="Password of `elasticsearch_username`."
    )
    ilm: bool = Field(
        default=False,
        description="Install the ILM policies and hand new backing indices to them (not on "
        "serverless); otherwise retention is the data stream lifecycle.",
    )
    kibana_space: KibanaSpace | None = Field(
        default=None,
        description="Kibana space the dashboards and rules go into; unset, the default space.",
    )
    retention: RetentionSettings = Field(
        default=RetentionSettings(),
        description="How long documents are kept, per class of stream. setup writes it into "
        "the templates, the existing data streams and (with `ilm`) the ILM policies.",
    )

    @model_validator(mode="after")
    def _one_way_to_authenticate(self) -> SetupSettings:
        if (self.elasticsearch_username is None) != (self.elasticsearch_password is None):
            raise ValueError(
                "set both elasticsearch_username and elasticsearch_password, or neither"
            )
        if self.elasticsearch_api_key is not None and self.elasticsearch_username is not None:
            raise ValueError(
                "set either elasticsearch_api_key or elasticsearch_username and password, "
                "not both"
            )
        return self


def _threshold(
    rule: str, parameter: str, default: float, description: str, *, also: tuple[str, ...] = ()
) -> Any:
    """`also`: further rules that take the same parameter."""
    rules = ", ".join(f"`{name}`" for name in (rule, *also))
    return Field(
        default=default,
        description=f"Rule{'s' if also else ''} {rules}: {description}",
        json_schema_extra={_RULE: ",".join((rule, *also)), _PARAMETER: parameter},
    )


class AlertSettings(Frozen):
    """Thresholds of the Kibana rules `setup` creates. A rule that exists keeps the thresholds
    set on it in Kibana unless `setup --reset-rules`."""

    monthly_budget_usd: Usd = _threshold(
        "monthly-budget",
        "budget_usd",
        1000,
        "alert when the billed cost of the calendar month so far (UTC) reaches this; set a "
        "fraction of the budget for an early warning. The spend-limit rules take it as the "
        "organization's limit where OpenAI reports none.",
        also=("spend-limit-forecast", "spend-limit-reached"),
    )
    spend_spike_factor: Factor = _threshold(
        "spend-spike",
        "spike_factor",
        3,
        "alert when a project's billed cost of yesterday is more than this many times its "
        "daily average of the 7 days before.",
    )
    spend_spike_min_daily_usd: Usd = _threshold(
        "spend-spike",
        "min_daily_usd",
        50,
        "and yesterday's cost is at least this much, so small projects do not alert.",
    )
    high_usage_cost_usd: Usd = _threshold(
        "high-usage-cost",
        "threshold",
        100,
        "alert when a model's estimated cost over 5 minutes exceeds this.",
    )
    high_completion_tokens: Tokens = _threshold(
        "high-completion-tokens",
        "threshold",
        10000,
        "alert when a model's completion (output) tokens over 5 minutes exceed this.",
    )
    high_prompt_tokens: Tokens = _threshold(
        "high-prompt-tokens",
        "threshold",
        5000,
        "alert when a model's prompt (input) tokens over 5 minutes exceed this.",
    )
    high_total_tokens: Tokens = _threshold(
        "high-total-tokens",
        "threshold",
        15000,
        "alert when a model's tokens of all kinds over 5 minutes exceed this.",
    )
    rate_limit_utilization: Fraction = _threshold(
        "rate-limit-headroom",
        "utilization",
        0.8,
        "alert when the busiest minute of a project and model used this share of its "
        "tokens-per-minute limit (the headroom left is the rest).",
    )
    failed_login_burst_size: Events = _threshold(
        "failed-login-burst",
        "min_failures",
        5,
        "alert on this many failed logins of an organization within 15 minutes.",
    )
    admin_key_created_min_events: Events = _threshold(
        "admin-key-created",
        "min_events",
        1,
        "alert when this many admin API keys were created within an hour.",
    )
    role_change_min_events: Events = _threshold(
        "role-or-owner-change",
        "min_events",
        1,
        "alert when this many role or owner changes happened within an hour.",
    )

    def rule_parameters(self) -> dict[str, dict[str, float | int]]:
        """Rule slug → parameter → value, as `setup` fills the rules in.

        Whole numbers are ints, so `1000.0` renders as the rules' own `1000` and a threshold
        configured to its default compares equal to the installed rule.
        """
        out: dict[str, dict[str, float | int]] = {}
        for name, field in type(self).model_fields.items():
            extra = field.json_schema_extra
            if not isinstance(extra, dict):
                raise TypeError(f"alerts.{name} names no rule: declare it with _threshold")
            value: float | int = getattr(self, name)
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            for rule in str(extra[_RULE]).split(","):
                out.setdefault(rule, {})[str(extra[_PARAMETER])] = value
        return out
