"""Builds the committed Kibana assets: `openai-poller.ndjson` and `rules/*.json`.

Run `python -m poller.assets generate` (which calls `build()` here, then regenerates the
Elasticsearch templates that map every field these assets read). Writing Lens state by hand is
error-prone, so panels are declared compactly below and expanded to the saved-object format of
Kibana 8.x (`formBased` datasource, by-value panels); a unit test keeps the committed files equal
to a fresh build.

Time offsets (see README.md): usage documents carry the bucket START and are indexed only once the
bucket settled (grace 2 min) and the next poll (every 5 min) ran, so a 1-minute bucket can arrive
up to ~8.5 min after its start. The 5-minute usage rules therefore read bucket starts in
[now-15m, now-10m) (minute-aligned), never the last minutes that are still arriving.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from poller.documents import all_stream_fields

DATA_VIEW_ID: Final = "openai-poller-logs-openai"
DATA_VIEW_TITLE: Final = "logs-openai.*"
AUDIT_SEARCH_ID: Final = "openai-poller-audit-log"
USAGE_DASHBOARD_ID: Final = "openai-poller-usage"
COSTS_DASHBOARD_ID: Final = "openai-poller-costs"
AUDIT_DASHBOARD_ID: Final = "openai-poller-audit"
NDJSON_NAME: Final = "openai-poller.ndjson"

# The oldest Kibana these objects are written for; newer Kibana migrates them forward.
CORE_MIGRATION_VERSION: Final = "8.8.0"
TYPE_MIGRATION_VERSION: Final = {
    "index-pattern": "8.0.0",
    "search": "8.0.0",
    "dashboard": "8.9.0",
}
PANEL_VERSION: Final = "8.9.0"

USAGE_OFFSET_MINUTES: Final = 10  # grace 2 min + poll 5 min + 1 min bucket + margin
AUDIT_OFFSET_MINUTES: Final = 15  # poll 5 min + overlap re-read 5 min + the API's own lag

_FIELD_TYPES: Final = {
    spec.path: spec.type for specs in all_stream_fields().values() for spec in specs
}
_LENS_DATA_TYPE: Final = {
    "keyword": "string",
    "constant_keyword": "string",
    "long": "number",
    "double": "number",
    "date": "date",
    "ip": "ip",
    "boolean": "boolean",
}

# Data-view runtime fields: the display name where the directory knew it, else the id, so a
# chart split by project never drops (or lumps together) the documents without a name.
LABEL_FIELDS: Final = {
    "openai.base.project_label": ("openai.base.project_name", "openai.base.project_id"),
    "openai.base.user_label": ("openai.base.user_email", "openai.base.user_id"),
    "openai.base.api_key_label": ("openai.base.api_key_name", "openai.base.api_key_id"),
}
_FIELD_TYPES.update(dict.fromkeys(LABEL_FIELDS, "keyword"))


def _stable_id(*parts: str) -> str:
    """A deterministic id shaped as a UUID v4 (Kibana requires v1/v4 for predefined rule ids)."""
    digest = hashlib.sha256("/".join(("openai-poller", *parts)).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def kql_dataset(*streams: str) -> str:
    values = " or ".join(f'"openai.{s}"' for s in streams)
    return (
        f"data_stream.dataset : ({values})"
        if len(streams) > 1
        else f"data_stream.dataset : {values}"
    )


# ---- Lens columns -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Col:
    """One Lens column; `op` is the Lens operationType."""

    op: str
    field: str | None = None
    label: str = ""
    size: int = 10
    interval: str = "auto"
    order_by: str | None = None  # metric column id a terms column is ordered by
    missing: bool = False
    other: bool = True
    fmt: Mapping[str, Any] | None = None
    kql: str | None = None

    def render(self, panel_id: str) -> dict[str, Any]:
        base: dict[str, Any] = {"label": self.label, "customLabel": True}
        if self.op == "date_histogram":
            return {
                **base,
                "dataType": "date",
                "operationType": "date_histogram",
                "sourceField": self.field or "@timestamp",
                "isBucketed": True,
                "scale": "interval",
                "params": {
                    "interval": self.interval,
                    "includeEmptyRows": True,
                    "dropPartials": False,
                },
            }
        if self.op == "terms":
            if not (self.field and self.order_by):
                raise ValueError("a terms column needs a field and a metric to order by")
            return {
                **base,
                "dataType": _LENS_DATA_TYPE[_FIELD_TYPES[self.field]],
                "operationType": "terms",
                "sourceField": self.field,
                "isBucketed": True,
                "scale": "ordinal",
                "params": {
                    "size": self.size,
                    "orderBy": {"type": "column", "columnId": f"{panel_id}-{self.order_by}"},
                    "orderDirection": "desc",
                    "otherBucket": self.other,
                    "missingBucket": self.missing,
                    "parentFormat": {"id": "terms"},
                },
            }
        params: dict[str, Any] = {"emptyAsNull": True}
        if self.fmt:
            params["format"] = dict(self.fmt)
        column: dict[str, Any] = {
            **base,
            "dataType": "number",
            "operationType": self.op,
            "sourceField": self.field or "___records___",
            "isBucketed": False,
            "scale": "ratio",
            "params": params,
        }
        if self.op in ("max", "min") and self.field and _FIELD_TYPES[self.field] == "date":
            column["dataType"] = "date"
            del column["params"]["emptyAsNull"]
        if self.kql:
            column["filter"] = {"query": self.kql, "language": "kuery"}
        return column


USD: Final = {"id": "number", "params": {"decimals": 2, "suffix": " USD"}}
BYTES: Final = {"id": "bytes", "params": {"decimals": 1}}
PERCENT: Final = {"id": "percent", "params": {"decimals": 0}}


def date(interval: str = "auto") -> Col:
    return Col("date_histogram", "@timestamp", "@timestamp", interval=interval)


def total(field_path: str, label: str, fmt: Mapping[str, Any] | None = None) -> Col:
    return Col("sum", field_path, label, fmt=fmt)


def count(label: str) -> Col:
    return Col("count", None, label)


# ---- panels -------------------------------------------------------------------------------------


@dataclass
class Grid:
    """Places panels left to right in rows of a 48-column dashboard."""

    x: int = 0
    y: int = 0
    row_h: int = 0

    def place(self, w: int, h: int) -> dict[str, int]:
        if self.x + w > 48:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        spot = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.x += w
        self.row_h = max(self.row_h, h)
        return spot


@dataclass(frozen=True)
class Lens:
    """A by-value Lens panel: one layer of named columns and a visualization kind."""

    title: str
    kind: str  # metric | bar_stacked | bar_horizontal | line | table
    columns: Mapping[str, Col]
    kql: str = ""
    x: str | None = None  # xy: x accessor
    split: str | None = None  # xy: split accessor
    w: int = 24
    h: int = 12
    description: str = ""
    formula: Mapping[str, tuple[str, str, str, str]] = field(default_factory=dict)
    # formula column id → (label, numerator field, denominator field, formula text)

    def render(self, panel_id: str, grid: Grid) -> tuple[dict[str, Any], list[dict[str, str]]]:
        layer_id = f"{panel_id}-layer"
        cols = {f"{panel_id}-{name}": col.render(panel_id) for name, col in self.columns.items()}
        order = [
            f"{panel_id}-{n}"
            for n, c in self.columns.items()
            if c.op in ("terms", "date_histogram")
        ]
        order += [
            f"{panel_id}-{n}"
            for n, c in self.columns.items()
            if c.op not in ("terms", "date_histogram")
        ]
        for name, (label, numerator, denominator, text) in self.formula.items():
            cid = f"{panel_id}-{name}"
            cols.update(_formula(cid, label, numerator, denominator, text))
            order += [cid, f"{cid}X0", f"{cid}X1", f"{cid}X2"]
        metrics = [
            c for c in order if not cols[c]["isBucketed"] and not c.endswith(("X0", "X1", "X2"))
        ]
        ref_name = f"indexpattern-datasource-layer-{layer_id}"
        attributes = {
            "title": self.title,
            "description": self.description,
            "visualizationType": _VIS_TYPE[self.kind],
            "type": "lens",
            "references": [{"type": "index-pattern", "id": DATA_VIEW_ID, "name": ref_name}],
            "state": {
                "visualization": self._visualization(layer_id, panel_id, metrics, order),
                "query": {"query": self.kql, "language": "kuery"},
                "filters": [],
                "datasourceStates": {
                    "formBased": {
                        "layers": {
                            layer_id: {
                                "columns": cols,
                                "columnOrder": order,
                                "incompleteColumns": {},
                                "sampling": 1,
                            }
                        }
                    },
                    "textBased": {"layers": {}},
                },
                "internalReferences": [],
                "adHocDataViews": {},
            },
        }
        panel = {
            "version": PANEL_VERSION,
            "type": "lens",
            "gridData": {**grid.place(self.w, self.h), "i": panel_id},
            "panelIndex": panel_id,
            "embeddableConfig": {"attributes": attributes, "enhancements": {}},
            "title": self.title,
        }
        return panel, [
            {"type": "index-pattern", "id": DATA_VIEW_ID, "name": f"{panel_id}:{ref_name}"}
        ]

    def _visualization(
        self, layer_id: str, panel_id: str, metrics: list[str], order: list[str]
    ) -> dict[str, Any]:
        if self.kind == "metric":
            return {"layerId": layer_id, "layerType": "data", "metricAccessor": metrics[0]}
        if self.kind == "table":
            return {
                "layerId": layer_id,
                "layerType": "data",
                "columns": [
                    {"columnId": c, "isTransposed": False}
                    for c in order
                    if not c.endswith(("X0", "X1", "X2"))
                ],
                "rowHeight": "single",
                "rowHeightLines": 1,
            }
        layer: dict[str, Any] = {
            "layerId": layer_id,
            "layerType": "data",
            "seriesType": self.kind,
            "xAccessor": f"{panel_id}-{self.x}",
            "accessors": metrics,
        }
        if self.split:
            layer["splitAccessor"] = f"{panel_id}-{self.split}"
        return {
            "legend": {"isVisible": True, "position": "right"},
            "valueLabels": "hide",
            "fittingFunction": "None",
            "preferredSeriesType": self.kind,
            "layers": [layer],
            "axisTitlesVisibilitySettings": {"x": True, "yLeft": True, "yRight": True},
            "tickLabelsVisibilitySettings": {"x": True, "yLeft": True, "yRight": True},
            "gridlinesVisibilitySettings": {"x": True, "yLeft": True, "yRight": True},
            "labelsOrientation": {"x": 0, "yLeft": 0, "yRight": 0},
        }


_VIS_TYPE: Final = {
    "metric": "lnsMetric",
    "table": "lnsDatatable",
    "bar_stacked": "lnsXY",
    "bar_horizontal": "lnsXY",
    "line": "lnsXY",
}


def _formula(cid: str, label: str, numerator: str, denominator: str, text: str) -> dict[str, Any]:
    """A Lens formula `sum(a) / sum(b)` in the expanded form Lens stores (parts X0..X2)."""
    part = f"Part of {label}"
    return {
        cid: {
            "label": label,
            "customLabel": True,
            "dataType": "number",
            "operationType": "formula",
            "isBucketed": False,
            "scale": "ratio",
            "params": {"formula": text, "isFormulaBroken": False, "format": PERCENT},
            "references": [f"{cid}X2"],
        },
        f"{cid}X0": {
            "label": part,
            "customLabel": True,
            "dataType": "number",
            "operationType": "sum",
            "sourceField": numerator,
            "isBucketed": False,
            "scale": "ratio",
            "params": {"emptyAsNull": False},
        },
        f"{cid}X1": {
            "label": part,
            "customLabel": True,
            "dataType": "number",
            "operationType": "sum",
            "sourceField": denominator,
            "isBucketed": False,
            "scale": "ratio",
            "params": {"emptyAsNull": False},
        },
        f"{cid}X2": {
            "label": part,
            "customLabel": True,
            "dataType": "number",
            "operationType": "math",
            "isBucketed": False,
            "scale": "ratio",
            "params": {
                "tinymathAst": {
                    "type": "function",
                    "name": "divide",
                    "args": [f"{cid}X0", f"{cid}X1"],
                    "location": {"min": 0, "max": len(text)},
                    "text": text,
                }
            },
            "references": [f"{cid}X0", f"{cid}X1"],
        },
    }


@dataclass(frozen=True)
class Markdown:
    text: str
    w: int = 48
    h: int = 5

    def render(self, panel_id: str, grid: Grid) -> tuple[dict[str, Any], list[dict[str, str]]]:
        saved_vis = {
            "title": "",
            "description": "",
            "type": "markdown",
            "params": {"fontSize": 12, "openLinksInNewTab": False, "markdown": self.text},
            "uiState": {},
            "data": {"aggs": [], "searchSource": {}},
        }
        panel = {
            "version": PANEL_VERSION,
            "type": "visualization",
            "gridData": {**grid.place(self.w, self.h), "i": panel_id},
            "panelIndex": panel_id,
            "embeddableConfig": {
                "savedVis": saved_vis,
                "hidePanelTitles": True,
                "enhancements": {},
            },
        }
        return panel, []


@dataclass(frozen=True)
class GeoHeatmap:
    """A by-value Maps panel: a heat map of `geo_field` over documents matching `kql`."""

    title: str
    geo_field: str
    kql: str
    w: int = 24
    h: int = 15

    def render(self, panel_id: str, grid: Grid) -> tuple[dict[str, Any], list[dict[str, str]]]:
        layers = [
            {
                "sourceDescriptor": {"type": "EMS_TMS", "isAutoSelect": True},
                "id": f"{panel_id}-basemap",
                "label": None,
                "minZoom": 0,
                "maxZoom": 24,
                "alpha": 1,
                "visible": True,
                "style": {"type": "TILE"},
                "includeInFitToBounds": True,
                "type": "EMS_VECTOR_TILE",
            },
            {
                "sourceDescriptor": {
                    "type": "ES_GEO_GRID",
                    "id": f"{panel_id}-source",
                    "geoField": self.geo_field,
                    "requestType": "heatmap",
                    "resolution": "MOST_FINE",
                    "metrics": [{"type": "count"}],
                    "applyGlobalQuery": True,
                    "applyGlobalTime": True,
                    "applyForceRefresh": True,
                    "indexPatternRefName": "layer_1_source_index_pattern",
                },
                "id": f"{panel_id}-heat",
                "label": self.title,
                "minZoom": 0,
                "maxZoom": 24,
                "alpha": 0.75,
                "visible": True,
                "style": {"type": "HEATMAP", "colorRampName": "Yellow to Red"},
                "includeInFitToBounds": True,
                "type": "HEATMAP",
                "query": {"query": self.kql, "language": "kuery"},
            },
        ]
        map_state = {
            "zoom": 1.2,
            "center": {"lon": 0, "lat": 20},
            "timeFilters": {"from": "now-7d", "to": "now"},
            "refreshConfig": {"isPaused": True, "interval": 0},
            "query": {"query": "", "language": "kuery"},
            "filters": [],
            "settings": {"autoFitToDataBounds": False, "initialLocation": "LAST_SAVED_LOCATION"},
        }
        attributes = {
            "title": self.title,
            "description": "",
            "layerListJSON": _dumps(layers),
            "mapStateJSON": _dumps(map_state),
            "uiStateJSON": _dumps({"isLayerTOCOpen": False, "openTOCDetails": []}),
            "references": [
                {
                    "type": "index-pattern",
                    "id": DATA_VIEW_ID,
                    "name": "layer_1_source_index_pattern",
                }
            ],
        }
        panel = {
            "version": PANEL_VERSION,
            "type": "map",
            "gridData": {**grid.place(self.w, self.h), "i": panel_id},
            "panelIndex": panel_id,
            "embeddableConfig": {
                "attributes": attributes,
                "mapCenter": {"lat": 20, "lon": 0, "zoom": 1.2},
                "isLayerTOCOpen": False,
                "hiddenLayers": [],
                "openTOCDetails": [],
                "enhancements": {},
            },
            "title": self.title,
        }
        ref = {
            "type": "index-pattern",
            "id": DATA_VIEW_ID,
            "name": f"{panel_id}:layer_1_source_index_pattern",
        }
        return panel, [ref]


@dataclass(frozen=True)
class SearchPanel:
    """A saved Discover search embedded by reference."""

    title: str
    search_id: str
    w: int = 48
    h: int = 15

    def render(self, panel_id: str, grid: Grid) -> tuple[dict[str, Any], list[dict[str, str]]]:
        panel = {
            "version": PANEL_VERSION,
            "type": "search",
            "gridData": {**grid.place(self.w, self.h), "i": panel_id},
            "panelIndex": panel_id,
            "embeddableConfig": {"enhancements": {}},
            "panelRefName": f"panel_{panel_id}",
            "title": self.title,
        }
        return panel, [
            {"type": "search", "id": self.search_id, "name": f"{panel_id}:panel_{panel_id}"}
        ]


Panel = Lens | Markdown | GeoHeatmap | SearchPanel


def dashboard(
    dashboard_id: str, title: str, description: str, panels: Sequence[Panel], time_from: str
) -> dict[str, Any]:
    grid = Grid()
    rendered: list[dict[str, Any]] = []
    references: list[dict[str, str]] = []
    for i, spec in enumerate(panels):
        panel, refs = spec.render(f"{dashboard_id.removeprefix('openai-poller-')[0]}{i:02d}", grid)
        rendered.append(panel)
        references += refs
    return {
        "id": dashboard_id,
        "type": "dashboard",
        "coreMigrationVersion": CORE_MIGRATION_VERSION,
        "typeMigrationVersion": TYPE_MIGRATION_VERSION["dashboard"],
        "managed": False,
        "attributes": {
            "title": title,
            "description": description,
            "panelsJSON": _dumps(rendered),
            "optionsJSON": _dumps(
                {
                    "useMargins": True,
                    "syncColors": False,
                    "syncCursor": True,
                    "syncTooltips": False,
                    "hidePanelTitles": False,
                }
            ),
            "version": 1,
            "timeRestore": True,
            "timeFrom": time_from,
            "timeTo": "now",
            "refreshInterval": {"pause": True, "value": 60000},
            "kibanaSavedObjectMeta": {
                "searchSourceJSON": _dumps(
                    {"query": {"query": "", "language": "kuery"}, "filter": []}
                )
            },
        },
        "references": references,
    }


# ---- the saved objects --------------------------------------------------------------------------

USAGE_STREAMS: Final = (
    "completions",
    "embeddings",
    "moderations",
    "images",
    "audio_speeches",
    "audio_transcriptions",
    "vector_stores",
    "code_interpreter_sessions",
    "file_search_calls",
    "web_search_calls",
)
_NAV: Final = (
    f"[Usage](#/view/{USAGE_DASHBOARD_ID}) · [Costs](#/view/{COSTS_DASHBOARD_ID}) · "
    f"[Audit and security](#/view/{AUDIT_DASHBOARD_ID})"
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
            "fieldFormatMap": _dumps(formats),
            "runtimeFieldMap": _dumps(runtime),
            "sourceFilters": "[]",
            "fieldAttrs": "{}",
        },
        "references": [],
    }


def audit_search() -> dict[str, Any]:
    source = {
        "query": {"query": kql_dataset("audit"), "language": "kuery"},
        "filter": [],
        "highlightAll": True,
        "version": True,
        "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index",
    }
    return {
        "id": AUDIT_SEARCH_ID,
        "type": "search",
        "coreMigrationVersion": CORE_MIGRATION_VERSION,
        "typeMigrationVersion": TYPE_MIGRATION_VERSION["search"],
        "managed": False,
        "attributes": {
            "title": "[OpenAI poller] Audit log",
            "description": "Every OpenAI audit log event, newest first.",
            "columns": [
                "event.action",
                "event.outcome",
                "user.email",
                "source.ip",
                "source.geo.country_iso_code",
                "openai.audit.project.name",
                "openai.audit.actor.type",
            ],
            "sort": [["@timestamp", "desc"]],
            "grid": {},
            "hideChart": False,
            "isTextBasedQuery": False,
            "kibanaSavedObjectMeta": {"searchSourceJSON": _dumps(source)},
        },
        "references": [
            {
                "type": "index-pattern",
                "id": DATA_VIEW_ID,
                "name": "kibanaSavedObjectMeta.searchSourceJSON.index",
            }
        ],
    }


def _top_table(title: str, id_field: str, name_field: str, w: int = 16) -> Lens:
    return Lens(
        title,
        "table",
        {
            "id": Col("terms", id_field, "Id", size=10, order_by="tokens"),
            "name": Col(
                "terms", name_field, "Name", size=1, order_by="tokens", missing=True, other=False
            ),
            "requests": total("openai.base.num_model_requests", "Requests"),
            "tokens": total("openai.base.usage_tokens", "Tokens"),
            "cost": total("openai.base.cost_estimate_usd", "Estimated cost", USD),
        },
        kql=kql_dataset(*USAGE_STREAMS),
        w=w,
    )


def _by_time(
    title: str,
    metric: Col,
    split_field: str,
    *,
    kql: str = "",
    w: int = 16,
    h: int = 10,
    size: int = 10,
) -> Lens:
    return Lens(
        title,
        "bar_stacked",
        {
            "time": date(),
            "split": Col(
                "terms", split_field, split_field.rpartition(".")[2], size=size, order_by="value"
            ),
            "value": metric,
        },
        kql=kql,
        x="time",
        split="split",
        w=w,
        h=h,
    )


def usage_dashboard() -> dict[str, Any]:
    panels: list[Panel] = [
        Markdown(
            "### OpenAI usage\n"
            "Collected by openai-poller from the Usage API. `@timestamp` is the start of each "
            "usage bucket; the newest ~10 minutes are still arriving. Names (project, user, "
            "API key) come from the organization directory; where it did not know an id, the id "
            "is shown. "
            f"Costs here are **estimates** from the price table.\n\n{_NAV}",
            h=5,
        ),
        Lens(
            "Requests",
            "metric",
            {"v": total("openai.base.num_model_requests", "Requests")},
            w=12,
            h=6,
        ),
        Lens(
            "Tokens",
            "metric",
            {"v": total("openai.base.usage_tokens", "Tokens")},
            w=12,
            h=6,
            description="Completions (input + output + audio), embeddings and moderations.",
        ),
        Lens(
            "Estimated cost",
            "metric",
            {"v": total("openai.base.cost_estimate_usd", "Estimated cost", USD)},
            w=12,
            h=6,
        ),
        Lens("Images", "metric", {"v": total("openai.images.images", "Images")}, w=12, h=6),
        _by_time(
            "Tokens by model",
            total("openai.base.usage_tokens", "Tokens"),
            "openai.base.model",
            w=24,
            h=12,
        ),
        _by_time(
            "Requests by stream",
            total("openai.base.num_model_requests", "Requests"),
            "data_stream.dataset",
            w=24,
            h=12,
        ),
        Lens(
            "Completion tokens: input, output, cached",
            "line",
            {
                "time": date(),
                "input": total("openai.completions.input_tokens", "Input tokens"),
                "output": total("openai.completions.output_tokens", "Output tokens"),
                "cached": total("openai.completions.input_cached_tokens", "Cached input tokens"),
                "audio_in": total("openai.completions.input_audio_tokens", "Audio input tokens"),
                "audio_out": total("openai.completions.output_audio_tokens", "Audio output tokens"),
            },
            kql=kql_dataset("completions"),
            x="time",
        ),
        Lens(
            "Requests by model",
            "bar_horizontal",
            {
                "model": Col("terms", "openai.base.model", "Model", size=15, order_by="requests"),
                "requests": total("openai.base.num_model_requests", "Requests"),
            },
            x="model",
        ),
        _top_table("Top projects", "openai.base.project_id", "openai.base.project_name"),
        _top_table("Top users", "openai.base.user_id", "openai.base.user_email"),
        _top_table("Top API keys", "openai.base.api_key_id", "openai.base.api_key_name"),
        _by_time(
            "Images by size",
            total("openai.images.images", "Images"),
            "openai.images.size",
            kql=kql_dataset("images"),
        ),
        _by_time(
            "Audio transcribed (seconds) by model",
            total("openai.audio_transcriptions.seconds", "Seconds"),
            "openai.base.model",
            kql=kql_dataset("audio_transcriptions"),
        ),
        _by_time(
            "Speech synthesized (characters) by model",
            total("openai.audio_speeches.characters", "Characters"),
            "openai.base.model",
            kql=kql_dataset("audio_speeches"),
        ),
        _by_time(
            "Vector store bytes by project",
            Col("max", "openai.vector_stores.usage_bytes", "Bytes (peak)", fmt=BYTES),
            "openai.base.project_label",
            kql=kql_dataset("vector_stores"),
            w=12,
        ),
        _by_time(
            "Code interpreter sessions by project",
            total("openai.code_interpreter_sessions.num_sessions", "Sessions"),
            "openai.base.project_label",
            kql=kql_dataset("code_interpreter_sessions"),
            w=12,
        ),
        _by_time(
            "File search calls by project",
            total("openai.file_search_calls.num_requests", "Calls"),
            "openai.base.project_label",
            kql=kql_dataset("file_search_calls"),
            w=12,
        ),
        _by_time(
            "Web search calls by context size",
            total("openai.web_search_calls.num_requests", "Calls"),
            "openai.web_search_calls.context_level",
            kql=kql_dataset("web_search_calls"),
            w=12,
        ),
    ]
    return dashboard(
        USAGE_DASHBOARD_ID,
        "[OpenAI poller] Usage",
        "Tokens, requests, images, audio, vector stores, code interpreter and tool calls by model, "
        "project, user and API key.",
        panels,
        "now-24h",
    )


def costs_dashboard() -> dict[str, Any]:
    billed = "openai.costs.amount.value"
    estimate = "openai.base.cost_estimate_usd"
    panels: list[Panel] = [
        Markdown(
            "### OpenAI costs\n"
            "**Billed** cost comes from the Costs API in daily UTC buckets (revised for 3 days). "
            "**Estimated** cost is computed by openai-poller from usage and its price table; "
            "usage of a model the table does not price is flagged `openai.base.unpriced`. "
            "*Month to date* needs the time range to include the 1st of the month (the default, "
            f"last 31 days, does).\n\n{_NAV}",
            h=5,
        ),
        Lens("Billed cost", "metric", {"v": total(billed, "Billed cost", USD)}, w=12, h=6),
        Lens(
            "Billed cost, month to date",
            "metric",
            {"v": Col("sum", billed, "Month to date", fmt=USD, kql='@timestamp >= "now/M"')},
            w=12,
            h=6,
        ),
        Lens("Estimated cost", "metric", {"v": total(estimate, "Estimated cost", USD)}, w=12, h=6),
        Lens(
            "Estimate / billed",
            "metric",
            {},
            formula={
                "ratio": (
                    "Estimate / billed",
                    estimate,
                    billed,
                    f"sum({estimate}) / sum({billed})",
                )
            },
            w=12,
            h=6,
            description=(
                "Above 100%: the price table over-estimates; below: usage it does not price."
            ),
        ),
        Lens(
            "Daily billed cost by project",
            "bar_stacked",
            {
                "time": date("1d"),
                "project": Col(
                    "terms", "openai.base.project_label", "Project", size=10, order_by="cost"
                ),
                "cost": total(billed, "Billed cost", USD),
            },
            kql=kql_dataset("costs"),
            x="time",
            split="project",
        ),
        Lens(
            "Daily billed cost by line item",
            "bar_stacked",
            {
                "time": date("1d"),
                "item": Col(
                    "terms", "openai.costs.line_item", "Line item", size=10, order_by="cost"
                ),
                "cost": total(billed, "Billed cost", USD),
            },
            kql=kql_dataset("costs"),
            x="time",
            split="item",
        ),
        Lens(
            "Estimated vs billed cost per day",
            "line",
            {
                "time": date("1d"),
                "billed": total(billed, "Billed", USD),
                "estimated": total(estimate, "Estimated", USD),
            },
            x="time",
        ),
        Lens(
            "Estimated cost by model",
            "bar_stacked",
            {
                "time": date("1d"),
                "model": Col("terms", "openai.base.model", "Model", size=10, order_by="cost"),
                "cost": total(estimate, "Estimated cost", USD),
            },
            x="time",
            split="model",
        ),
        Lens(
            "Billed cost by project and line item",
            "table",
            {
                "project": Col(
                    "terms", "openai.base.project_id", "Project id", size=20, order_by="cost"
                ),
                "name": Col(
                    "terms",
                    "openai.base.project_name",
                    "Project",
                    size=1,
                    order_by="cost",
                    missing=True,
                    other=False,
                ),
                "item": Col(
                    "terms", "openai.costs.line_item", "Line item", size=10, order_by="cost"
                ),
                "cost": total(billed, "Billed cost", USD),
            },
            kql=kql_dataset("costs"),
        ),
        Lens(
            "Unpriced usage (no price table entry)",
            "table",
            {
                "model": Col(
                    "terms", "openai.base.model", "Model", size=20, order_by="docs", missing=True
                ),
                "stream": Col("terms", "data_stream.dataset", "Stream", size=10, order_by="docs"),
                "requests": total("openai.base.num_model_requests", "Requests"),
                "docs": count("Buckets"),
            },
            kql="openai.base.unpriced : true",
        ),
    ]
    return dashboard(
        COSTS_DASHBOARD_ID,
        "[OpenAI poller] Costs",
        "Billed daily cost by project and line item, month to date, and the price-table estimate "
        "against it.",
        panels,
        "now-31d/d",
    )


_KEY_ACTIONS: Final = (
    "api_key.created",
    "api_key.updated",
    "api_key.deleted",
    "tenant.admin_api_key.created",
    "tenant.admin_api_key.updated",
    "tenant.admin_api_key.deleted",
    "tenant.project_api_key.created",
    "service_account.created",
    "service_account.updated",
    "service_account.deleted",
)
ROLE_ACTIONS: Final = (
    "role.created",
    "role.updated",
    "role.deleted",
    "role.assignment.created",
    "role.assignment.deleted",
    "user.added",
    "user.updated",
    "user.deleted",
    "invite.sent",
    "invite.accepted",
    "invite.deleted",
    "group.created",
    "group.updated",
    "group.deleted",
)


def _kql_actions(actions: Sequence[str]) -> str:
    return "event.action : (" + " or ".join(f'"{a}"' for a in actions) + ")"


def _event_table(title: str, actions: Sequence[str]) -> Lens:
    return Lens(
        title,
        "table",
        {
            "action": Col("terms", "event.action", "Action", size=20, order_by="events"),
            "actor": Col("terms", "user.email", "Actor", size=10, order_by="events", missing=True),
            "events": count("Events"),
            "last": Col("max", "@timestamp", "Last seen"),
        },
        kql=f"{kql_dataset('audit')} and {_kql_actions(actions)}",
    )


def audit_dashboard() -> dict[str, Any]:
    audit = kql_dataset("audit")
    failed = f'{audit} and (event.action : "login.failed" or event.outcome : "failure")'
    panels: list[Panel] = [
        Markdown(
            "### OpenAI audit log\n"
            "Audit Logs API events (`@timestamp` = `effective_at`). Failed logins are "
            "`event.action: login.failed` (`event.outcome: failure`); source locations come from "
            f"OpenAI's own IP details.\n\n{_NAV}",
            h=5,
        ),
        Lens("Events", "metric", {"v": count("Events")}, kql=audit, w=12, h=6),
        Lens("Failed logins", "metric", {"v": count("Failed logins")}, kql=failed, w=12, h=6),
        Lens(
            "Actors",
            "metric",
            {"v": Col("unique_count", "user.email", "Actors")},
            kql=audit,
            w=12,
            h=6,
        ),
        Lens(
            "Source IPs",
            "metric",
            {"v": Col("unique_count", "source.ip", "Source IPs")},
            kql=audit,
            w=12,
            h=6,
        ),
        _by_time(
            "Events over time by type", count("Events"), "event.action", kql=audit, w=24, h=12
        ),
        Lens(
            "Events by type",
            "bar_horizontal",
            {
                "action": Col("terms", "event.action", "Action", size=20, order_by="events"),
                "events": count("Events"),
            },
            kql=audit,
            x="action",
        ),
        GeoHeatmap("Source IP locations", "source.geo.location", audit),
        Lens(
            "Actors",
            "table",
            {
                "email": Col("terms", "user.email", "Actor", size=20, order_by="events"),
                "events": count("Events"),
                "ips": Col("unique_count", "source.ip", "Source IPs"),
                "failed": Col("count", None, "Failed", kql='event.outcome : "failure"'),
            },
            kql=audit,
            h=15,
        ),
        _by_time(
            "Failed logins by actor", count("Failed logins"), "user.email", kql=failed, w=24, h=12
        ),
        Lens(
            "Top source IPs",
            "table",
            {
                "ip": Col("terms", "source.ip", "Source IP", size=20, order_by="events"),
                "country": Col(
                    "terms",
                    "source.geo.country_iso_code",
                    "Country",
                    size=1,
                    order_by="events",
                    missing=True,
                    other=False,
                ),
                "events": count("Events"),
                "failed": Col("count", None, "Failed", kql='event.outcome : "failure"'),
            },
            kql=audit,
        ),
        _event_table("API key, admin key and service account lifecycle", _KEY_ACTIONS),
        _event_table("Role and membership changes", ROLE_ACTIONS),
        SearchPanel("Audit log", AUDIT_SEARCH_ID),
    ]
    return dashboard(
        AUDIT_DASHBOARD_ID,
        "[OpenAI poller] Audit and security",
        "Audit events over time and by type, actors, source IPs on a map, failed logins, key "
        "lifecycle and role changes.",
        panels,
        "now-7d",
    )


def saved_objects() -> list[dict[str, Any]]:
    return [data_view(), audit_search(), usage_dashboard(), costs_dashboard(), audit_dashboard()]


# ---- alerting rules -----------------------------------------------------------------------------


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
        return _stable_id("rule", self.slug)

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
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "searchType": "esQuery",
        "esQuery": _dumps({"query": {"bool": {"filter": list(filters)}}}),
        "index": [DATA_VIEW_TITLE],
        "timeField": "@timestamp",
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
    role_actions = {
        "terms": {
            "event.action": [a for a in ROLE_ACTIONS if a.startswith("role.")] + ["user.updated"]
        }
    }
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
                {"terms": {"event.action": ["tenant.admin_api_key.created"]}},
                agg=None,
                group="organization.id",
                threshold="${min_events}",
                comparator=">=",
                window=(60, "m"),
            ),
            parameters={"min_events": 1},
            description=(
                "An organization admin API key was created in the last hour (audit "
                "`tenant.admin_api_key.created`). Active for an hour after the event is indexed, "
                "whatever its delay."
            ),
        ),
        Rule(
            slug="failed-login-burst",
            name="[OpenAI poller] Burst of failed logins",
            tags=("severity:warning", "security"),
            interval="5m",
            params=_dsl(
                audit,
                _audit_term("event.action", "login.failed"),
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
            ),
            parameters={"min_events": 1},
            description=(
                "A role was created, changed or deleted, a role assignment changed, a member's "
                "role changed, or someone was made owner (user, invite, service account) in the "
                "last hour."
            ),
        ),
    ]


# ---- output -------------------------------------------------------------------------------------


def _ndjson(objects: Sequence[Mapping[str, Any]]) -> str:
    return "".join(_dumps(obj) + "\n" for obj in objects)


def build() -> dict[str, str]:
    """Every generated file under kibana/, by path relative to kibana/, with its text."""
    files = {NDJSON_NAME: _ndjson(saved_objects())}
    for rule in rules():
        files[f"rules/{rule.slug}.json"] = (
            json.dumps(rule.document(), indent=2, sort_keys=True) + "\n"
        )
    return files


def iter_rule_ids() -> Iterator[tuple[str, str]]:
    for rule in rules():
        yield rule.slug, rule.rule_id
