"""Reading a price table from JSON, checking every rate as it is read."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

from poller.pricing._rates import TOKEN_RATE_KINDS, ModelRates, ToolRates
from poller.pricing._table import PriceTable, by_date

__all__ = ["load_price_table"]


def load_price_table(path: Path | None = None) -> PriceTable:
    """Reads a price table; by default the one packaged with the poller."""
    if path is None:
        text = resources.files("poller").joinpath("data/prices.json").read_text("utf-8")
    else:
        text = path.read_text("utf-8")
    try:
        return _parse_table(json.loads(text))
    except (KeyError, TypeError, ValueError, InvalidOperation) as error:
        where = path or "packaged prices.json"
        raise ValueError(f"invalid price table {where}: {error!r}") from error



def _parse_table(data: Mapping[str, Any]) -> PriceTable:
    models = {
        name: by_date([_parse_model(version) for version in versions])
        for name, versions in data["models"].items()
    }
    return PriceTable(
        version=str(data["version"]),
        batch_discount=_decimal(data["batch_discount"]),
        service_tiers=_decimals(data["service_tiers"]),
        models=models,
        tools=by_date([_parse_tools(version) for version in data["tools"]]),
    )


def _parse_model(data: Mapping[str, Any]) -> ModelRates:
    tokens = _decimals(data.get("tokens", {}))
    unknown = set(tokens) - TOKEN_RATE_KINDS
    if unknown:
        raise ValueError(f"unknown token rate kinds {sorted(unknown)}")
    return ModelRates(
        effective_from=_day_start(data["effective_from"]),
        tokens=tokens,
        per_image=_decimals(data.get("per_image", {})),
        per_1m_characters=_optional_decimal(data.get("per_1m_characters")),
        per_minute=_optional_decimal(data.get("per_minute")),
        service_tiers=_decimals(data.get("service_tiers", {})),
    )


def _parse_tools(data: Mapping[str, Any]) -> ToolRates:
    return ToolRates(
        effective_from=_day_start(data["effective_from"]),
        web_search_per_1k_calls=_decimals(data["web_search_per_1k_calls"]),
        file_search_per_1k_calls=_decimal(data["file_search_per_1k_calls"]),
        code_interpreter_per_session=_decimal(data["code_interpreter_per_session"]),
        vector_store_per_gb_day=_decimal(data["vector_store_per_gb_day"]),
    )


def _day_start(value: str) -> int:
    """Unix seconds of a `YYYY-MM-DD` date's UTC midnight."""
    return int(datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC).timestamp())


def _decimal(value: Any) -> Decimal:
    """A price given as a JSON number or a string; str() keeps 0.275 exactly 0.275."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"not a price: {value!r}")
    return Decimal(str(value))


def _optional_decimal(value: Any) -> Decimal | None:
    return None if value is None else _decimal(value)


def _decimals(data: Mapping[str, Any]) -> dict[str, Decimal]:
    return {str(key): _decimal(value) for key, value in data.items()}

