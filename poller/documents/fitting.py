"""Elasticsearch field types, and how API values are made to fit them.

`fit` splits an API object along a declaration: what the declaration has, converted to its
type (numeric strings to numbers, Unix seconds to dates, addresses checked), and the rest as
sent. The mappers file the rest under a flattened field: a value that does not fit its mapping
would make Elasticsearch refuse the whole document.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final, TypeAlias

from poller.documents.common import iso_time

__all__ = ["Node", "Tree", "fit"]

KEYWORD: Final = "keyword"
CONSTANT_KEYWORD: Final = "constant_keyword"
LONG: Final = "long"
DOUBLE: Final = "double"
BOOLEAN: Final = "boolean"
DATE: Final = "date"
IP: Final = "ip"
GEO_POINT: Final = "geo_point"
FLATTENED: Final = "flattened"

# A declared object: field name → an Elasticsearch type (a leaf) or a nested declaration.
Node: TypeAlias = "str | Mapping[str, Node]"
Tree: TypeAlias = Mapping[str, Node]


class _Unfit(ValueError):
    """A value that cannot become its declared field type."""


_INTEGER: Final = re.compile(r"[+-]?\d+")


def _number(value: Any) -> Decimal:
    """A JSON number or a numeric string (the API sends both, e.g. amount.value "12.50")."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise _Unfit(value)
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise _Unfit(value) from None
    if not number.is_finite():
        raise _Unfit(value)
    return number


def _conform(value: Any, es_type: str) -> Any:
    """`value` as the declared type; a list of scalars converts item by item."""
    if isinstance(value, list):
        return [_scalar(item, es_type) for item in value]
    return _scalar(value, es_type)


def _scalar(value: Any, es_type: str) -> Any:
    if es_type == LONG:
        number = _number(value)
        if number != number.to_integral_value() or (
            isinstance(value, str) and not _INTEGER.fullmatch(value.strip())
        ):
            raise _Unfit(value)
        return int(number)
    if es_type == DOUBLE:
        converted = float(_number(value))
        if not math.isfinite(converted):
            raise _Unfit(value)
        return converted
    if es_type == DATE and isinstance(value, int) and not isinstance(value, bool):
        try:
            return iso_time(value)
        except (OverflowError, OSError, ValueError):  # beyond the years datetime can hold
            raise _Unfit(value) from None
    if es_type == IP and isinstance(value, str):
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise _Unfit(value) from None
        return value
    if es_type == BOOLEAN and isinstance(value, bool):
        return value
    if es_type == KEYWORD and isinstance(value, str):
        return value
    raise _Unfit(value)


def _absent(value: Any) -> bool:
    """Null, "" and empty containers carry nothing; Elastic's pipelines drop them too."""
    return value is None or value == "" or (isinstance(value, Mapping | list) and not value)


def fit(obj: Mapping[str, Any], tree: Tree) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split `obj` into (what fits `tree`, converted to its types; everything else, as sent).

    A list of objects is kept whole on one side: split element by element, the undeclared
    remainders could no longer be told apart.
    """
    mapped: dict[str, Any] = {}
    unmapped: dict[str, Any] = {}
    for key, value in obj.items():
        if _absent(value):
            continue
        node = tree.get(key)
        try:
            if node is None:
                raise _Unfit(value)
            if isinstance(node, str):
                mapped[key] = _conform(value, node)
            elif isinstance(value, Mapping):
                inner, rest = fit(value, node)
                if inner:
                    mapped[key] = inner
                if rest:
                    unmapped[key] = rest
            elif isinstance(value, list) and all(isinstance(item, Mapping) for item in value):
                parts = [fit(item, node) for item in value]
                if any(rest for _, rest in parts):
                    raise _Unfit(value)
                mapped[key] = [inner for inner, _ in parts if inner]
            else:
                raise _Unfit(value)
        except _Unfit:
            unmapped[key] = value
    return mapped, unmapped
