"""Turns usage results into priced line items with a versioned price table.

The poller uses it to estimate what each usage bucket cost and to flag models it cannot price;
the simulator's Costs API bills its own usage with the very same code, so an estimate and the
simulated invoice can only disagree where a price is genuinely missing.

Prices live in `poller/data/prices.json`: per model a list of dated versions (token rates per 1M
tokens, per-image prices by size, per-1M-character and per-minute audio rates), global batch and
service-tier multipliers, and dated tool prices. The version in force at a bucket's start prices
that bucket.

Modules: `_rates` (the priced units: line items, a model's and the tools' dated rates),
`_table` (the table and its lookups by date), `_pricers` (how each usage stream is priced),
`_loading` (reading and checking `prices.json`).
"""

from poller.pricing._loading import load_price_table
from poller.pricing._rates import TOKEN_RATE_KINDS, LineItem, ModelRates, ToolRates
from poller.pricing._table import PriceTable

__all__ = [
    "TOKEN_RATE_KINDS",
    "LineItem",
    "ModelRates",
    "PriceTable",
    "ToolRates",
    "load_price_table",
]
