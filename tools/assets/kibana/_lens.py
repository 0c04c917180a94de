"""By-value Lens panels: one layer of named columns and a visualization kind.

Writing Lens state by hand is error-prone, so a panel is declared compactly (`Lens`, `by_time`)
and expanded here. Bucketed columns (dates, terms) come first in the layer; an XY chart puts the
first on the x axis and splits its series by the second, if any.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from tools.assets.kibana._columns import Column, Date, Metric, Terms
from tools.assets.kibana._common import DATA_VIEW_ID, PANEL_VERSION
from tools.assets.kibana._panels import Grid, Rendered

_VIS_TYPE: Final = {
    "metric": "lnsMetric",
    "table": "lnsDatatable",
    "bar_stacked": "lnsXY",
    "bar_horizontal": "lnsXY",
    "line": "lnsXY",
}


@dataclass(frozen=True)
class Lens:
    """A by-value Lens panel; `kind` is metric, table, bar_stacked, bar_horizontal or line."""

    title: str
    kind: str
    columns: Mapping[str, Column]
    kql: str = ""
    w: int = 24
    h: int = 12
    description: str = ""

    def render(self, panel_id: str, grid: Grid) -> Rendered:
        layer_id = f"{panel_id}-layer"
        names = [n for n, c in self.columns.items() if c.bucketed]
        names += [n for n, c in self.columns.items() if not c.bucketed]
        cols: dict[str, dict[str, Any]] = {}
        order: list[str] = []  # every column id, formula parts included
        shown: list[str] = []  # the columns themselves
        for name in names:
            rendered = self.columns[name].render(panel_id, name)
            cols.update(rendered)
            order += rendered
            shown.append(next(iter(rendered)))
        ref_name = f"indexpattern-datasource-layer-{layer_id}"
        attributes = {
            "title": self.title,
            "description": self.description,
            "visualizationType": _VIS_TYPE[self.kind],
            "type": "lens",
            "references": [{"type": "index-pattern", "id": DATA_VIEW_ID, "name": ref_name}],
            "state": {
                "visualization": self._visualization(layer_id, shown, cols),
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
        panel = lens_panel(panel_id, grid.place(self.w, self.h), attributes)
        return panel, [
            {"type": "index-pattern", "id": DATA_VIEW_ID, "name": f"{panel_id}:{ref_name}"}
        ]

    def _visualization(
        self, layer_id: str, shown: list[str], cols: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, Any]:
        metrics = [c for c in shown if not cols[c]["isBucketed"]]
        buckets = [c for c in shown if cols[c]["isBucketed"]]
        if self.kind == "metric":
            return {"layerId": layer_id, "layerType": "data", "metricAccessor": metrics[0]}
        if self.kind == "table":
            return {
                "layerId": layer_id,
                "layerType": "data",
                "columns": [{"columnId": c, "isTransposed": False} for c in shown],
                "rowHeight": "single",
                "rowHeightLines": 1,
            }
        if not buckets:
            raise ValueError(f"the {self.kind} panel {self.title!r} has no column for its x axis")
        layer: dict[str, Any] = {
            "layerId": layer_id,
            "layerType": "data",
            "seriesType": self.kind,
            "xAccessor": buckets[0],
            "accessors": metrics,
        }
        if len(buckets) > 1:
            layer["splitAccessor"] = buckets[1]
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


def lens_panel(panel_id: str, spot: dict[str, int], attributes: dict[str, Any]) -> dict[str, Any]:
    """A by-value Lens panel at `spot` (a `Grid` place) showing `attributes`."""
    return {
        "version": PANEL_VERSION,
        "type": "lens",
        "gridData": {**spot, "i": panel_id},
        "panelIndex": panel_id,
        "embeddableConfig": {"attributes": attributes, "enhancements": {}},
        "title": attributes["title"],
    }


def by_time(
    title: str,
    metric: Metric,
    split_field: str,
    *,
    kql: str = "",
    w: int = 16,
    h: int = 10,
    size: int = 10,
) -> Lens:
    """Stacked bars of `metric` over time, split by the top values of `split_field`."""
    split = Terms(split_field, split_field.rpartition(".")[2], order_by="value", size=size)
    return Lens(
        title,
        "bar_stacked",
        {"time": Date(), "split": split, "value": metric},
        kql=kql,
        w=w,
        h=h,
    )
