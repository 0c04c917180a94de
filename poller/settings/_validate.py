"""The value types settings are written in, and the checks that make a bad value one clear line.

Each annotated type carries a `Syntax`: its name and how an operator writes it, which the
generated reference (`poller.settings.reference`) shows. Validators never echo a value that may be
a secret: a key pasted into the wrong setting must not be printed with the error (`shown`), and
`Secret` fields note each value loaded, so that `_load` can scrub it from any message
(`noting_secrets`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    JsonValue,
    SecretStr,
)
from pydantic_settings import NoDecode

from poller.streams import STREAM_NAMES, get_stream

__all__ = [
    "ALL_DIMENSIONS",
    "SHOWN_DEFAULT",
    "CaFile",
    "Dimensions",
    "Duration",
    "ElasticsearchUrl",
    "Frozen",
    "IndexName",
    "LogFormat",
    "LogLevel",
    "Namespace",
    "OpenAIUrl",
    "OrgName",
    "PositiveDuration",
    "Secret",
    "StreamName",
    "StreamNames",
    "Syntax",
    "check_group_by",
    "noting_secrets",
    "parse_duration",
    "shown",
    "shown_default",
    "shown_name",
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


# A value this long is not echoed: no name or duration needs it, and a pasted password might be.
_LONGEST_SHOWN: Final = 24
_KEY_SHAPE: Final = re.compile(r"(?i)\bsk-")


def shown(value: object) -> str:
    """`value` quoted after a space, for an error message; empty when the value is long or
    shaped like an OpenAI key, since it may be a secret pasted into the wrong setting."""
    text = repr(value)
    return "" if len(text) > _LONGEST_SHOWN or _KEY_SHAPE.search(text) else f" {text}"


def shown_name(value: object) -> str:
    """`shown`, for the subject of a sentence: one that cannot be left out."""
    return shown(value) or " one of the names"


_noted_secrets: ContextVar[set[str] | None] = ContextVar("_noted_secrets", default=None)


@contextmanager
def noting_secrets() -> Iterator[set[str]]:
    """Collects every value given to a `Secret` field while the block validates settings.

    Pydantic validates every field even after one failed, so when an error is raised, the set
    holds all the secrets being loaded: the error message can be scrubbed of them. (A context
    variable, because `BaseSettings` takes no validation context.)
    """
    noted: set[str] = set()
    token = _noted_secrets.set(noted)
    try:
        yield noted
    finally:
        _noted_secrets.reset(token)


def _note_secret(value: Any) -> Any:
    noted = _noted_secrets.get()
    if noted is not None:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(text, str):
            noted.add(text)
    return value


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
        raise ValueError(
            f"bad duration{shown(value)}: use seconds or a value like 90s, 5m, 24h, 3d"
        )
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


def _without_credentials(fix: str) -> AfterValidator:
    """Refuses a URL with a user or password in it, saying which settings take them instead;
    the URL is not echoed, since the password is in it."""

    def check(url: str) -> str:
        if "@" in urlsplit(url).netloc:
            raise ValueError(f"{fix}, not in the URL")
        return url

    return AfterValidator(check)


def _existing_file(path: Path) -> Path:
    if not path.is_file():
        raise ValueError(f"no such file {str(path)!r}")
    return path


def _known_stream(name: str) -> str:
    if name not in STREAM_NAMES:
        raise ValueError(f"unknown stream{shown(name)} (choose from {', '.join(STREAM_NAMES)})")
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
            f"invalid namespace{shown(value)}: use at most 100 lowercase characters, "
            "without '-', spaces or any of \\/*?\"<>|,#:"
        )
    return value


def _matching(pattern: str, what: str, rule: str) -> Callable[[str], str]:
    """A validator for names that must match `pattern` whole; the error says `rule`."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"invalid {what}{shown(value)}: {rule}")
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
_Url = Annotated[
    str,
    AfterValidator(_url),
    Syntax(
        "URL",
        "`http://` or `https://`, a host, an optional port and path, without a user or password "
        "(credentials have settings of their own); a trailing `/` is dropped",
    ),
]
OpenAIUrl = Annotated[
    _Url, _without_credentials("put the admin key in OPENAI_ADMIN_KEY or the org's admin_key")
]
# Kibana authenticates with the Elasticsearch credentials too.
ElasticsearchUrl = Annotated[
    _Url,
    _without_credentials(
        "put the credentials in ELASTICSEARCH_USERNAME/ELASTICSEARCH_PASSWORD or "
        "ELASTICSEARCH_API_KEY"
    ),
]
Secret = Annotated[SecretStr, BeforeValidator(_note_secret)]
CaFile = Annotated[Path, AfterValidator(_existing_file)]
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
                f"{stream}.group_by:{shown_name(dim)} is not a dimension of {stream} "
                f"(choose from {', '.join(usage.dimensions)})"
            )
