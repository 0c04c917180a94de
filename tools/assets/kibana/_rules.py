"""The alerting rules: Kibana `.es-query` rules (query DSL or ES|QL) with `${name}` parameters.

Five follow Grafana's openai-mixin alerts (one, LongRequestDuration, replaced by rate-limit
headroom: the Usage API reports no durations); five more watch spend and security. Usage rules
read their window late by the time usage takes to arrive (see `_common`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from poller.assets import INGESTED_FIELD
from tools.assets.kibana._audit import ROLE_ACTIONS
from tools.assets.kibana._common import (
    AUDIT_OFFSET_MINUTES,
    DATA_VIEW_TITLE,
    USAGE_OFFSET_MINUTES,
    dumps,
    stable_id,
)


@dataclass(frozen=True)
class Rule:
    """A Kibana `.es-query` rule as a POST body with `${name}` parameters and their defaults."""

    slug: str
    name: str
    tags: tuple[str, ...]
    interval: str
    params: Mapping[str, Any]
    parameters: Mapping[str, float | int]
    description: str

    @property
    def rule_id(self) -> str:
        return stable_id("rule", self.slug)

    def document(self) -> dict[str, Any]:
        return {
            "id": self.rule_id,
            "description": self.description,
            "parameters": dict(self.parameters),
            "body": {
                "name": self.name,
                "tags": ["openai-poller", *self.tags],
                "rule_type_id": ".es-query",
                "consumer": "stackAlerts",
                "schedule": {"interval": self.interval},
                "params": dict(self.params),
                "actions": [],
            },
        }


def _window(offset: int, size: int) -> dict[str, Any]:
    return {"range": {"@timestamp": {"gte": f"now-{offset + size}m/m", "lt": f"now-{offset}m/m"}}}


def _dsl(
    *filters: Mapping[str, Any],
    agg: tuple[str, str] | None,
    group: str,
    threshold: str,
    comparator: str,
    window: tuple[int, str],
    time_field: str = "@timestamp",
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "searchType": "esQuery",
        "esQuery": dumps({"query": {"bool": {"filter": list(filters)}}}),
        "index": [DATA_VIEW_TITLE],
        "timeField": time_field,
        "timeWindowSize": window[0],
        "timeWindowUnit": window[1],
        "threshold": [threshold],
        "thresholdComparator": comparator,
        "size": 0,
        "groupBy": "top",
        "termField": group,
        "termSize": 20,
        "excludeHitsFromPreviousRun": False,
    }
    if agg:
        params["aggType"], params["aggField"] = agg
    else:
        params["aggType"] = "count"
    return params


def _usage_rule(
    *,
    slug: str,
    mixin: str,
    severity: str,
    title: str,
    field_path: str,
    default: float,
    dataset: str | None,
) -> Rule:
    filters: list[Mapping[str, Any]] = [{"term": {"openai.base.bucket_width": "1m"}}]
    if dataset:
        filters.insert(0, {"term": {"data_stream.dataset": f"openai.{dataset}"}})
    filters.append(_window(USAGE_OFFSET_MINUTES, 5))
    return Rule(
        slug=slug,
        name=f"[OpenAI poller] {title}",
        tags=(f"mixin:{mixin}", f"severity:{severity}"),
        interval="5m",
        params=_dsl(
            *filters,
            agg=("sum", field_path),
            group="openai.base.model",
            threshold="${threshold}",
            comparator=">",
            window=(USAGE_OFFSET_MINUTES + 10, "m"),
        ),
        parameters={"threshold": default},
        description=(
            f"Grafana openai-mixin {mixin}, with real semantics: sum of {field_path} per model "
            f"over 5 minutes of 1-minute buckets, read {USAGE_OFFSET_MINUTES} minutes late so the "
            "buckets have arrived."
        ),
    )


_HEADROOM_ESQL: Final = """FROM logs-openai.*
| WHERE @timestamp >= NOW() - 70 minutes AND @timestamp < NOW() - 10 minutes
| WHERE event.dataset == "openai.rate_limits"
    OR (event.dataset IN ("openai.completions", "openai.embeddings", "openai.moderations")
        AND openai.base.bucket_width == "1m")
