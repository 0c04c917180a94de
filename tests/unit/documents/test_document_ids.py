"""Deterministic ids: the same fact keeps its id, another fact never shares it."""

from __future__ import annotations

import copy
import dataclasses
import json
from decimal import Decimal
from typing import Any

import pytest
from golden_support import FakePriceTable, context, load_cases, map_case, usage_result

from poller.client import AuditLog, Project, ProjectRateLimit
from poller.documents import (
    MappingContext,
    map_audit_log,
    map_costs_result,
    map_rate_limit,
    map_usage_result,
)
from poller.errors import MappingError
from poller.streams import BucketWidth

START, END = 1767254400, 1767258000
RESULT = {
    "object": "organization.usage.completions.result",
    "input_tokens": 10,
    "output_tokens": 2,
    "num_model_requests": 1,
    "project_id": "proj_alpha",
    "model": "gpt-4o",
    "user_id": None,
    "api_key_id": None,
    "batch": None,
    "service_tier": None,
}
CTX = MappingContext(
    organization_id="org-acme", bucket_width=BucketWidth.HOUR, group_by=("project_id", "model")
)


def usage_id(ctx: MappingContext = CTX, start: int = START, **changes: Any) -> str:
    result = usage_result({**RESULT, **changes})
    return map_usage_result(ctx, "completions", start, start + 3600, result).doc_id


def test_same_fact_same_id_even_when_its_counts_are_revised() -> None:
    first = map_usage_result(CTX, "completions", START, END, usage_result(RESULT))
    revised_result = usage_result({**RESULT, "input_tokens": 99})
    revised = map_usage_result(CTX, "completions", START, END, revised_result)
    assert revised.doc_id == first.doc_id
    assert revised.source != first.source


def test_group_by_order_does_not_matter() -> None:
    reordered = dataclasses.replace(CTX, group_by=("model", "project_id"))
    assert usage_id(reordered) == usage_id()


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(
            lambda: usage_id(dataclasses.replace(CTX, bucket_width=BucketWidth.DAY)), id="width"
        ),
        pytest.param(
            lambda: usage_id(dataclasses.replace(CTX, group_by=("project_id", "model", "batch"))),
            id="group_by",
        ),
        pytest.param(lambda: usage_id(dataclasses.replace(CTX, organization_id="org-b")), id="org"),
        pytest.param(lambda: usage_id(start=START + 3600), id="bucket start"),
        pytest.param(lambda: usage_id(model="gpt-4o-mini"), id="dimension value"),
        pytest.param(lambda: usage_id(user_id="user_ann"), id="dimension not asked for"),
    ],
)
def test_another_fact_gets_another_id(other: Any) -> None:
    assert other() != usage_id()


def test_ids_do_not_depend_on_names_prices_or_namespace() -> None:
    case = load_cases("completions")[0]
    plain = {**case["context"], "names": False, "prices": False, "namespace": "x"}
    bare = map_case("completions", {**case, "context": plain})
    assert bare.doc_id == map_case("completions", case).doc_id


def test_costs_amount_revision_keeps_the_id() -> None:
    ctx = MappingContext("org-acme", group_by=("line_item",))
    result = {"object": "organization.costs.result", "line_item": "Text tokens"}
    first = usage_result({**result, "amount": {"value": 1}})
    later = usage_result({**result, "amount": {"value": "2.5"}})
    first_id = map_costs_result(ctx, START, START + 86400, first).doc_id
    assert map_costs_result(ctx, START, START + 86400, later).doc_id == first_id


def test_rate_limit_ids() -> None:
    case = load_cases("rate_limits")[0]
    ctx = context(case["context"])
    raw_limit, slot = case["rate_limit"], case["slot_start"]
    limit = ProjectRateLimit.model_validate(raw_limit)
    project = Project.model_validate(case["project"])
    doc_id = map_rate_limit(ctx, limit, project, slot).doc_id
    revised = ProjectRateLimit.model_validate({**raw_limit, "max_tokens_per_1_minute": 1})
    assert map_rate_limit(ctx, revised, project, slot).doc_id == doc_id
    assert map_rate_limit(ctx, limit, project, slot + 300).doc_id != doc_id
    other_model = ProjectRateLimit.model_validate({**raw_limit, "model": "gpt-4.1"})
    assert map_rate_limit(ctx, other_model, project, slot).doc_id != doc_id
    other_project = project.model_copy(update={"id": "proj_b"})
    assert map_rate_limit(ctx, limit, other_project, slot).doc_id != doc_id


def test_audit_id_is_the_log_id() -> None:
    for case in load_cases("audit"):
        assert map_case("audit", case).doc_id == case["log"]["id"]


@pytest.mark.parametrize(
    ("log", "message"),
    [
        ({"id": "", "type": "login.succeeded", "effective_at": START}, "has no id or no type"),
        ({"id": "a", "type": "", "effective_at": START}, "has no id or no type"),
        ({"id": "a", "type": "login.succeeded", "effective_at": 10**20}, "out of range"),
    ],
)
def test_an_audit_log_the_schema_accepts_without_id_type_or_time_is_refused(
    log: dict[str, Any], message: str
) -> None:
    """Missing fields and mistyped ones never reach the mapper: the client rejects those."""
    with pytest.raises(MappingError, match=message):
        map_audit_log(CTX, AuditLog.model_validate(log))


def test_rate_limit_of_a_project_without_id_is_refused() -> None:
    limit = ProjectRateLimit(id="rl", model="gpt-4o")
    with pytest.raises(MappingError, match="'rl' comes with a project without id"):
        map_rate_limit(CTX, limit, Project(id="", name="x"), START)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: usage_id(dataclasses.replace(CTX, group_by=("line_item",))),
            "grouped by line_item",
        ),
        (
            lambda: map_costs_result(
                MappingContext("o", bucket_width=BucketWidth.HOUR), START, END, usage_result({})
            ),
            "no 1h buckets",
        ),
        (
            lambda: map_usage_result(CTX, "costs", START, END, usage_result({})),
            "not a usage stream",
        ),
        (
            lambda: map_usage_result(CTX, "audit", START, END, usage_result({})),
            "not a usage stream",
        ),
    ],
)
def test_requests_the_api_cannot_have_answered_are_refused(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_price_table_is_asked_at_the_bucket_start() -> None:
    table = FakePriceTable()
    ctx = dataclasses.replace(CTX, price_table=table)
    map_usage_result(ctx, "completions", START, END, usage_result(copy.deepcopy(RESULT)))
    assert table.calls == [("completions", START)]


def test_costs_amount_as_decimal_from_the_client_is_a_json_number() -> None:
    """The client hands over `amount.value` as a Decimal; the document must hold a float."""
    result = usage_result(
        {
            "object": "organization.costs.result",
            "amount": {"value": "12.50", "currency": "usd"},
            "line_item": "gpt-4o, input",
            "quantity": 1000,
            "quantity_unit": "tokens",
        }
    )
    assert result.api_dict()["amount"]["value"] == Decimal("12.50")
    doc = map_costs_result(MappingContext(organization_id="org-1"), 0, 86400, result)
    assert doc.source["openai"]["costs"]["amount"] == {"value": 12.5, "currency": "usd"}
    assert doc.source["openai"]["costs"]["quantity"] == 1000.0
    assert "unmapped" not in doc.source["openai"]
    json.dumps(doc.source)
