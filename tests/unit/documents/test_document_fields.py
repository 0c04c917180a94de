"""The field list: exhaustive for what the mappers write, generated from the spec, a superset of
Elastic's integration, and never declaring one path both as a leaf and as an object."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from golden_support import all_cases, map_case
from openapi_spec import SPEC_PATH

from poller.documents import audit_payload_paths, categorize, event_action, stream_fields
from poller.documents.fields import AUDIT_LOG_FIELDS, result_path
from poller.documents.fitting import fit
from poller.documents.specgen import GENERATED_MODULE, render
from poller.streams import ALL_STREAMS, STREAM_NAMES, USAGE_ENDPOINTS

_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return spec


def _types(stream: str) -> dict[str, str]:
    return {spec.path: spec.type for spec in stream_fields(stream)}


def _compatible(value: Any, es_type: str) -> bool:
    if isinstance(value, list):
        return all(_compatible(item, es_type) for item in value)
    if es_type in ("keyword", "constant_keyword"):
        return isinstance(value, str)
    if es_type == "long":
        return isinstance(value, int) and not isinstance(value, bool)
    if es_type == "double":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if es_type == "boolean":
        return isinstance(value, bool)
    if es_type == "date":
        return isinstance(value, str) and _ISO.fullmatch(value) is not None
    if es_type == "ip":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return False
        return True
    if es_type == "geo_point":
        return (
            isinstance(value, dict)
            and set(value) == {"lat", "lon"}
            and -90 <= value["lat"] <= 90
            and -180 <= value["lon"] <= 180
        )
    if es_type == "flattened":
        return isinstance(value, dict)
    raise AssertionError(f"unknown type {es_type}")


def _leaves(tree: Mapping[str, Any], declared: Mapping[str, str], path: str = "") -> Iterator[
    tuple[str, Any]
]:
    """(path, value) pairs, stopping at declared paths (a geo_point or flattened is an object)."""
    for key, value in tree.items():
        here = f"{path}{key}"
        if here in declared or not isinstance(value, dict):
            yield here, value
        else:
            yield from _leaves(value, declared, f"{here}.")


@pytest.mark.parametrize(
    ("stream", "case"), all_cases(), ids=[f"{s}: {c['name']}" for s, c in all_cases()]
)
def test_every_golden_field_is_declared_with_a_compatible_type(
    stream: str, case: dict[str, Any]
) -> None:
    declared = _types(stream)
    for path, value in _leaves(map_case(stream, case).source, declared):
        assert path in declared, f"{stream} writes undeclared {path}"
        assert _compatible(value, declared[path]), f"{path}={value!r} is no {declared[path]}"


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_no_path_is_both_a_leaf_and_an_object(stream: str) -> None:
    paths = [spec.path for spec in stream_fields(stream)]
    assert len(paths) == len(set(paths))
    for path in paths:
        assert not any(other.startswith(f"{path}.") for other in paths), path


def test_generated_payload_module_matches_the_spec() -> None:
    assert GENERATED_MODULE.read_text(encoding="utf-8") == render(_spec()), (
        "run: python -m poller.documents.specgen tests/fixtures/openapi/openapi.subset.json"
    )


def test_every_declared_payload_field_is_listed_with_its_json_type() -> None:
    es_of_json = {"string": "keyword", "integer": "long", "number": "double", "boolean": "boolean"}
    declared = _types("audit")
    paths = audit_payload_paths()
    assert "openai.audit.role.assignment.created.resource_type" in paths
    assert paths["openai.audit.api_key.created.data.scopes"] == "string"
    for path, json_type in paths.items():
        assert declared[path] == es_of_json[json_type], path


def _schema_leaves(
    schema: Mapping[str, Any], schemas: Mapping[str, Any], path: str
) -> Iterator[str]:
    if "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
    for option in schema.get("anyOf", ()):
        yield from _schema_leaves(option, schemas, path)
    if schema.get("type") == "object":
        for name, sub in schema.get("properties", {}).items():
            yield from _schema_leaves(sub, schemas, f"{path}.{name}")
    elif schema.get("type") not in (None, "null"):
        yield path


def test_every_field_the_spec_declares_on_the_log_and_actor_is_mapped() -> None:
    schemas = _spec()["components"]["schemas"]
    declared = _types("audit")
    log = schemas["AuditLog"]["properties"]
    for name in ("id", "type", "effective_at", "project", "actor"):
        for path in _schema_leaves(log[name], schemas, f"openai.audit.{name}"):
            assert path in declared, path


def test_every_catalog_result_field_is_declared() -> None:
    for stream, endpoint in USAGE_ENDPOINTS.items():
        declared = _types(stream)
        for name in (*endpoint.dimensions, *endpoint.metrics):
            assert result_path(stream, name) in declared, (stream, name)


# What Elastic's integration writes (reference §4 and §5), by stream: ours must be a superset,
# same names, same types. Its `openai.code_interpreter_sessions.sessions` is left out: the API
# sends `num_sessions`, so Elastic's declared field is never filled.
_COMMON_ELASTIC = {
    "@timestamp": "date",
    "data_stream.type": "constant_keyword",
    "data_stream.dataset": "constant_keyword",
    "data_stream.namespace": "constant_keyword",
    "event.dataset": "constant_keyword",
    "event.kind": "keyword",
    "ecs.version": "keyword",
    "tags": "keyword",
}
_USAGE_BASE = {
    "event.created": "date",
    "openai.base.project_id": "keyword",
    "openai.base.start_time": "date",
    "openai.base.end_time": "date",
    "openai.base.usage_object_type": "keyword",
}
_MODEL_BASE = {
    **_USAGE_BASE,
    "openai.base.model": "keyword",
    "openai.base.num_model_requests": "long",
    "openai.base.user_id": "keyword",
    "openai.base.api_key_id": "keyword",
}
_ELASTIC: dict[str, dict[str, str]] = {
    "completions": {
        **_MODEL_BASE,
        "openai.base.usage_tokens": "long",
        **{
            f"openai.completions.{name}": "long"
            for name in (
                "input_tokens",
                "output_tokens",
                "input_cached_tokens",
                "input_audio_tokens",
                "output_audio_tokens",
            )
        },
        "openai.completions.batch": "boolean",
    },
    "embeddings": {
        **_MODEL_BASE,
        "openai.base.usage_tokens": "long",
        "openai.embeddings.input_tokens": "long",
    },
    "moderations": {
        **_MODEL_BASE,
        "openai.base.usage_tokens": "long",
        "openai.moderations.input_tokens": "long",
    },
    "images": {
        **_MODEL_BASE,
        "openai.base.usage_images": "long",
        "openai.images.images": "long",
        "openai.images.size": "keyword",
        "openai.images.source": "keyword",
    },
    "audio_speeches": {**_MODEL_BASE, "openai.audio_speeches.characters": "long"},
    "audio_transcriptions": {**_MODEL_BASE, "openai.audio_transcriptions.seconds": "long"},
    "code_interpreter_sessions": _USAGE_BASE,
    "vector_stores": {**_USAGE_BASE, "openai.vector_stores.usage_bytes": "long"},
    "audit": {
        "event.module": "constant_keyword",
        "observer.vendor": "constant_keyword",
        "observer.product": "constant_keyword",
        **{
            f"openai.audit.{path}": es_type
            for path, es_type in {
                "actor.api_key.id": "keyword",
                "actor.api_key.service_account.id": "keyword",
                "actor.api_key.type": "keyword",
                "actor.api_key.user.email": "keyword",
                "actor.api_key.user.id": "keyword",
                "actor.session.ip_address": "ip",
                "actor.session.ip_address_details.asn": "long",
                "actor.session.ip_address_details.city": "keyword",
                "actor.session.ip_address_details.country": "keyword",
                "actor.session.ip_address_details.latitude": "double",
                "actor.session.ip_address_details.longitude": "double",
                "actor.session.ip_address_details.region": "keyword",
                "actor.session.ip_address_details.region_code": "keyword",
                "actor.session.ja3": "keyword",
                "actor.session.ja4": "keyword",
                "actor.session.user.email": "keyword",
                "actor.session.user.id": "keyword",
                "actor.session.user_agent": "keyword",
                "actor.type": "keyword",
                "effective_at": "date",
                "id": "keyword",
                "object": "keyword",
                "type": "keyword",
                # the dashboard's controls
                "role.assignment.created.resource_type": "keyword",
                "role.assignment.deleted.principal_type": "keyword",
            }.items()
        },
        **{
            path: "keyword"
            for path in (
                "event.category",
                "event.type",
                "event.action",
                "event.id",
                "event.original",
                "user.email",
                "user.id",
                "user.domain",
                "user_agent.original",
                "tls.client.ja3",
                "service.id",
                "related.user",
                "source.geo.city_name",
                "source.geo.country_iso_code",
                "source.geo.region_name",
                "source.geo.region_iso_code",
            )
        },
        "source.ip": "ip",
        "related.ip": "ip",
        "source.as.number": "long",
        "source.geo.location": "geo_point",
    },
    "rate_limits": {
        "event.created": "date",
        **{
            f"openai.rate_limits.{name}": "keyword"
            for name in ("id", "object", "project_id", "project_name", "project_status", "model")
        },
        **{
            f"openai.rate_limits.{name}": "long"
            for name in (
                "max_requests_per_1_minute",
                "max_tokens_per_1_minute",
                "max_images_per_1_minute",
                "max_audio_megabytes_per_1_minute",
                "max_requests_per_1_day",
                "max_tokens_per_1_day",
                "batch_1_day_max_input_tokens",
            )
        },
        "openai.rate_limits.collected_at": "date",
    },
}


@pytest.mark.parametrize("stream", sorted(_ELASTIC))
def test_fields_are_a_superset_of_elastics(stream: str) -> None:
    declared = _types(stream)
    for path, es_type in {**_COMMON_ELASTIC, **_ELASTIC[stream]}.items():
        assert declared.get(path) == es_type, path


def test_event_original_is_stored_not_indexed() -> None:
    (original,) = [spec for spec in stream_fields("audit") if spec.path == "event.original"]
    assert not original.indexed


def _subtree(*keys: str) -> Mapping[str, Any]:
    node: Any = AUDIT_LOG_FIELDS
    for key in keys:
        node = node[key]
    assert isinstance(node, Mapping)
    return node


@pytest.mark.parametrize(
    ("value", "mapped", "unmapped"),
    [
        ({"asn": "29518", "latitude": "-1.5"}, {"asn": 29518, "latitude": -1.5}, {}),
        ({"asn": "1.5", "latitude": "NaN"}, {}, {"asn": "1.5", "latitude": "NaN"}),
        ({"asn": True, "latitude": "1e999"}, {}, {"asn": True, "latitude": "1e999"}),
        ({"asn": 7.0, "city": 3}, {"asn": 7}, {"city": 3}),
        ({"asn": None, "city": "", "country": [], "region": {}}, {}, {}),
        ({"region": {"name": "x"}, "other": [1]}, {}, {"region": {"name": "x"}, "other": [1]}),
    ],
)
def test_fit_converts_what_it_can_and_keeps_the_rest(
    value: dict[str, Any], mapped: dict[str, Any], unmapped: dict[str, Any]
) -> None:
    assert fit(value, _subtree("actor", "session", "ip_address_details")) == (mapped, unmapped)


def test_a_list_of_objects_with_undeclared_parts_is_kept_whole() -> None:
    payload = {"certificates": [{"id": "c1", "name": "a"}, {"id": "c2", "pem": "..."}]}
    tree = _subtree("certificates.activated")
    assert fit(payload, tree) == ({}, payload)
    declared_only = {"certificates": [{"id": "c1"}, {"id": "c2", "name": "b"}]}
    assert fit(declared_only, tree) == (declared_only, {})


@pytest.mark.parametrize(
    ("event_type", "category", "types"),
    [
        ("login.succeeded", ["authentication", "iam"], ["start", "change"]),
        ("login.failed", ["authentication", "iam"], ["start", "change"]),
        ("logout.succeeded", ["authentication", "iam"], ["end", "change"]),
        ("logout.failed", ["authentication", "iam"], ["end", "change"]),
        ("user.added", ["iam"], ["creation", "user", "change"]),
        ("invite.accepted", ["iam"], ["change", "user"]),
        ("group.deleted", ["iam"], ["deletion", "group", "change"]),
        ("role.assignment.deleted", ["iam"], ["deletion", "change"]),
        ("scim.enabled", ["iam"], ["change"]),
        ("api_key.created", ["iam"], ["creation", "change"]),
        ("project.archived", ["configuration", "iam"], ["change"]),
        ("certificates.activated", ["configuration", "iam"], ["change"]),
        ("rate_limit.deleted", ["configuration", "iam"], ["deletion", "change"]),
        (
            "tenant.workload_identity.access_token.issued",
            ["configuration", "iam"],
            ["creation", "change"],
        ),
        ("tenant.user.looked_up", ["configuration", "iam"], ["info", "change"]),
        ("something.new", ["configuration", "iam"], ["info", "change"]),
    ],
)
def test_categorize_adds_elastics_iam_change_to_the_pollers_own(
    event_type: str, category: list[str], types: list[str]
) -> None:
    assert categorize(event_type) == (category, types)


@pytest.mark.parametrize(
    ("event_type", "action"),
    [
        ("login.succeeded", "login-succeeded"),
        ("login.failed", "login-failed"),
        ("api_key.created", "api_key-created"),
        ("role.assignment.created", "role-assignment-created"),
        ("tenant.admin_api_key.created", "tenant-admin_api_key-created"),
        ("Service_Account.Updated", "service_account-updated"),
        ("single", "single"),
        ("a..b", "a--b"),
        ("trailing.dot.", "trailing-dot"),
        (".leading", "-leading"),
        ("...", None),
    ],
)
def test_event_action_is_elastics_lowercased_dash_joined_type(
    event_type: str, action: str | None
) -> None:
    assert event_action(event_type) == action


# ECS 8.17 allowed event.type values per event.category.
_ECS_TYPES = {
    "authentication": {"start", "end", "info"},
    "iam": {"admin", "change", "creation", "deletion", "group", "info", "user"},
    "configuration": {"access", "change", "creation", "deletion", "info"},
}


def test_every_spec_event_type_gets_ecs_allowed_values() -> None:
    """Each event.type is one ECS allows for at least one of the event's categories."""
    for event_type in _spec()["components"]["schemas"]["AuditLogEventType"]["enum"]:
        categories, types = categorize(event_type)
        allowed = set().union(*(_ECS_TYPES[category] for category in categories))
        assert "iam" in categories, event_type
        assert "change" in types, event_type
        assert set(types) <= allowed, event_type


def test_every_stream_has_a_field_list() -> None:
    assert set(STREAM_NAMES) == set(ALL_STREAMS)
    for stream in STREAM_NAMES:
        assert _types(stream)["event.dataset"] == "constant_keyword"