| EVAL project = COALESCE(openai.rate_limits.project_id, openai.base.project_id),
       model = REPLACE(COALESCE(openai.rate_limits.model, openai.base.model),
                       "-[0-9]{4}-[0-9]{2}-[0-9]{2}$", ""),
       tokens = COALESCE(openai.base.usage_tokens, TO_LONG(0))
| STATS used = SUM(tokens), tpm_limit = MAX(openai.rate_limits.max_tokens_per_1_minute)
    BY organization.id, project, model, minute = BUCKET(@timestamp, 1 minute)
| STATS peak_tpm = MAX(used), tpm_limit = MAX(tpm_limit) BY organization.id, project, model
| WHERE tpm_limit > 0 AND peak_tpm >= tpm_limit * ${utilization}
| EVAL utilization = ROUND(TO_DOUBLE(peak_tpm) / tpm_limit, 3)
| SORT utilization DESC
| LIMIT 100"""

_SPIKE_ESQL: Final = """FROM logs-openai.*
| WHERE event.dataset == "openai.costs" AND @timestamp >= DATE_TRUNC(1 day, NOW()) - 8 days
| EVAL day = DATE_TRUNC(1 day, @timestamp),
       project = COALESCE(openai.base.project_name, openai.base.project_id, "(no project)")
| STATS spend = SUM(openai.costs.amount.value) BY organization.id, project, day
| EVAL last_spend = CASE(day == DATE_TRUNC(1 day, NOW()) - 1 day, spend, 0.0),
       week_spend = CASE(day < DATE_TRUNC(1 day, NOW()) - 1 day, spend, 0.0)
