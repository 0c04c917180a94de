"""The configuration reference: generated from the model, up to date, and describing everything."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel

from poller.settings import Settings
from poller.settings.reference import REGENERATE, main, render

ROOT = Path(__file__).resolve().parents[3]


def test_docs_configuration_is_what_the_generator_renders() -> None:
    written = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert written == render(), f"docs/configuration.md is out of date: run `{REGENERATE}`"


def test_main_writes_the_reference_to_the_path_given(tmp_path: Path) -> None:
    target = tmp_path / "configuration.md"
    assert main([str(target)]) == 0
    assert target.read_text(encoding="utf-8") == render()


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        for field in annotation.model_fields.values():
            yield from _models(field.annotation)
    for arg in get_args(annotation):
        yield from _models(arg)


def test_every_setting_has_a_description() -> None:
    models = set(_models(Settings))
    assert len(models) == 17  # Settings, org defaults and orgs, stream, retry, es, metrics,
    # ha, setup and its retention, alerts, and the five destinations with their delivery retry
    undescribed = [
        f"{model.__name__}.{name}"
        for model in models
        for name, field in model.model_fields.items()
        if not (field.description or "").strip()
    ]
    assert undescribed == []


def _line(text: str, start: str) -> str:
    (line,) = [line for line in text.splitlines() if line.startswith(start)]
    return line


def test_rows_name_the_environment_type_and_default() -> None:
    text = render()
    assert _line(text, "| `metrics.port` ") == (
        "| `metrics.port` | `POLLER_METRICS__PORT` | integer, 0 to 65535 | `9464` "
        "| TCP port to listen on; `0` picks a free one. |"
    )
    assert _line(text, "| `elasticsearch.url` ").startswith(
        "| `elasticsearch.url` | `ELASTICSEARCH_URL`, `POLLER_ELASTICSEARCH__URL` | URL | unset |"
    )
    assert _line(text, "| `org_defaults.overrides.<stream>.interval` ").startswith(
        "| `org_defaults.overrides.<stream>.interval` "
        "| `POLLER_ORG_DEFAULTS__OVERRIDES__<STREAM>__INTERVAL` | duration > 0 "
        "| the org's `defaults.interval` |"
    )
    assert _line(text, "| `orgs[].overrides.<stream>.interval` ").startswith(
        "| `orgs[].overrides.<stream>.interval` | only in `POLLER_ORGS` | duration > 0 "
        "| `org_defaults.overrides.<stream>.interval`, else the org's `defaults.interval` |"
    )
    assert _line(text, "| `orgs[].base_url` ").startswith(
        "| `orgs[].base_url` | only in `POLLER_ORGS` | URL | `openai_base_url` |"
    )
    assert _line(text, "| `config` ").startswith(
        "| `config` (not in the file) | `POLLER_CONFIG` | path | unset |"
    )
    assert _line(text, "| namespace ") == (
        "| namespace | at most 100 lowercase characters, without `-`, spaces or any of "
        '`\\/*?"<>\\|,#:` |'
    )


def test_builtin_stream_defaults_come_from_the_resolved_streams() -> None:
    text = render()
    assert _line(text, "| setting | usage ") == (
        "| setting | usage | costs | audit | rate_limits | spend | governance | allocation |"
    )
    assert _line(text, "| `interval` ") == (
        "| `interval` | `5m` | `1h` | `5m` | `1h` | `1h` | `6h` | `1h` |"
    )
    assert _line(text, "| `bucket_width` ") == (
        "| `bucket_width` | `1m` | `1d` | `1m` | `1m` | `1m` | `1m` | `1d` |"
    )
    assert _line(text, "| `settlement_window` ") == (
        "| `settlement_window` | `1h` | `3d` | `0s` | `0s` | `0s` | `0s` | `3d` |"
    )
    assert _line(text, "| `group_by` ") == (
        "| `group_by` | all of the stream's | all of the stream's | none | none | none | none "
        "| none |"
    )


def test_importing_settings_loads_no_sink_or_backend() -> None:
    """Every command loads settings; most never touch Elasticsearch."""
    probe = (
        "import sys, poller.settings; "
        "print(sorted(m for m in sys.modules "
        "if m.partition('.')[0] in ('elasticsearch', 'elastic_transport', 'sqlite3') "
        "or m.startswith(('poller.sinks', 'poller.client'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout == "[]\n"
