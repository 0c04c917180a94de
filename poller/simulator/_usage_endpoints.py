"""The usage and costs endpoints: pages of time buckets, summed and grouped from the finest rows.

The organization gives each window at the finest grain (every dimension); this module filters
those rows, projects them onto the query's `group_by`, sums each group and orders the results.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from operator import itemgetter
from typing import Final

from poller.simulator._routing import Call
from poller.simulator.model import JSON, CostRecord, Dims, SimOrganization
from poller.simulator.params import UsageQuery, encode_page, parse_usage
from poller.streams import USAGE_ENDPOINTS

__all__ = ["UsageEndpoints"]

_NULL_LAST: Final = "\U0010ffff"  # sorts after every id, model and label


class UsageEndpoints:
    def __init__(self, org: SimOrganization) -> None:
        self._org = org

    def buckets(self, stream: str, call: Call) -> JSON:
        """A page of time buckets: UTC-aligned, ascending, the first and last clipped, none
        starting after now, empty ones included."""
        endpoint = USAGE_ENDPOINTS[stream]
        query = parse_usage(endpoint, call.query)
        stop = math.inf if query.end is None else query.end
        start = query.start if query.page is None else query.page
        data: list[JSON] = []
        while len(data) < query.limit and start < stop and start <= call.now:
            boundary = (start // query.width.seconds + 1) * query.width.seconds
            end = boundary if query.end is None else min(boundary, query.end)
            results = (
                self._costs(query, start, end, call.now)
                if stream == "costs"
                else self._usage(stream, query, start, end, call.now)
            )
            data.append(
                {"object": "bucket", "start_time": start, "end_time": end, "results": results}
            )
            start = end
        has_more = start < stop and start <= call.now
        return {
            "object": "page",
            "data": data,
            "has_more": has_more,
            "next_page": encode_page(start, query.fingerprint) if has_more else None,
        }

    def _usage(
        self, stream: str, query: UsageQuery, start: int, end: int, now: float
    ) -> list[JSON]:
        endpoint = USAGE_ENDPOINTS[stream]
        keep, project = _selector(endpoint.dimensions, query)
        groups: dict[Dims, list[Mapping[str, int]]] = {}
        for dims, values in self._org.usage(stream, start, end, now).items():
            if keep(dims):
                groups.setdefault(project(dims), []).append(values)
        fields = ("object", *endpoint.metrics, *endpoint.dimensions)
        return [
            dict(
                zip(
                    fields,
                    (endpoint.result_object, *_column_sums(rows, endpoint.metrics), *dims),
                    strict=True,
                )
            )
            for dims, rows in sorted(groups.items(), key=lambda item: _dims_order(item[0]))
        ]

    def _costs(self, query: UsageQuery, start: int, end: int, now: float) -> list[JSON]:
        keep, project = _selector(USAGE_ENDPOINTS["costs"].dimensions, query)
        groups: dict[tuple[Dims, str], list[CostRecord]] = {}
        for dims, record in self._org.costs(start, end, now).items():
            if keep(dims):
                groups.setdefault((project(dims), record.currency), []).append(record)
        ordered = sorted(groups.items(), key=lambda item: (_dims_order(item[0][0]), item[0][1]))
        by_line_item = "line_item" in query.group_by
        return [
            _cost_result(dims, currency, records, by_line_item=by_line_item)
            for (dims, currency), records in ordered
        ]


def _selector(
    dimensions: Sequence[str], query: UsageQuery
) -> tuple[Callable[[Dims], bool], Callable[[Dims], Dims]]:
    """(keep, project): the query's filters, and its `group_by` projection of a finest row.

    Both run once per finest row, tens of thousands per large page, so the common cases (no
    filter; every dimension grouped, or none) short-cut.
    """
    index = {dimension: i for i, dimension in enumerate(dimensions)}
    checks = [(index[dimension], allowed) for dimension, allowed in query.filters]
    grouped = [dimension in query.group_by for dimension in dimensions]
    nothing: Dims = (None,) * len(dimensions)

    def keep(dims: Dims) -> bool:
        return all(dims[i] in allowed for i, allowed in checks)

    def project(dims: Dims) -> Dims:
        return tuple([value if g else None for value, g in zip(dims, grouped, strict=True)])

    def ungrouped(dims: Dims) -> Dims:
        return nothing

    if all(grouped):
        project = _same
    elif not any(grouped):
        project = ungrouped
    return (keep if checks else _always), project


def _always(dims: Dims) -> bool:
    return True


def _same(dims: Dims) -> Dims:
    return dims


def _column_sums(rows: Sequence[Mapping[str, int]], metrics: Sequence[str]) -> list[int]:
    """Each metric summed over `rows` (the organization gives every metric of every row)."""
    if len(rows) == 1:
        return list(map(rows[0].__getitem__, metrics))
    return [sum(map(itemgetter(metric), rows)) for metric in metrics]


def _dims_order(dims: Dims) -> tuple[str, ...]:
    """Results in a stable order: by grouped values as text, nulls last."""
    return tuple([_NULL_LAST if value is None else str(value) for value in dims])


def _cost_result(
    dims: Dims, currency: str, records: Sequence[CostRecord], *, by_line_item: bool
) -> JSON:
    """One costs result; `quantity` and its unit only under `group_by=line_item` (the spec)."""
    project_id, line_item, api_key_id = dims
    quantities = [r.quantity for r in records if r.quantity is not None]
    units = {r.quantity_unit for r in records}
    whole = by_line_item and len(quantities) == len(records)
    return {
        "object": USAGE_ENDPOINTS["costs"].result_object,
        "amount": {"value": float(sum(r.amount for r in records)), "currency": currency},
        "line_item": line_item,
        "project_id": project_id,
        "api_key_id": api_key_id,
        "quantity": _number(sum(quantities, Decimal(0))) if whole else None,
        "quantity_unit": units.pop() if by_line_item and len(units) == 1 else None,
    }


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)
