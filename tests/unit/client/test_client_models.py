"""Response models: the spec's recorded examples parse, drift is tolerated, data round-trips."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest
from client_fakes import FIXTURES, fixture
from openapi_spec import SPEC_PATH
from pydantic import BaseModel, ValidationError

from poller.client import (
    RESULT_MODELS,
    AdminApiKey,
    AuditLog,
    AuditLogPage,
    CompletionsResult,
    CostsResult,
    ListPage,
    Project,
    ProjectApiKey,
    ProjectRateLimit,
    ProjectServiceAccount,
    ProjectUser,
    UsagePage,
    UsageResult,
    User,
)
from poller.streams import USAGE_ENDPOINTS

SPEC = SPEC_PATH

# Fixture file -> (path in the spec, model of its response).
RECORDED: dict[str, tuple[str, type[BaseModel]]] = {
    **{
        f"usage_{name}": (endpoint.path, UsagePage)
        for name, endpoint in USAGE_ENDPOINTS.items()
        if name != "costs"
    },
    "costs": ("/organization/costs", UsagePage),
    "audit_logs": ("/organization/audit_logs", AuditLogPage),
    "projects": ("/organization/projects", ListPage[Project]),
    "project": ("/organization/projects/{project_id}", Project),
    "users": ("/organization/users", ListPage[User]),
    "user": ("/organization/users/{user_id}", User),
    "project_users": ("/organization/projects/{project_id}/users", ListPage[ProjectUser]),
    "project_user": ("/organization/projects/{project_id}/users/{user_id}", ProjectUser),
    "project_api_keys": ("/organization/projects/{project_id}/api_keys", ListPage[ProjectApiKey]),
    "project_api_key": (
        "/organization/projects/{project_id}/api_keys/{api_key_id}",
        ProjectApiKey,
    ),
    "project_service_accounts": (
        "/organization/projects/{project_id}/service_accounts",
        ListPage[ProjectServiceAccount],
    ),
    "project_service_account": (
        "/organization/projects/{project_id}/service_accounts/{service_account_id}",
        ProjectServiceAccount,
    ),
    "project_rate_limits": (
        "/organization/projects/{project_id}/rate_limits",
        ListPage[ProjectRateLimit],
    ),
    "admin_api_keys": ("/organization/admin_api_keys", ListPage[AdminApiKey]),
    "admin_api_key": ("/organization/admin_api_keys/{key_id}", AdminApiKey),
}


def _decimals(value: Any) -> Any:
    """`value` with every float as the Decimal the models make of it."""
    if isinstance(value, dict):
        return {key: _decimals(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decimals(item) for item in value]
    return Decimal(str(value)) if isinstance(value, float) else value


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_recorded_responses_parse_and_round_trip(name: str) -> None:
    data = fixture(name)
    parsed = RECORDED[name][1].model_validate(data)
    assert parsed.api_dict() == _decimals(data)  # type: ignore[attr-defined]


def test_every_path_the_client_reads_has_a_recorded_response() -> None:
    recorded = {path for path, _ in RECORDED.values()}
    assert {f.stem for f in FIXTURES.glob("*.json")} >= set(RECORDED)
    assert recorded <= set(json.loads(SPEC.read_text())["paths"])
    assert len(recorded) == 25


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_recorded_responses_are_the_spec_examples(name: str) -> None:
    examples = json.loads(SPEC.read_text())["paths"][RECORDED[name][0]]["get"]["x-oaiMeta"]
    example = examples["examples"]
    text = (example[0] if isinstance(example, list) else example)["response"]
    # The audit example has trailing commas, which JSON does not allow; nothing else differs.
    assert fixture(name) == json.loads(re.sub(r",(\s*[}\]])", r"\1", text))


@pytest.mark.parametrize("stream", sorted(USAGE_ENDPOINTS))
def test_result_models_match_the_stream_catalog(stream: str) -> None:
    endpoint, model = USAGE_ENDPOINTS[stream], RESULT_MODELS[stream]
    fields = model.model_fields
    assert set(endpoint.dimensions) <= set(fields)
    assert set(endpoint.metrics) <= set(fields)
    required = {name for name, info in fields.items() if info.is_required()}
    assert required == set(endpoint.required_metrics)
    recorded = "costs" if stream == "costs" else f"usage_{stream}"
    result = UsagePage.model_validate(fixture(recorded)).data[0].results[0]
    assert type(result) is model
    assert result.object == endpoint.result_object


def test_drift_extra_fields_kept_nulls_and_missing_counters_accepted() -> None:
    page = UsagePage.model_validate(fixture("usage_completions_drift"))
    first, empty = page.data
    result = first.results[0]
    assert isinstance(result, CompletionsResult)
    assert result.input_cached_tokens is None  # sent as null
    assert result.output_audio_tokens is None  # not sent at all
    assert (result.batch, result.service_tier) == (False, "priority")
    assert result.model_extra == {"input_reasoning_tokens": 42, "region": "eu"}
    assert first.model_extra == {
        "object": "bucket",
        "region_notice": "added by a future API version",
    }
    assert empty.results == []
    assert result.api_dict()["input_reasoning_tokens"] == 42
    assert "output_audio_tokens" not in result.api_dict()


def test_costs_amount_as_a_string_or_a_number_is_a_decimal() -> None:
    as_string = UsagePage.model_validate(fixture("costs_amount_as_string")).data[0].results[0]
    as_number = UsagePage.model_validate(fixture("costs")).data[0].results[0]
    assert isinstance(as_string, CostsResult) and isinstance(as_number, CostsResult)
    assert as_string.amount is not None and as_number.amount is not None
    assert as_string.amount.value == Decimal("12.50")
    assert as_number.amount.value == Decimal("0.06")
    assert as_string.line_item == "Text tokens"
    assert as_string.api_dict()["amount"] == {"value": Decimal("12.50"), "currency": "usd"}


def test_costs_without_amount_and_with_string_quantity() -> None:
    result = CostsResult.model_validate(
        {"object": "organization.costs.result", "amount": None, "quantity": "1500"}
    )
    assert (result.amount, result.quantity) == (None, Decimal("1500"))


@pytest.mark.parametrize("value", ["NaN", "Infinity", "twelve"])
def test_costs_amount_that_is_not_a_finite_number_is_rejected(value: str) -> None:
    with pytest.raises(ValidationError):
        CostsResult.model_validate({"amount": {"value": value, "currency": "usd"}})


def test_unknown_result_object_falls_back_to_the_permissive_model() -> None:
    bucket = {
        "object": "bucket",
        "start_time": 0,
        "end_time": 60,
        "results": [{"object": "organization.usage.teleports.result", "jumps": 3}],
    }
    page = UsagePage.model_validate(
        {"object": "page", "data": [bucket], "has_more": False, "next_page": None}
    )
    result = page.data[0].results[0]
    assert type(result) is UsageResult
    assert result.model_extra == {"jumps": 3}


def test_missing_required_metric_is_a_validation_error() -> None:
    bucket = {
        "start_time": 0,
        "end_time": 60,
        "results": [{"object": "organization.usage.embeddings.result", "input_tokens": 1}],
    }
    with pytest.raises(ValidationError, match="num_model_requests"):
        UsagePage.model_validate({"data": [bucket], "has_more": False})


def test_audit_payload_and_session_details() -> None:
    page = AuditLogPage.model_validate(fixture("audit_logs"))
    archived, updated = page.data
    assert archived.payload() == {"id": "proj_abc"}
    assert archived.project is None
    assert archived.actor is not None and archived.actor.api_key is not None
    assert archived.actor.api_key.user is not None
    assert archived.actor.api_key.user.email == "user@example.com"
    assert updated.payload() == {"id": "key_xxxx", "data": {"scopes": ["resource_2.operation_2"]}}
    session = updated.actor.session if updated.actor else None
    assert session is not None and session.ip_address_details is not None
    assert session.ja4 == "q13d0313h3_55b375c5d22e_c7319ce65786"
    assert session.ip_address_details.latitude == "37.77490"
    assert (page.first_id, page.last_id, page.has_more) == (
        "audit_log-xxx__20240101",
        "audit_log_yyy__20240101",
        True,
    )


def test_audit_unknown_type_null_actor_and_numeric_geo_are_accepted() -> None:
    log = AuditLog.model_validate(
        {
            "id": "audit_log-1",
            "type": "tenant.teleporter.calibrated",
            "effective_at": 1720000000,
            "actor": None,
            "tenant.teleporter.calibrated": {"id": "tp_1", "accuracy": 0.99},
            "source": "new field",
        }
    )
    assert log.type == "tenant.teleporter.calibrated"
    assert log.payload() == {"id": "tp_1", "accuracy": 0.99}
    assert log.actor is None
    assert log.api_dict()["source"] == "new field"
    bare = AuditLog.model_validate({"id": "a", "type": "project.created", "effective_at": 1})
    assert bare.payload() is None
    geo = AuditLog.model_validate(
        {
            "id": "b",
            "type": "login.succeeded",
            "effective_at": 1,
            "actor": {
                "type": "session",
                "session": {
                    "ip_address_details": {
                        "asn": 1234,
                        "latitude": 37.7749,
                        "country": "US",
                        "city": None,
                    }
                },
            },
        }
    )
    details = geo.actor.session.ip_address_details  # type: ignore[union-attr]
    assert details is not None
    assert (details.asn, details.latitude, details.country, details.city) == (
        "1234",
        "37.7749",
        "US",
        None,
    )


def test_directory_drift_the_spec_examples_show() -> None:
    key = AdminApiKey.model_validate(fixture("admin_api_key"))
    assert key.expires_at is None  # required by the schema, absent from its own example
    listed = ListPage[AdminApiKey].model_validate(fixture("admin_api_keys")).data[0]
    assert listed.owner is not None and listed.owner.type == "service_account"
    project = Project.model_validate(
        {
            "id": "proj_1",
            "name": None,
            "status": None,
            "residency": "EU_STORAGE_PROCESSING",
            "labels": ["x"],
        }
    )
    assert project.residency == "EU_STORAGE_PROCESSING"
    assert project.model_extra == {"labels": ["x"]}


def test_models_are_frozen() -> None:
    project = Project.model_validate(fixture("project"))
    with pytest.raises(ValidationError):
        project.name = "renamed"
