"""The data view over `logs-openai.*`: field formats, and runtime labels (name, else id)."""

from __future__ import annotations

from typing import Any

from tools.assets.kibana._common import (
    CORE_MIGRATION_VERSION,
    DATA_VIEW_ID,
    DATA_VIEW_TITLE,
    LABEL_FIELDS,
    TYPE_MIGRATION_VERSION,
    dumps,
)


def _runtime_script(name_field: str, id_field: str) -> str:
    return (
        f"if (doc.containsKey('{name_field}') && !doc['{name_field}'].empty) "
        f"{{ emit(doc['{name_field}'].value); }} "
        f"else if (doc.containsKey('{id_field}') && !doc['{id_field}'].empty) "
        f"{{ emit(doc['{id_field}'].value); }}"
    )


def data_view() -> dict[str, Any]:
    formats = {
        "openai.costs.amount.value": {"id": "number", "params": {"pattern": "$0,0.00"}},
        "openai.base.cost_estimate_usd": {"id": "number", "params": {"pattern": "$0,0.0000"}},
        "openai.vector_stores.usage_bytes": {"id": "bytes"},
        "openai.audio_transcriptions.seconds": {
            "id": "duration",
            "params": {"inputFormat": "seconds", "outputFormat": "humanizePrecise"},
        },
    }
    runtime = {
        name: {"type": "keyword", "script": {"source": _runtime_script(*sources)}}
        for name, sources in LABEL_FIELDS.items()
    }
    return {
        "id": DATA_VIEW_ID,
        "type": "index-pattern",
        "coreMigrationVersion": CORE_MIGRATION_VERSION,
        "typeMigrationVersion": TYPE_MIGRATION_VERSION["index-pattern"],
        "managed": False,
        "attributes": {
            "title": DATA_VIEW_TITLE,
            "name": "OpenAI (openai-poller)",
            "timeFieldName": "@timestamp",
            "allowNoIndex": True,
            "fieldFormatMap": dumps(formats),
            "runtimeFieldMap": dumps(runtime),
            "sourceFilters": "[]",
            "fieldAttrs": "{}",
        },
        "references": [],
    }
