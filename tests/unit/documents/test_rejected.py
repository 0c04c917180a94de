"""Items no document can be built from become `Rejected` entries: deterministic, kept whole,
and never in the way of the other items of their page."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from golden_support import REJECTED_BY_SCHEMA, load_cases

from poller.client import AuditLogPage, Project, ProjectRateLimitPage, UsagePage
from poller.documents import (
    MappingContext,
    map_audit_page,
    map_rate_limit_page,
    map_usage_page,
    rejected,
)
from poller.streams import BucketWidth

CTX = MappingContext(organization_id="org-acme", namespace="prod", bucket_width=BucketWidth.DAY)
RAW = {"object": "organization.costs.result", "amount": {"value": "n/a"}, "line_item": "x"}


def _page(model: Any, data: list[Any]) -> Any:
    return model.parse_json(json.dumps({"object": "list", "data": data, "has_more": False}))


def test_the_entry_keeps_the_item_whole_under_its_stream() -> None:
    entry = rejected("costs", CTX, RAW, "why")
    assert entry.reason == "why"
    assert entry.doc.stream == "costs"
    assert entry.doc.data_stream == "logs-openai.costs-prod"
    assert entry.doc.source == RAW
    # The scheme, pinned: the digest of [scheme, org, "rejected", stream, item], keys sorted.
    key = (
        '["openai-poller/1","org-acme","rejected","costs",'
        '{"amount":{"value":"n/a"},"line_item":"x","object":"organization.costs.result"}]'
    )
    assert entry.doc.doc_id == hashlib.sha256(key.encode()).hexdigest()[:32]
    assert entry.doc.doc_id == "de3ecbac28afb0ead3efcc9c262093c7"


def test_the_id_is_a_digest_of_the_item_whatever_its_key_order() -> None:
    reordered = dict(reversed(list(RAW.items())))
    assert rejected("costs", CTX, reordered, "other reason").doc.doc_id == (
        rejected("costs", CTX, RAW, "why").doc.doc_id
    )


def test_another_item_org_or_stream_gets_another_id() -> None:
    first = rejected("costs", CTX, RAW, "why").doc.doc_id
    other_org = MappingContext(organization_id="org-b", namespace="prod")
    assert rejected("costs", CTX, {**RAW, "line_item": "y"}, "why").doc.doc_id != first
    assert rejected("costs", other_org, RAW, "why").doc.doc_id != first
    assert rejected("embeddings", CTX, RAW, "why").doc.doc_id != first


def test_the_namespace_does_not_change_the_id() -> None:
    elsewhere = MappingContext(organization_id="org-acme", namespace="default")
    assert rejected("costs", elsewhere, RAW, "why").doc.doc_id == (
        rejected("costs", CTX, RAW, "why").doc.doc_id
    )


def test_a_golden_case_the_schema_rejects_is_dead_lettered_with_its_reason() -> None:
    ((stream, name),) = REJECTED_BY_SCHEMA
    (case,) = [case for case in load_cases(stream) if case["name"] == name]
    bucket = {**case["bucket"], "results": [case["result"]]}
    page = _page(UsagePage, [bucket])
    assert page.data[0].results == []
    mapped = map_usage_page(CTX, stream, page)
    assert mapped.documents == ()
    (entry,) = mapped.rejected
    assert entry.doc.source == case["result"]
    assert entry.reason == (
        "1 schema error(s), first at organization.costs.result.amount.value: "
        "Input should be a valid decimal"
    )


def test_a_usage_page_maps_its_valid_results_and_rejects_the_poison_one() -> None:
    good = {"object": "organization.usage.embeddings.result", "input_tokens": 1,
            "num_model_requests": 1}
    poison = {"object": "organization.usage.embeddings.result", "input_tokens": "many"}
    bucket = {"start_time": 86400, "end_time": 172800, "results": [good, poison, good]}
    mapped = map_usage_page(CTX, "embeddings", _page(UsagePage, [bucket]))
    assert len(mapped.documents) == 2
    assert {doc.data_stream for doc in mapped.documents} == {"logs-openai.embeddings-prod"}
    assert [(entry.doc.stream, entry.doc.source) for entry in mapped.rejected] == [
        ("embeddings", poison)
    ]


def test_an_audit_log_the_mapper_refuses_is_rejected_as_parsed() -> None:
    good = {"id": "audit_1", "type": "login.succeeded", "effective_at": 1}
    far = {"id": "audit_2", "type": "login.succeeded", "effective_at": 10**20}
    untyped = {"id": "audit_3", "type": "login.succeeded"}
    mapped = map_audit_page(CTX, _page(AuditLogPage, [good, far, untyped]))
    assert [doc.doc_id for doc in mapped.documents] == ["audit_1"]
    assert [(entry.doc.source, entry.reason) for entry in mapped.rejected] == [
        (untyped, "1 schema error(s), first at effective_at: Field required"),
        (far, "audit log 'audit_2' has an effective_at out of range"),
    ]
    assert {entry.doc.data_stream for entry in mapped.rejected} == {"logs-openai.audit-prod"}


def test_a_rate_limit_page_maps_its_valid_limits() -> None:
    page = _page(ProjectRateLimitPage, [{"id": "rl_1", "model": "gpt-4o"}, {"id": "rl_2"}])
    mapped = map_rate_limit_page(CTX, page, Project(id="proj_1", name="One"), 3600)
    ((document,), (entry,)) = mapped.documents, mapped.rejected
    assert document.source["openai"]["rate_limits"]["project_name"] == "One"
    assert entry.doc.source == {"id": "rl_2"}
    assert entry.doc.data_stream == "logs-openai.rate_limits-prod"


def test_only_bucketed_streams_have_usage_pages() -> None:
    with pytest.raises(ValueError, match=r"^audit is not a bucketed stream$"):
        map_usage_page(CTX, "audit", _page(UsagePage, []))
