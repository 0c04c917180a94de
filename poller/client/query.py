"""Query strings exactly as the official OpenAI Python SDK sends them.

The spec declares no `style`, so OpenAPI's default would repeat bare keys (`group_by=a`). The SDK
sends brackets instead, on every endpoint: `group_by[]=a&group_by[]=b` for arrays,
`effective_at[gte]=1` for objects, `true`/`false` for booleans, and it drops `None`. That is the
form OpenAI's own client exercises on every call, so it is the one we send (REFERENCE.md §1.2).
httpx percent-encodes the brackets on the wire (`group_by%5B%5D=a`), as it does for the SDK.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

__all__ = ["QueryValue", "encode_query"]

QueryValue: TypeAlias = (
    str | int | float | bool | Sequence["QueryValue"] | Mapping[str, "QueryValue"] | None
)


def encode_query(params: Mapping[str, QueryValue]) -> tuple[tuple[str, str], ...]:
    """Flatten `params` into ordered `(key, value)` pairs in the SDK's bracket format."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        _flatten(key, value, pairs)
    return tuple(pairs)


def _flatten(key: str, value: QueryValue, out: list[tuple[str, str]]) -> None:
    if value is None:
        return
    if isinstance(value, Mapping):
        for sub, item in value.items():
            _flatten(f"{key}[{sub}]", item, out)
    elif isinstance(value, str):
        if value:  # the SDK drops empty strings, like None
            out.append((key, value))
    elif isinstance(value, bool):  # before int: bool is an int
        out.append((key, "true" if value else "false"))
    elif isinstance(value, int | float):
        out.append((key, str(value)))
    else:
        for item in value:
            _flatten(f"{key}[]", item, out)
