"""Renders docs/configuration.md, the operator's reference of every setting, from the model.

The reference is generated so that it cannot drift from the code: names, environment variables,
types and defaults come from the pydantic fields, their `description`s and `Syntax` markers, and
the stream defaults from `OrgSettings.stream` itself. A unit test fails when the file in the
repository differs from `render()`.

Usage: `python -m poller.settings.reference [PATH]` writes PATH (or stdout).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Le
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from poller.settings._env_names import LIST_ENTRY, STREAM_ENTRY, env_name, nested_model
from poller.settings._model import Settings
from poller.settings._orgs import OrgDefaults, OrgSettings, StreamSettings
from poller.settings._sources import CONFIG_FIELD, INTERFACE_NAMES
from poller.settings._validate import SHOWN_DEFAULT, Syntax
from poller.streams import STREAM_NAMES, StreamKind, get_stream

__all__ = ["main", "render"]

REGENERATE = "python -m poller.settings.reference docs/configuration.md"

_ORGS = "orgs[]"
_BUILTIN = "built-in, by stream kind ([below](#built-in-stream-defaults))"


_INTRO = """\
# Configuration reference

<!-- Generated from the settings model (poller/settings/) by
`{regenerate}`: edit the model's descriptions, not this file. -->

Every setting of openai-poller: its key in the config file, its environment variables, its type,
its default and what it does.

## Where settings come from

A setting is taken from the first of these that sets it:

1. what the command itself sets: only `demo` does, for its simulator org and its store;
2. the environment: first the unprefixed variables {interface}, then `POLLER_<KEY>`, the key
   path in capitals with `__` between its parts (`POLLER_METRICS__PORT=9000`);
