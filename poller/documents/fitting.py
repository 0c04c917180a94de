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
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final, NoReturn, TypeAlias

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
    convert = _CONVERTERS.get(es_type, _unfit)
    if isinstance(value, list):
        return [convert(item) for item in value]
    return convert(value)


def _unfit(value: Any) -> NoReturn:
    raise _Unfit(value)


def _long(value: Any) -> int:
    if type(value) is int:  # what the API sends nearly always: already a long
        return value
    number = _number(value)
    if number != number.to_integral_value() or (
        isinstance(value, str) and not _INTEGER.fullmatch(value.strip())
    ):
        raise _Unfit(value)
    return int(number)


def _double(value: Any) -> float:
    converted = float(_number(value))
    if not math.isfinite(converted):
        raise _Unfit(value)
    return converted


def _date(value: Any) -> str:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Unfit(value)
    try:
        return iso_time(value)
    except (OverflowError, OSError, ValueError):  # beyond the years datetime can hold
        raise _Unfit(value) from None


def _ip(value: Any) -> str:
    if not isinstance(value, str):
        raise _Unfit(value)
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise _Unfit(value) from None
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Unfit(value)
    return value


def _keyword(value: Any) -> str:
    if not isinstance(value, str):
        raise _Unfit(value)
    return value


# Each converter raises _Unfit for a value it cannot convert; a type without one takes none.
_CONVERTERS: Final[dict[str, Callable[[Any], Any]]] = {
    LONG: _long,
    DOUBLE: _double,
    DATE: _date,
    IP: _ip,
    BOOLEAN: _boolean,
    KEYWORD: _keyword,
}


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
        if not value and _absent(value):  # whatever is absent is falsy: most values skip the call
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
