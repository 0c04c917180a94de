"""By-value Lens tables on an ES|QL query (Lens's `textBased` datasource, Kibana 8.15+).

For numbers Lens's form-based layers cannot compute: the budget's month to date switches each
day from estimate to bill, which only a query that sums per day first can say. The query is the
budget rules' own (`_budget_rules`), so the table and the alerts always agree. Its ad hoc data
view has no time field: the query picks its own days (this month, the 7 before), so the
dashboard's time picker does not cut it short.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, ClassVar

from tools.assets.kibana._common import DATA_VIEW_TITLE
from tools.assets.kibana._lens import lens_panel
from tools.assets.kibana._panels import Grid, Rendered

__all__ = ["EsqlColumn", "EsqlTable"]

# Kibana names the ad hoc data view of an ES|QL query by a digest of its index pattern.
_ADHOC_ID = hashlib.sha256(DATA_VIEW_TITLE.encode()).hexdigest()


@dataclass(frozen=True)
class EsqlColumn:
    """A column the query returns: its name, the label shown, and its type (number, string,
    date)."""

    field: str
    label: str
    type: str = "number"


@dataclass(frozen=True)
class EsqlTable:
    title: str
    query: str
    columns: tuple[EsqlColumn, ...]
    w: int = 48
    h: int = 12
    description: str = ""
    visualization_type: ClassVar[str] = "lnsDatatable"

    def render(self, panel_id: str, grid: Grid) -> Rendered:
        layer_id = f"{panel_id}-layer"
        columns = [
            {
                "columnId": column.field,
                "fieldName": column.field,
                "label": column.label,
                "customLabel": True,
                "meta": {"type": column.type},
            }
            for column in self.columns
        ]
        attributes: dict[str, Any] = {
            "title": self.title,
            "description": self.description,
            "visualizationType": self.visualization_type,
            "type": "lens",
            "references": [],
            "state": {
                "visualization": self.visualization(layer_id),
                "query": {"esql": self.query},
                "filters": [],
                "datasourceStates": {
                    "textBased": {
                        "layers": {
                            layer_id: {
                                "index": _ADHOC_ID,
                                "query": {"esql": self.query},
                                "columns": columns,
                                "allColumns": columns,
                            }
                        }
                    }
                },
                "internalReferences": [],
                "adHocDataViews": {
                    _ADHOC_ID: {
                        "id": _ADHOC_ID,
                        "title": DATA_VIEW_TITLE,
                        "name": DATA_VIEW_TITLE,
                        "type": "esql",
                        "sourceFilters": [],
                        "fieldFormats": {},
                        "runtimeFieldMap": {},
                        "allowNoIndex": False,
                        "allowHidden": False,
                    }
                },
            },
        }
        return lens_panel(panel_id, grid.place(self.w, self.h), attributes), []

    def visualization(self, layer_id: str) -> dict[str, Any]:
        """The Lens visualization state over the query's columns; a chart overrides it."""
        return {
            "layerId": layer_id,
            "layerType": "data",
            "columns": [{"columnId": c.field, "isTransposed": False} for c in self.columns],
            "rowHeight": "single",
            "rowHeightLines": 1,
        }
