"""Destination settings: the `type` picks the model, defaults are the documented ones, and every
bad value is refused without echoing a secret."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from poller.destinations import (
    DEFAULT_DIMENSIONS,
    DIMENSIONS,
    Destinations,
    LokiSettings,
    OtlpSettings,
    PrometheusSettings,
    RemoteWriteSettings,
    SplunkHecSettings,
    name_of,
    streams_of,
)
from poller.streams import STREAM_NAMES, StreamKind

ADAPTER: TypeAdapter[Any] = TypeAdapter(Destinations)
DOCS = Path(__file__).resolve().parents[3] / "docs" / "destinations.md"


def parse(*items: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(ADAPTER.validate_python(list(items)))


def refusal(*items: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        parse(*items)
    return str(caught.value)


def test_the_type_picks_the_model_and_the_defaults() -> None:
    prom, rw, otlp, loki, hec = parse(
        {"type": "prometheus"},
        {"type": "remote_write", "url": "http://mimir:8080/api/v1/push/"},
        {"type": "otlp", "url": "https://collector:4318/v1/metrics"},
        {"type": "loki", "url": "http://loki:3100", "tenant": "acme"},
        {"type": "splunk_hec", "url": "https://splunk:8088", "token": "tok"},
    )
    assert isinstance(prom, PrometheusSettings)
    assert (prom.dimensions, prom.max_series, prom.new_series_hold) == (
        DEFAULT_DIMENSIONS, 2000, timedelta(minutes=2),
    )
    assert isinstance(rw, RemoteWriteSettings)
    assert rw.url == "http://mimir:8080/api/v1/push"  # trailing slash dropped
    assert (rw.batch_size, rw.timeout, rw.retry.attempts) == (500, timedelta(seconds=10), 4)
    assert isinstance(otlp, OtlpSettings)
    assert (otlp.service_name, otlp.gzip) == ("openai-poller", True)
    assert isinstance(loki, LokiSettings)
    assert isinstance(hec, SplunkHecSettings)
    assert (hec.ack, hec.index, hec.source) == (False, None, "openai-poller")
    assert [name_of(d) for d in (prom, rw, otlp, loki, hec)] == [
        "prometheus", "remote_write", "otlp", "loki", "splunk_hec",
    ]
    assert streams_of(loki) == frozenset({"audit"})
    assert streams_of(hec) == frozenset(STREAM_NAMES)


def test_durations_are_written_as_every_other_duration() -> None:
    (otlp,) = parse({"type": "otlp", "url": "http://c", "timeout": "1m30s",
                     "retry": {"backoff": "500ms", "max_backoff": 20}})
    assert (otlp.timeout, otlp.retry.backoff, otlp.retry.max_backoff) == (
        timedelta(seconds=90), timedelta(milliseconds=500), timedelta(seconds=20),
    )
    assert "bad duration" in refusal({"type": "prometheus", "new_series_hold": "soon"})


def test_sourcetypes_default_per_kind_and_can_be_overridden_one_by_one() -> None:
    (hec,) = parse({"type": "splunk_hec", "url": "https://s:8088", "token": "t",
                    "sourcetypes": {"audit": "acme:audit"}})
    assert [hec.sourcetype(kind) for kind in StreamKind] == [
        "openai:usage", "openai:costs", "acme:audit", "openai:rate_limits", "openai:spend",
        "openai:governance",
        "openai:allocation",
    ]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"type": "graphite"}, "does not match any of the expected tags"),
        ({"type": "remote_write"}, "url"),
        ({"type": "remote_write", "url": "ftp://x"}, "malformed URL"),
        ({"type": "otlp", "url": "http://user:s3cret@collector"}, "not the URL"),
        ({"type": "prometheus", "dimensions": ["org", "prompt"]}, "dimensions must be distinct"),
        ({"type": "prometheus", "dimensions": ["org", "org"]}, "dimensions must be distinct"),
        ({"type": "prometheus", "streams": ["completion"]}, "unknown streams"),
        ({"type": "prometheus", "max_series": 0}, "greater than or equal to 1"),
        ({"type": "prometheus", "name": "Has Space"}, "should match pattern"),
        ({"type": "splunk_hec", "url": "https://s"}, "give token or token_file"),
        ({"type": "splunk_hec", "url": "https://s", "token": "t", "sourcetypes": {"x": "y"}},
         "unknown kinds"),
        ({"type": "loki", "url": "http://l", "token": "t", "username": "u", "password": "p"},
         "not both"),
        ({"type": "loki", "url": "http://l", "username": "u"}, "go together"),
        ({"type": "otlp", "url": "http://c", "ca_file": "/nonexistent/ca.pem"}, "no such file"),
        ({"type": "otlp", "url": "http://c", "timeout": 0}, "greater than"),
    ],
)
def test_bad_values_are_refused(item: dict[str, Any], message: str) -> None:
    assert message in refusal(item)


def test_names_are_unique_per_org_and_prometheus_comes_once() -> None:
    twice = {"type": "remote_write", "url": "http://a"}
    assert "distinct names" in refusal(twice, twice)
    parse(twice, {**twice, "name": "backup"})
    assert "at most one prometheus" in refusal(
        {"type": "prometheus"}, {"type": "prometheus", "name": "other"}
    )


def test_secrets_are_never_echoed() -> None:
    text = refusal({"type": "splunk_hec", "url": "https://s", "token": "hec-s3cret",
                    "token_file": "/nonexistent", "headers": {"X-Key": "h3ader-s3cret"}})
    assert "s3cret" not in text
    (hec,) = parse({"type": "splunk_hec", "url": "https://s", "token": "hec-s3cret",
                    "headers": {"X-Key": "h3ader-s3cret"}})
    assert "s3cret" not in repr(hec)


def _documented_fields() -> set[str]:
    return set(re.findall(r"(?m)^\| `([a-z_]+)` \|", DOCS.read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    "model",
    [PrometheusSettings, RemoteWriteSettings, OtlpSettings, LokiSettings, SplunkHecSettings],
)
def test_docs_describe_every_setting(model: type[Any]) -> None:
    assert set(model.model_fields) <= _documented_fields()


def test_docs_name_every_dimension() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert all(f"`{name}`" in text for name in DIMENSIONS)