3. the YAML or TOML file named by `POLLER_CONFIG`, under the keys of the *setting* column;
4. the secrets directory (`secrets_dir`, by default systemd's `$CREDENTIALS_DIRECTORY`): a file
   named like one of the unprefixed variables holds its value, without surrounding whitespace;
5. the defaults below.

Sections merge key by key across sources: `POLLER_METRICS__PORT` and a file's `metrics.host`
both apply; a list (`orgs`, `streams`) is replaced whole. In the environment, an empty variable
counts as unset, `POLLER_` names may be written in any case, and a whole section may be given as
JSON (`POLLER_METRICS='{{"port": 9000}}'`). An empty file in the secrets directory counts as
unset too; an org's `admin_key_credential` names another file there.

Without `orgs`, `openai_admin_key` makes one org called `default`. Each entry of `orgs` is laid
over `org_defaults` key by key: what the entry leaves out comes from `org_defaults`, and
`openai_base_url` is its `base_url` unless it sets one.

In the tables, `orgs[]` stands for each entry of `orgs` and `<stream>` for a stream's name (see
[Streams](#streams)). Any invalid setting stops every command with one line on stderr that names
it, and exit code 2. What works but is probably a mistake is a warning in the log instead, naming
the fix: a `POLLER_` variable that is no setting, or one near an unprefixed name
(`ELASTICSEARCH_USER`), with the nearest setting; credentials sent over plain `http://` to
another machine than this one (see `allow_insecure_http`). No message shows a secret.
"""

_RESOLUTION = """\
A stream setting of an org is taken from the first that sets it: the org's
`overrides.<stream>`, the org's `defaults` (both including what `org_defaults` sets), then the
built-in default of the stream's kind below (each stream's kind is in [Streams](#streams)).
Costs buckets are always `1d`. A `group_by` under `defaults` gives each stream those of the
listed dimensions it has.
"""


@dataclass(frozen=True)
class _Row:
    key: str
    env: str
    type: str
    default: str
    description: str


@dataclass(frozen=True)
class _Section:
    title: str
    description: str
    env: str
    rows: tuple[_Row, ...]


@dataclass(frozen=True)
class _Place:
    """Where a model sits: its key parts, and its environment name parts (None inside a list)."""

    keys: tuple[str, ...]
    env: tuple[str, ...] | None

    def child(self, name: str) -> _Place:
        return _Place((*self.keys, name), None if self.env is None else (*self.env, name))

    @property
    def key(self) -> str:
        return ".".join(self.keys)

    @property
    def env_name(self) -> str:
        assert self.env is not None  # noqa: S101 - callers check
        return env_name(self.env)


def _fields(model: type[BaseModel]) -> list[tuple[str, FieldInfo]]:
    """The model's fields, its own before the inherited ones (an org's name before its streams)."""
    inherited = {name for base in model.__mro__[1:] for name in getattr(base, "model_fields", {})}
    fields = list(model.model_fields.items())
    return [f for f in fields if f[0] not in inherited] + [f for f in fields if f[0] in inherited]


def _sections(model: type[BaseModel], place: _Place, description: str) -> Iterator[_Section]:
    """The section of `model` at `place`, then those of the models nested in it, depth first."""
    rows: list[_Row] = []
    below: list[tuple[type[BaseModel], _Place, str]] = []
    for name, field in _fields(model):
        nested = nested_model(field.annotation)
        if nested is None:
            rows.append(_row(model, place.child(name), field))
            continue
        inner, entry = nested
        if entry == LIST_ENTRY:
            inner_place = _Place((*place.keys, name + entry), None)
        else:
            inner_place = place.child(name) if entry is None else place.child(name).child(entry)
        below.append((inner, inner_place, field.description or ""))
    title = f"`{place.key}`" if place.keys else "Top-level settings"
    yield _Section(title, description, _section_env(place), tuple(rows))
    for inner, inner_place, inner_description in below:
        yield from _sections(inner, inner_place, inner_description)


def _section_env(place: _Place) -> str:
    if not place.keys:
        return ""
    if place.keys[-1] == _ORGS:
        return "Environment: only the whole list, as JSON in `POLLER_ORGS`."
    if place.env is None:
        return "Environment: none of its own; it is part of `POLLER_ORGS`."
    if place.keys[-1] == STREAM_ENTRY:
        whole = _Place(place.keys[:-1], place.env[:-1]).env_name
        return (
            f"Environment: all streams at once as JSON in `{whole}`, or each setting below, "
            "with the stream's name for `<STREAM>`."
        )
    return f"Environment: the whole section as JSON in `{place.env_name}`, or each setting below."


def _row(model: type[BaseModel], place: _Place, field: FieldInfo) -> _Row:
    key = f"`{place.key}`" + (" (not in the file)" if place.keys == (CONFIG_FIELD,) else "")
    return _Row(
        key=key,
        env=_env(place),
        type=_type(field.annotation, field.metadata),
        default=_default(model, place, field),
        description=field.description or "",
    )


def _env(place: _Place) -> str:
    if place.env is None:
        return "only in `POLLER_ORGS`"
    names = [name for name, path in INTERFACE_NAMES.items() if path == place.keys]
    return ", ".join(f"`{name}`" for name in [*names, place.env_name])


def _default(model: type[BaseModel], place: _Place, field: FieldInfo) -> str:
    keys, name = place.keys, place.keys[-1]
    # An entry of `orgs` is laid over `org_defaults`, key by key.
    inherits = keys[0] == _ORGS and keys[1] in OrgDefaults.model_fields
    inherited = f"`org_defaults.{'.'.join(keys[1:])}`" if inherits else ""
    if model is StreamSettings:
        own = f"the org's `defaults.{name}`" if STREAM_ENTRY in keys else _BUILTIN
        return f"{inherited}, else {own}" if inherited else own
    extra = field.json_schema_extra
    shown = extra.get(SHOWN_DEFAULT) if isinstance(extra, dict) else None
    if inherited or isinstance(shown, str):
        return inherited or str(shown)
    if field.is_required():
        return "required"
    return _value(field.get_default(call_default_factory=False))


def _value(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, timedelta):
        return f"`{_duration(value)}`"
    if isinstance(value, Enum):
        return f"`{value.value}`"
    if isinstance(value, str | int | Path):
        return f"`{value}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    raise TypeError(f"no way to show the default {value!r}: give it a shown_default")


_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def _duration(value: timedelta) -> str:
    seconds = value.total_seconds()
    for unit, size in _UNITS:
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


_SIMPLE = {bool: "boolean", int: "integer", str: "text", Path: "path", SecretStr: "secret"}


def _type(annotation: Any, metadata: Sequence[Any]) -> str:
    for item in metadata:
        if isinstance(item, Syntax):
            return item.name
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _type(args[0], annotation.__metadata__)
    if origin in (Union, types.UnionType):
        (inner,) = [arg for arg in args if arg is not type(None)]
        return _type(inner, ())
    if origin is Literal:
        return _choices([str(arg) for arg in args])
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return _choices([str(member.value) for member in annotation])
    text = _SIMPLE[annotation]
    low = next((item.ge for item in metadata if isinstance(item, Ge)), None)
    high = next((item.le for item in metadata if isinstance(item, Le)), None)
    return f"{text}, {low} to {high}" if low is not None and high is not None else text


def _choices(values: Sequence[str]) -> str:
    shown = [f"`{value}`" for value in values]
    return ", ".join(shown[:-1]) + f" or {shown[-1]}"


def _syntaxes(model: type[BaseModel]) -> Iterator[Syntax]:
    """Every `Syntax` in the fields of `model` and of the models below it, repeats included."""
    for field in model.model_fields.values():
        nested = nested_model(field.annotation)
        if nested is not None:
            yield from _syntaxes(nested[0])
            continue
        yield from _syntax_in(field.annotation, field.metadata)


def _syntax_in(annotation: Any, metadata: Sequence[Any]) -> Iterator[Syntax]:
    yield from (item for item in metadata if isinstance(item, Syntax))
    for arg in get_args(annotation):
        yield from _syntax_in(arg, getattr(arg, "__metadata__", ()))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return lines


def _kind_examples() -> dict[StreamKind, str]:
    """One stream of each kind, in catalog order: the built-in defaults depend only on kind."""
    examples: dict[StreamKind, str] = {}
    for name in STREAM_NAMES:
        examples.setdefault(get_stream(name).kind, name)
    return examples


def _builtin_table() -> list[str]:
    org = OrgSettings(name="reference", admin_key=SecretStr("unused"))
    configs = {kind: org.stream(name) for kind, name in _kind_examples().items()}
    rows = []
    for name in StreamSettings.model_fields:
        cells = []
        for config in configs.values():
            value = getattr(config, name)
            if name == "group_by":
                dims = config.spec.usage.dimensions if config.spec.usage else ()
                cells.append("all of the stream's" if value == dims and dims else "none")
            else:
                cells.append(_value(value))
        rows.append([f"`{name}`", *cells])
    header = ["setting", *(kind.value for kind in configs)]
    return _table(header, rows)


def _streams_table() -> list[str]:
    rows = []
    for name in STREAM_NAMES:
        spec = get_stream(name)
        dims = ", ".join(f"`{d}`" for d in spec.usage.dimensions) if spec.usage else "none"
        rows.append([f"`{name}`", spec.kind.value, dims])
    return _table(["stream", "kind", "dimensions (`group_by`)"], rows)


def render() -> str:
    """docs/configuration.md as the model describes it."""
    interface = ", ".join(f"`{name}`" for name in INTERFACE_NAMES)
    lines = [
        _INTRO.format(regenerate=REGENERATE, interface=f"({interface})"),
        "## Value formats",
        "",
    ]
    formats = {syntax.name: syntax.rule for syntax in _syntaxes(Settings)}
    rows = [[name, formats[name]] for name in sorted(formats, key=str.lower)]
    lines += _table(["type", "written as"], rows)
    header = ["setting", "environment", "type", "default", "description"]
    for section in _sections(Settings, _Place((), ()), ""):
        lines += ["", f"## {section.title}", ""]
        lines += [f"{text}\n" for text in (section.description, section.env) if text]
        cells = [[r.key, r.env, r.type, r.default, r.description] for r in section.rows]
        lines += _table(header, cells)
    lines += ["", "## Built-in stream defaults", "", _RESOLUTION.strip(), ""]
    lines += _builtin_table()
    lines += ["", "## Streams", ""]
    lines += _streams_table()
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str]) -> int:
    text = render()
    if argv:
        Path(argv[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
