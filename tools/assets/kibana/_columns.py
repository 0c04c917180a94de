"""Lens columns in the saved-object format of Kibana 8.x (`formBased` datasource).

A column renders under its id, `<panel id>-<name>`; a ratio also renders the three hidden parts
Lens stores for a formula.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from tools.assets.kibana._common import FIELD_TYPES

USD: Final = {"id": "number", "params": {"decimals": 2, "suffix": " USD"}}
BYTES: Final = {"id": "bytes", "params": {"decimals": 1}}
PERCENT: Final = {"id": "percent", "params": {"decimals": 0}}

_LENS_DATA_TYPE: Final = {
    "keyword": "string",
    "constant_keyword": "string",
    "long": "number",
    "double": "number",
    "date": "date",
    "ip": "ip",
    "boolean": "boolean",
}


class Column(Protocol):
    """What a Lens panel needs of a column: whether it buckets, and its rendered form."""

    @property
    def bucketed(self) -> bool: ...

    def render(self, panel_id: str, name: str) -> dict[str, dict[str, Any]]:
        """Column id → column; the first entry is the column itself, any others its parts."""
        ...


def _label(label: str) -> dict[str, Any]:
    return {"label": label, "customLabel": True}


@dataclass(frozen=True)
class Date:
    """A date histogram on `@timestamp`."""

    interval: str = "auto"
    bucketed = True

    def render(self, panel_id: str, name: str) -> dict[str, dict[str, Any]]:
        return {
            f"{panel_id}-{name}": {
                **_label("@timestamp"),
                "dataType": "date",
                "operationType": "date_histogram",
                "sourceField": "@timestamp",
                "isBucketed": True,
                "scale": "interval",
                "params": {
                    "interval": self.interval,
                    "includeEmptyRows": True,
                    "dropPartials": False,
                },
            }
        }


@dataclass(frozen=True)
class Terms:
    """The top `size` values of `field`, ordered by the metric column named `order_by`."""

    field: str
    label: str
    order_by: str
    size: int = 10
    missing: bool = False
    other: bool = True
    bucketed = True

    def render(self, panel_id: str, name: str) -> dict[str, dict[str, Any]]:
        return {
            f"{panel_id}-{name}": {
                **_label(self.label),
                "dataType": _LENS_DATA_TYPE[FIELD_TYPES[self.field]],
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
        }


@dataclass(frozen=True)
class Metric:
    """A metric (`op` is the Lens operationType) of `field`, or of documents when None."""

    op: str
    field: str | None
    label: str
    fmt: Mapping[str, Any] | None = None
    kql: str | None = None  # counts only the documents matching it
    bucketed = False

    def render(self, panel_id: str, name: str) -> dict[str, dict[str, Any]]:
        params: dict[str, Any] = {"emptyAsNull": True}
        if self.fmt:
            params["format"] = dict(self.fmt)
        column: dict[str, Any] = {
            **_label(self.label),
            "dataType": "number",
            "operationType": self.op,
            "sourceField": self.field or "___records___",
            "isBucketed": False,
            "scale": "ratio",
            "params": params,
        }
        if self.op in ("max", "min") and self.field and FIELD_TYPES[self.field] == "date":
            column["dataType"] = "date"
            del column["params"]["emptyAsNull"]
        if self.kql:
            column["filter"] = {"query": self.kql, "language": "kuery"}
        return {f"{panel_id}-{name}": column}


@dataclass(frozen=True)
class Ratio:
    """The formula `sum(numerator) / sum(denominator)`, as a percentage."""

    label: str
    numerator: str
    denominator: str
    bucketed = False

    def render(self, panel_id: str, name: str) -> dict[str, dict[str, Any]]:
        """The formula column and the parts X0..X2 Lens expands it into."""
        cid = f"{panel_id}-{name}"
        text = f"sum({self.numerator}) / sum({self.denominator})"
        part = {**_label(f"Part of {self.label}"), "dataType": "number"}
        total = {"operationType": "sum", "isBucketed": False, "scale": "ratio"}
        return {
            cid: {
                **_label(self.label),
                "dataType": "number",
                "operationType": "formula",
                "isBucketed": False,
                "scale": "ratio",
                "params": {"formula": text, "isFormulaBroken": False, "format": PERCENT},
                "references": [f"{cid}X2"],
            },
            f"{cid}X0": {
                **part,
                **total,
                "sourceField": self.numerator,
                "params": {"emptyAsNull": False},
            },
            f"{cid}X1": {
                **part,
                **total,
                "sourceField": self.denominator,
                "params": {"emptyAsNull": False},
            },
            f"{cid}X2": {
                **part,
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


def total(field_path: str, label: str, fmt: Mapping[str, Any] | None = None) -> Metric:
    return Metric("sum", field_path, label, fmt=fmt)


def count(label: str) -> Metric:
    return Metric("count", None, label)
