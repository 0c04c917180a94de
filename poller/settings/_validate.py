"""The value types settings are written in, and the checks that make a bad value one clear line.

Each annotated type carries a `Syntax`: its name and how an operator writes it, which the
generated reference (`poller.settings.reference`) shows. Validators never echo a value that may be
a secret (URLs can carry credentials).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, JsonValue
from pydantic_settings import NoDecode

from poller.streams import STREAM_NAMES, get_stream

__all__ = [
    "ALL_DIMENSIONS",
    "SHOWN_DEFAULT",
    "Dimensions",
    "Duration",
    "Frozen",
    "IndexName",
    "LogFormat",
    "LogLevel",
    "Namespace",
    "OrgName",
    "PositiveDuration",
    "StreamName",
    "StreamNames",
    "Syntax",
    "Url",
    "check_group_by",
    "parse_duration",
    "shown_default",
]


class Frozen(BaseModel):
    """A settings section: immutable, strict about unknown keys, and never echoing input."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


@dataclass(frozen=True)
class Syntax:
    """How an annotated type is written, for the reference; pydantic ignores it.

    `name` goes in the reference's type column, `rule` once in its table of value formats.
    """

    name: str
    rule: str


SHOWN_DEFAULT: Final = "shown_default"


def shown_default(text: str) -> dict[str, JsonValue]:
    """A field's `json_schema_extra` for a default the reference cannot print as a value: one
    computed from the environment, or taken from another setting."""
    return {SHOWN_DEFAULT: text}


_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def parse_duration(value: object) -> timedelta:
    """A duration from seconds (int, float, "300") or text such as "90s", "5m", "1h30m", "3d"."""
    text = value.strip().lower() if isinstance(value, str) else ""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif _NUMBER.fullmatch(text):
        seconds = float(text)
    elif _DURATION.fullmatch(text):
        seconds = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))
    else:
        shown = repr(value)[:40]
        raise ValueError(f"bad duration {shown}: use seconds or a value like 90s, 5m, 24h, 3d")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("a duration cannot be negative")
    return timedelta(seconds=seconds)


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


def _url(value: str) -> str:
    # The value itself is never echoed: a URL may carry credentials.
    try:
        parts = urlsplit(value.strip())
        _ = parts.port  # raises on a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("malformed URL: expected http(s)://host[:port][/path]")
    return value.strip().rstrip("/")


def _known_stream(name: str) -> str:
    if name not in STREAM_NAMES:
        raise ValueError(f"unknown stream {name!r} (choose from {', '.join(STREAM_NAMES)})")
    return name


_NAMESPACE_FORBIDDEN: Final = set('\\/*?"<>| ,#:-')


def _namespace(value: str) -> str:
    """A data stream namespace by Elasticsearch's naming rules."""
    if (
        not value
        or value != value.lower()
        or _NAMESPACE_FORBIDDEN & set(value)
        or len(value.encode()) > 100
    ):
        raise ValueError(
            f"invalid namespace {value[:110]!r}: use at most 100 lowercase characters, "
            "without '-', spaces or any of \\/*?\"<>|,#:"
        )
    return value


def _matching(pattern: str, what: str, rule: str) -> Callable[[str], str]:
    """A validator for names that must match `pattern` whole; the error says `rule`."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"invalid {what} {value[:70]!r}: {rule}")
        return value

    return check


_org_name = _matching(
    r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", "org name", "use 1-64 letters, digits, '.', '_' or '-'"
)
# Elasticsearch's index name rules: lowercase, not starting with '-', '_' or '+'.
_index_name = _matching(
    r"[a-z0-9][a-z0-9_.+-]{0,254}",
    "index name",
    "use lowercase letters, digits, '_', '.', '+' or '-', starting with a letter or digit",
)


def _name_list(value: Any) -> Any:
    """Lists may be written "a,b,c" (handy in environment variables) or as JSON/YAML lists."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


_DURATION_SYNTAX: Final = Syntax(
    "duration",
    "seconds (`300`, `2.5`), or numbers with a unit (`ms`, `s`, `m`, `h`, `d`, `w`) written "
    "together: `90s`, `5m`, `1h30m`, `1.5h`, `3d`",
)

Duration = Annotated[timedelta, BeforeValidator(parse_duration), _DURATION_SYNTAX]
PositiveDuration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    AfterValidator(_positive),
    Syntax("duration > 0", "a duration longer than zero"),
]
Url = Annotated[
    str,
    AfterValidator(_url),
    Syntax(
        "URL",
        "`http://` or `https://`, a host, an optional port and path; a trailing `/` is dropped",
    ),
]
StreamName = Annotated[
    str,
    AfterValidator(_known_stream),
    Syntax("stream", f"one of {', '.join(f'`{name}`' for name in STREAM_NAMES)}"),
]
_LIST_RULE: Final = "a list, or one text of names separated by commas"
StreamNames = Annotated[
    tuple[StreamName, ...],
    NoDecode,
    BeforeValidator(_name_list),
    Syntax("streams", f"{_LIST_RULE} (`costs,audit`); each a stream"),
]
Dimensions = Annotated[
    tuple[str, ...],
    NoDecode,
    BeforeValidator(_name_list),
    Syntax("dimensions", f"{_LIST_RULE} (`project_id,model`)"),
]
Namespace = Annotated[
    str,
    AfterValidator(_namespace),
    Syntax(
        "namespace",
        'at most 100 lowercase characters, without `-`, spaces or any of `\\/*?"<>|,#:`',
    ),
]
OrgName = Annotated[
    str,
    AfterValidator(_org_name),
    Syntax("org name", "1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter or digit"),
]
IndexName = Annotated[
    str,
    AfterValidator(_index_name),
    Syntax(
        "index name",
        "lowercase letters, digits, `_`, `.`, `+` or `-`, starting with a letter or digit",
    ),
]
LogFormat = Literal["auto", "json", "text"]
LogLevel = Annotated[
    Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper)
]

ALL_DIMENSIONS: Final = frozenset(
    dim for name in STREAM_NAMES if (usage := get_stream(name).usage) for dim in usage.dimensions
)


def check_group_by(stream: str, group_by: tuple[str, ...]) -> None:
    """Raise unless every dimension in `group_by` is one that `stream` can be grouped by."""
    usage = get_stream(stream).usage
    if usage is None:
        raise ValueError(f"{stream}.group_by: {stream} takes no group_by")
    for dim in group_by:
        if dim not in usage.dimensions:
            raise ValueError(
                f"{stream}.group_by: {dim!r} is not a dimension of {stream} "
                f"(choose from {', '.join(usage.dimensions)})"
            )
