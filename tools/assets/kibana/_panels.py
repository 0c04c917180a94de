"""Dashboards and their non-Lens panels: Markdown, a Maps heat map and an embedded search.

Panels are placed by a `Grid`, left to right in rows of Kibana's 48-column dashboard.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tools.assets.kibana._common import (
    CORE_MIGRATION_VERSION,
    DATA_VIEW_ID,
    PANEL_VERSION,
    TYPE_MIGRATION_VERSION,
    dumps,
)

Rendered = tuple[dict[str, Any], list[dict[str, str]]]  # a panel, and the references it adds


class Panel(Protocol):
    """Anything a dashboard can hold: it renders itself at the next free spot of the grid."""

    def render(self, panel_id: str, grid: Grid) -> Rendered: ...


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
class Markdown:
    """A text panel without a title: the dashboard's heading and its links to the others."""

    text: str
    w: int = 48
    h: int = 5

    def render(self, panel_id: str, grid: Grid) -> Rendered:
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

    def render(self, panel_id: str, grid: Grid) -> Rendered:
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
            "layerListJSON": dumps(layers),
            "mapStateJSON": dumps(map_state),
            "uiStateJSON": dumps({"isLayerTOCOpen": False, "openTOCDetails": []}),
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

    def render(self, panel_id: str, grid: Grid) -> Rendered:
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


def saved_search(
    search_id: str, title: str, description: str, kql: str, columns: Sequence[str]
) -> dict[str, Any]:
    """A Discover search of the poller's data view: `kql`, these columns, newest first."""
    source = {
        "query": {"query": kql, "language": "kuery"},
        "filter": [],
        "highlightAll": True,
        "version": True,
        "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index",
    }
    return {
        "id": search_id,
        "type": "search",
        "coreMigrationVersion": CORE_MIGRATION_VERSION,
        "typeMigrationVersion": TYPE_MIGRATION_VERSION["search"],
        "managed": False,
        "attributes": {
            "title": title,
            "description": description,
            "columns": list(columns),
            "sort": [["@timestamp", "desc"]],
            "grid": {},
            "hideChart": False,
            "isTextBasedQuery": False,
            "kibanaSavedObjectMeta": {"searchSourceJSON": dumps(source)},
        },
        "references": [
            {
                "type": "index-pattern",
                "id": DATA_VIEW_ID,
                "name": "kibanaSavedObjectMeta.searchSourceJSON.index",
            }
        ],
    }


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
            "panelsJSON": dumps(rendered),
            "optionsJSON": dumps(
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
                "searchSourceJSON": dumps(
                    {"query": {"query": "", "language": "kuery"}, "filter": []}
                )
            },
        },
        "references": references,
    }