| STATS last_day = SUM(last_spend), week = SUM(week_spend) BY organization.id, project
| EVAL baseline = week / 7
| WHERE last_day >= ${min_daily_usd} AND last_day > baseline * ${spike_factor}
| SORT last_day DESC
| LIMIT 100"""


def _esql(query: str, window: tuple[int, str]) -> dict[str, Any]:
    return {
        "searchType": "esqlQuery",
        "esqlQuery": {"esql": query},
        "timeField": "@timestamp",
        "timeWindowSize": window[0],
        "timeWindowUnit": window[1],
        "threshold": [0],
        "thresholdComparator": ">",
        "size": 100,
    }


def _audit_term(field_path: str, value: str) -> dict[str, Any]:
    return {"term": {field_path: value}}


def rules() -> list[Rule]:
    audit = _audit_term("data_stream.dataset", "openai.audit")
    owner_grants = [
        _audit_term("openai.audit.user.added.data.role", "owner"),
        _audit_term("openai.audit.user.updated.changes_requested.role", "owner"),
        _audit_term("openai.audit.invite.sent.data.role", "owner"),
        _audit_term("openai.audit.service_account.created.data.role", "owner"),
        _audit_term("openai.audit.service_account.updated.changes_requested.role", "owner"),
    ]
    role_types = [a for a in ROLE_ACTIONS if a.startswith("role.")] + ["user.updated"]
    role_actions = {"terms": {"openai.audit.type": role_types}}
    return [
        _usage_rule(
            slug="high-completion-tokens",
            mixin="HighCompletionTokensUsage",
            severity="critical",
            title="High completion tokens per model (5 min)",
            field_path="openai.completions.output_tokens",
            default=10000,
            dataset="completions",
        ),
        _usage_rule(
            slug="high-prompt-tokens",
            mixin="HighPromptTokensUsage",
            severity="warning",
            title="High prompt tokens per model (5 min)",
            field_path="openai.completions.input_tokens",
            default=5000,
            dataset="completions",
        ),
        _usage_rule(
            slug="high-total-tokens",
            mixin="HighTotalTokensUsage",
            severity="critical",
            title="High total tokens per model (5 min)",
            field_path="openai.base.usage_tokens",
            default=15000,
            dataset=None,
        ),
        _usage_rule(
            slug="high-usage-cost",
            mixin="HighUsageCost",
            severity="critical",
            title="High estimated cost per model (5 min)",
            field_path="openai.base.cost_estimate_usd",
            default=100,
            dataset=None,
        ),
        Rule(
            slug="rate-limit-headroom",
            name="[OpenAI poller] Rate limit headroom low (TPM)",
            tags=("replaces:LongRequestDuration", "severity:warning"),
            interval="5m",
            params=_esql(_HEADROOM_ESQL, (75, "m")),
            parameters={"utilization": 0.8},
            description=(
                "Replaces the mixin's LongRequestDuration, which the Usage API cannot support (it "
                "reports no durations). Fires per organization, project and model when the peak "
                "minute of token use in the last settled hour reaches `utilization` of the "
                "project's tokens-per-minute limit, the point where requests start to be "
                "throttled (429) and retried. Needs 1m usage buckets and the rate_limits stream."
            ),
        ),
        Rule(
            slug="monthly-budget",
            name="[OpenAI poller] Month-to-date spend over budget",
            tags=("severity:critical", "cost"),
            interval="1h",
            params={
                **_dsl(
                    _audit_term("data_stream.dataset", "openai.costs"),
                    {"range": {"@timestamp": {"gte": "now/M"}}},
                    agg=("sum", "openai.costs.amount.value"),
                    group="organization.id",
                    threshold="${budget_usd}",
                    comparator=">=",
                    window=(32, "d"),
                ),
            },
            parameters={"budget_usd": 1000},
            description=(
                "Billed cost (Costs API, USD) of the current calendar month (UTC) per organization "
                "reached `budget_usd`. Set it to a fraction of the budget for an early warning."
            ),
        ),
        Rule(
            slug="spend-spike",
            name="[OpenAI poller] Daily spend spike per project",
            tags=("severity:warning", "cost"),
            interval="1h",
            params=_esql(_SPIKE_ESQL, (9, "d")),
            parameters={"spike_factor": 3, "min_daily_usd": 50},
            description=(
                "Yesterday's billed cost (UTC day) of a project is at least `min_daily_usd` and "
                "more than `spike_factor` times its average over the 7 days before."
            ),
        ),
        Rule(
            slug="admin-key-created",
            name="[OpenAI poller] Admin API key created",
            tags=("severity:critical", "security"),
            interval="5m",
            params=_dsl(
                audit,
                {"terms": {"openai.audit.type": ["tenant.admin_api_key.created"]}},
                agg=None,
                group="organization.id",
                threshold="${min_events}",
                comparator=">=",
                window=(60, "m"),
                time_field=INGESTED_FIELD,
            ),
            parameters={"min_events": 1},
            description=(
                "An organization admin API key was created (audit "
                "`tenant.admin_api_key.created`). Windows on `event.ingested`, not `@timestamp`: "
                "active for an hour after the event reached Elasticsearch, however late OpenAI "
                "reported it."
            ),
        ),
        Rule(
            slug="failed-login-burst",
            name="[OpenAI poller] Burst of failed logins",
            tags=("severity:warning", "security"),
            interval="5m",
            params=_dsl(
                audit,
                _audit_term("openai.audit.type", "login.failed"),
                _window(AUDIT_OFFSET_MINUTES, 15),
                agg=None,
                group="organization.id",
                threshold="${min_failures}",
                comparator=">=",
                window=(AUDIT_OFFSET_MINUTES + 20, "m"),
            ),
            parameters={"min_failures": 5},
            description=(
                f"At least `min_failures` failed logins in 15 minutes, read {AUDIT_OFFSET_MINUTES} "
                "minutes late so the audit events have arrived."
            ),
        ),
        Rule(
            slug="role-or-owner-change",
            name="[OpenAI poller] Role or owner change",
            tags=("severity:warning", "security"),
            interval="5m",
            params=_dsl(
                audit,
                {"bool": {"should": [role_actions, *owner_grants], "minimum_should_match": 1}},
                agg=None,
                group="organization.id",
                threshold="${min_events}",
                comparator=">=",
                window=(60, "m"),
                time_field=INGESTED_FIELD,
            ),
            parameters={"min_events": 1},
            description=(
                "A role was created, changed or deleted, a role assignment changed, a member's "
                "role changed, or someone was made owner (user, invite, service account). "
                "Windows on `event.ingested`: active for an hour after the event reached "
                "Elasticsearch, however late OpenAI reported it."
            ),
        ),
    ]
