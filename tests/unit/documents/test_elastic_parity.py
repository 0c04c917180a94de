"""Where the documents follow Elastic's integration value for value (docs/elastic-parity.md):
dimensions the API sends as "" are kept, unknown result fields and dimensions are kept
unmapped, and the templates map what Elastic's cross-stream dashboards read."""

from __future__ import annotations

from typing import Any

import pytest
from golden_support import FakeNames, usage_result

from poller.client import AuditLogPage
from poller.documents import (
    FieldSpec,
    MappingContext,
    map_audit_log,
    map_costs_result,
    map_usage_result,
    mapped_only_fields,
    stream_fields,
)
from poller.streams import STREAM_NAMES, BucketWidth

START = 1767254400
END = START + 3600
CTX = MappingContext(
    organization_id="org-acme",
    bucket_width=BucketWidth.HOUR,
    group_by=("project_id", "user_id", "api_key_id", "model"),
    names=FakeNames(projects={"": "must not be looked up", "proj_alpha": "Alpha"}),
)


def _completions(**fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "object": "organization.usage.completions.result",
        "input_tokens": 10,
        "output_tokens": 2,
        "num_model_requests": 1,
        **fields,
    }
    base = map_usage_result(CTX, "completions", START, END, usage_result(result)).source
    openai: dict[str, Any] = base["openai"]
    return openai


def test_a_dimension_sent_as_empty_is_kept_as_elastic_keeps_it() -> None:
    openai = _completions(project_id="", user_id="", api_key_id="", model="gpt-4o")
    assert {k: openai["base"].get(k) for k in ("project_id", "user_id", "api_key_id")} == {
        "project_id": "",
        "user_id": "",
        "api_key_id": "",
    }
    assert "project_name" not in openai["base"]  # "" names no project
    assert "unmapped" not in openai


def test_a_null_dimension_stays_absent() -> None:
    base = _completions(project_id=None, user_id=None, api_key_id=None, model=None)["base"]
    assert not {"project_id", "user_id", "api_key_id", "model"} & set(base)


def test_empty_and_missing_projects_are_distinct_documents() -> None:
    def doc_id(project: str | None) -> str:
        result = usage_result(
            {
                "object": "organization.usage.completions.result",
                "input_tokens": 1,
                "output_tokens": 1,
                "num_model_requests": 1,
                "project_id": project,
            }
        )
        return map_usage_result(CTX, "completions", START, END, result).doc_id

    assert doc_id("") != doc_id(None)


def test_a_costs_line_without_project_keeps_its_empty_project() -> None:
    ctx = MappingContext(organization_id="org-acme", group_by=("project_id", "line_item"))
    result = usage_result(
        {
            "object": "organization.costs.result",
            "amount": {"value": 1.5, "currency": "usd"},
            "line_item": "gpt-4o, input",
            "project_id": "",
        }
    )
    source = map_costs_result(ctx, START, START + 86_400, result).source
    assert source["openai"]["base"]["project_id"] == ""
    assert source["openai"]["costs"]["line_item"] == "gpt-4o, input"


def test_unknown_counters_and_dimensions_are_kept_unmapped() -> None:
    """The API's next fields: a new dimension and a new counter land, as sent, in the
    flattened `openai.unmapped`, and the known fields are mapped as before."""
    openai = _completions(
        project_id="proj_alpha", api_source="responses", input_cache_write_30m_tokens=7
    )
    assert openai["unmapped"] == {"api_source": "responses", "input_cache_write_30m_tokens": 7}
    assert openai["completions"] == {"input_tokens": 10, "output_tokens": 2}
    assert openai["base"]["project_id"] == "proj_alpha"
    assert openai["base"]["usage_tokens"] == 12


@pytest.mark.parametrize(
    ("stream", "paths"),
    [
        ("completions", ["openai.embeddings.input_tokens", "openai.moderations.input_tokens"]),
        ("audio_speeches", ["openai.embeddings.input_tokens", "openai.moderations.input_tokens"]),
        (
            "audio_transcriptions",
            ["openai.embeddings.input_tokens", "openai.moderations.input_tokens"],
        ),
        ("rate_limits", ["openai.base.usage_images"]),
        ("embeddings", []),
        ("audit", []),
    ],
)
def test_mapped_only_fields_are_elastics_cross_stream_fields(
    stream: str, paths: list[str]
) -> None:
    assert mapped_only_fields(stream) == tuple(FieldSpec(path, "long") for path in paths)
    written = {spec.path for spec in stream_fields(stream)}
    assert not written & set(paths)  # mapped there, never written there


def test_every_mapped_only_field_is_written_by_some_stream() -> None:
    written = {spec for name in STREAM_NAMES for spec in stream_fields(name)}
    for name in STREAM_NAMES:
        assert set(mapped_only_fields(name)) <= written


@pytest.mark.parametrize(
    ("stream", "path"),
    [
        ("completions", "organization.name"),
        ("audit", "organization.name"),
        ("audit", "user_agent.original"),
    ],
)
def test_ecs_text_multi_fields_are_declared(stream: str, path: str) -> None:
    (spec,) = [spec for spec in stream_fields(stream) if spec.path == path]
    assert spec == FieldSpec(path, "keyword", text=True)


def test_no_other_field_declares_a_text_multi_field() -> None:
    texts = {spec.path for name in STREAM_NAMES for spec in stream_fields(name) if spec.text}
    assert texts == {"organization.name", "user_agent.original"}


def test_an_audit_document_carries_elastics_action_and_the_dotted_type() -> None:
    page = AuditLogPage.parse_json(
        '{"object": "list", "has_more": false, "data": [{"id": "audit_log-1",'
        ' "type": "api_key.created", "effective_at": 1767254400,'
        ' "actor": {"type": "api_key", "api_key": {"id": "key_1", "type": "user",'
        ' "user": {"id": "user_ann", "email": "ann@acme.example"}}},'
        ' "api_key.created": {"id": "key_2"}}]}'
    )
    (log,) = page.data
    source = map_audit_log(MappingContext(organization_id="org-acme"), log).source
    assert source["event"]["action"] == "api_key-created"
    assert source["event"]["category"] == ["iam"]
    assert source["event"]["type"] == ["creation", "change"]
    assert source["openai"]["audit"]["type"] == "api_key.created"
