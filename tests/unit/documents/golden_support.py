"""Golden cases: fixture inputs and the documents they must become, one file per stream.

Each `tests/fixtures/golden/<stream>.json` holds `cases`, each with a `context` (described, not
constructed: `names` and `prices` say whether the fakes below are given), the API input and the
`expected` document.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from poller.client import (
    AnyUsageResult,
    AuditLogPage,
    Project,
    ProjectRateLimitPage,
    UsagePage,
    UsageResult,
)
from poller.client.governance import (
    CertificatePage,
    DataRetention,
    HostedToolPermissions,
    ModelPermissions,
)
from poller.client.spend import SpendAlertPage, SpendLimit
from poller.documents import (
    Document,
    MappingContext,
    map_audit_log,
    map_costs_result,
    map_rate_limit,
    map_usage_result,
)
from poller.documents.allocated import DayOfProject, map_share, map_superseded
from poller.documents.allocation import Share, ShareKey
from poller.documents.governance import (
    GovernanceItem,
    GovernanceSnapshot,
    certificate_item,
    changes,
    data_retention_item,
    hosted_tools_item,
    map_snapshot,
    model_permissions_item,
)
from poller.documents.model import GroupRef
from poller.documents.spend import SpendOwner, map_spend_alert, map_spend_limit
from poller.streams import STREAM_NAMES, BucketWidth, StreamKind, get_stream

GOLDEN_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "golden"


@dataclass(frozen=True)
class FakeNames:
    projects: Mapping[str, str] = field(default_factory=lambda: {"proj_alpha": "Alpha"})
    users: Mapping[str, str] = field(default_factory=lambda: {"user_ann": "ann@acme.example"})
    api_keys: Mapping[str, str] = field(default_factory=lambda: {"key_ci": "CI deploy key"})

    def project_name(self, project_id: str) -> str | None:
        return self.projects.get(project_id)

    def user_email(self, user_id: str) -> str | None:
        return self.users.get(user_id)

    def api_key_name(self, api_key_id: str) -> str | None:
        return self.api_keys.get(api_key_id)

    def user_groups(self, user_id: str) -> tuple[GroupRef, ...]:
        return ()


# stream → model ("*": a stream without a model dimension) → result field → USD per unit
_RATES: Mapping[str, Mapping[str, Mapping[str, str]]] = {
    "completions": {"gpt-4o": {"input_tokens": "0.0000025", "output_tokens": "0.00001"}},
    "embeddings": {"text-embedding-3-small": {"input_tokens": "0.00000002"}},
    "images": {"dall-e-3": {"images": "0.04"}},
    "audio_speeches": {"tts-1": {"characters": "0.000015"}},
    "audio_transcriptions": {"whisper-1": {"seconds": "0.0001"}},
    "file_search_calls": {"*": {"num_requests": "0.0025"}},
    "web_search_calls": {"gpt-4o": {"num_requests": "0.01"}},
}


@dataclass(frozen=True)
class FakePriceTable:
    """The `poller.pricing.PriceTable` interface: None when the model is unknown or not grouped."""

    version: str = "test-2026.1"
    rates: Mapping[str, Mapping[str, Mapping[str, str]]] = field(default_factory=lambda: _RATES)
    calls: list[tuple[str, int]] = field(default_factory=list, compare=False)

    def estimate_usd(self, stream: str, result: Mapping[str, Any], at: int) -> Decimal | None:
        self.calls.append((stream, at))
        by_model = self.rates.get(stream, {})
        rates = by_model.get(result.get("model") or "*")
        if rates is None:
            return None
        return sum(
            (Decimal(rate) * (result.get(name) or 0) for name, rate in rates.items()), Decimal(0)
        )


def context(description: Mapping[str, Any]) -> MappingContext:
    return MappingContext(
        organization_id=description["organization_id"],
        organization_name=description.get("organization_name"),
        namespace=description.get("namespace", "default"),
        bucket_width=BucketWidth(description.get("bucket_width", "1d")),
        group_by=tuple(description.get("group_by", ())),
        names=FakeNames() if description.get("names") else None,
        price_table=FakePriceTable() if description.get("prices") else None,
    )


_RESULT = TypeAdapter(AnyUsageResult)
# Golden cases whose input the client's schema rejects: no mapper ever sees them; they go to the
# dead-letter store instead (test_rejected.py).
REJECTED_BY_SCHEMA = frozenset(
    {("costs", "amount.value that is not a number: kept unmapped, never written as a value")}
)


def usage_result(data: Mapping[str, Any]) -> UsageResult:
    """A usage or costs result as the client's models parse it (by its `object`)."""
    return _RESULT.validate_python(data)


def _page_json(data: list[Any]) -> str:
    return json.dumps({"object": "list", "data": data, "has_more": False})


def parsed_result(case: Mapping[str, Any]) -> UsageResult:
    """A case's usage or costs result as the client parses it, inside its bucket."""
    bucket = {**case["bucket"], "results": [case["result"]]}
    page = UsagePage.parse_json(_page_json([bucket]))
    assert page.invalid == (), page.invalid
    (result,) = page.data[0].results
    return result


def map_case(stream: str, case: Mapping[str, Any]) -> Document:
    """Run the mapper of `stream` on a case's input, parsed by the client's models first, as
    the API's answer is."""
    ctx = context(case["context"])
    kind = get_stream(stream).kind
    if kind is StreamKind.USAGE:
        start, end = case["bucket"]["start_time"], case["bucket"]["end_time"]
        return map_usage_result(ctx, stream, start, end, parsed_result(case))
    if kind is StreamKind.COSTS:
        start, end = case["bucket"]["start_time"], case["bucket"]["end_time"]
        return map_costs_result(ctx, start, end, parsed_result(case))
    if kind is StreamKind.AUDIT:
        (log,) = AuditLogPage.parse_json(_page_json([case["log"]])).data
        return map_audit_log(ctx, log)
    if kind is StreamKind.SPEND:
        return map_spend_case(ctx, case)
    if kind is StreamKind.GOVERNANCE:
        return map_governance_case(ctx, case)
    if kind is StreamKind.ALLOCATION:
        return map_allocation_case(ctx, case)
    (limit,) = ProjectRateLimitPage.parse_json(_page_json([case["rate_limit"]])).data
    project = Project.model_validate_json(json.dumps(case["project"]))
    return map_rate_limit(ctx, limit, project, case["slot_start"])


def map_spend_case(ctx: MappingContext, case: Mapping[str, Any]) -> Document:
    """A spend limit (`spend_limit`) or alert (`spend_alert`) of the organization, or of the
    case's `project` when it has one."""
    project = case.get("project")
    owner = SpendOwner(None if project is None else Project.model_validate(project))
    if "spend_limit" in case:
        limit = SpendLimit.model_validate_json(json.dumps(case["spend_limit"]))
        return map_spend_limit(ctx, limit, owner, case["slot_start"])
    (alert,) = SpendAlertPage.parse_json(_page_json([case["spend_alert"]])).data
    return map_spend_alert(ctx, alert, owner, case["slot_start"])


def governance_item(case: Mapping[str, Any]) -> GovernanceItem:
    """The case's one setting (`data_retention`, `model_permissions`, `hosted_tool_permissions`
    or `certificate`) of the organization, or of the case's `project` when it has one."""
    project = case.get("project")
    owner = SpendOwner(None if project is None else Project.model_validate(project))
    if "data_retention" in case:
        return data_retention_item(owner, DataRetention.model_validate(case["data_retention"]))
    if "model_permissions" in case:
        permissions = ModelPermissions.model_validate(case["model_permissions"])
        return model_permissions_item(owner, permissions)
    if "hosted_tool_permissions" in case:
        tools = HostedToolPermissions.model_validate(case["hosted_tool_permissions"])
        return hosted_tools_item(owner, tools)
    (certificate,) = CertificatePage.parse_json(_page_json([case["certificate"]])).data
    return certificate_item(owner, certificate)


def map_governance_case(ctx: MappingContext, case: Mapping[str, Any]) -> Document:
    """A snapshot document, or with `previous` (a saved `GovernanceSnapshot`, or null) and
    `collected_at`, the one change document of the setting against it (the other settings of
    `previous` count as not read, not as removed)."""
    item = governance_item(case)
    if "previous" not in case:
        return map_snapshot(ctx, item, case["slot_start"])
    previous = None if case["previous"] is None else GovernanceSnapshot.from_json(case["previous"])
    unread = frozenset(previous.records if previous else ()) - {item.key}
    (change,) = changes(ctx, previous, [item], case["collected_at"], unread)
    return change
def map_allocation_case(ctx: MappingContext, case: Mapping[str, Any]) -> Document:
    """One row of a split bill (`share`: its key, weight and cents), or a `superseded` row."""
    of = DayOfProject(case["project_id"], case["day"])
    row = case["share"]
    key = ShareKey(row.get("user_id", ""), row.get("api_key_id", ""), row.get("model", ""),
                   row.get("group_id", ""))
    if case.get("superseded"):
        return map_superseded(ctx, of, key)
    return map_share(ctx, of, Share(key, Decimal(row["weight_usd"]), row["cents"]))


def load_cases(stream: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(
        (GOLDEN_DIR / f"{stream}.json").read_text(encoding="utf-8")
    )["cases"]
    return cases


def all_cases() -> list[tuple[str, dict[str, Any]]]:
    """Every golden case a mapper can be given."""
    return [
        (stream, case)
        for stream in STREAM_NAMES
        for case in load_cases(stream)
        if (stream, case["name"]) not in REJECTED_BY_SCHEMA
    ]
