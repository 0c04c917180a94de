"""The environment variables the settings model reads, and a warning for each one set that it
does not: a misspelled name is otherwise silently ignored, and the poller runs with a default.

The names come from the model itself, walked as the generated reference walks it
(`nested_model`, `env_name`), so a new setting is known here without a list to keep up.
Warnings name the variable and the nearest valid one, never the value, which may be a secret.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any, Final, get_args, get_origin

from pydantic import BaseModel

from poller.settings._sources import INTERFACE_NAMES
from poller.streams import STREAM_NAMES

__all__ = [
    "ENV_PREFIX",
    "LIST_ENTRY",
    "STREAM_ENTRY",
    "env_name",
    "misspelled_variables",
    "nested_model",
    "prefixed_env_names",
]

ENV_PREFIX: Final = "POLLER_"
LIST_ENTRY: Final = "[]"  # the key part of a list's entries: `orgs[]`
STREAM_ENTRY: Final = "<stream>"  # the key part of a mapping's entries, one per stream

# A name is near when difflib rates it at least this close (1.0 is equal).
_CUTOFF: Final = 0.8
# The first word of every unprefixed name: other variables of these families are likely meant
# for the poller; any other variable (HOME, PATH) is not ours to judge.
_FAMILIES: Final = tuple(sorted({name.split("_")[0] + "_" for name in INTERFACE_NAMES}))
_NOTES: Final = {
    "OPENAI_ADMIN_KEY": "; the poller needs an organization admin key, sk-admin-..., "
    "not a project API key",
}


def nested_model(annotation: Any) -> tuple[type[BaseModel], str | None] | None:
    """The model a section field holds, and the key part of its entries (`LIST_ENTRY`,
    `STREAM_ENTRY`, or None for a plain section); None for a field that is not a section."""
    origin, args = get_origin(annotation), get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, None
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        inner = nested_model(args[0])
        return None if inner is None else (inner[0], LIST_ENTRY)
    if origin is Mapping and isinstance(args[1], type) and issubclass(args[1], BaseModel):
        return args[1], STREAM_ENTRY
    return None


def env_name(parts: Sequence[str]) -> str:
    """The `POLLER_` variable of the key path `parts`: `POLLER_METRICS__PORT`."""
    return ENV_PREFIX + "__".join(part.upper() for part in parts)


def _key_paths(model: type[BaseModel], parts: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """Every key path under `parts` the environment can set, in field order, sections included
    (each may be given whole, as JSON). A list is set only whole."""
    for name, field in model.model_fields.items():
        here = (*parts, name)
        yield here
        nested = nested_model(field.annotation)
        if nested is None or nested[1] == LIST_ENTRY:
            continue
        inner, entry = nested
        if entry is None:
            yield from _key_paths(inner, here)
            continue
        for stream in STREAM_NAMES:
            yield (*here, stream)
            yield from _key_paths(inner, (*here, stream))


def prefixed_env_names(model: type[BaseModel]) -> tuple[str, ...]:
    """Every `POLLER_` variable `model` reads, in field order."""
    return tuple(env_name(path) for path in _key_paths(model, ()))


def _suffixes(name: str) -> Iterator[str]:
    """`name` after `POLLER_`, `__` read as `_`, and each tail of it word by word: a variable
    that leaves out the sections (`POLLER_INTERVAL`) still finds its setting."""
    words = name.removeprefix(ENV_PREFIX).replace("__", "_").split("_")
    for start in range(len(words)):
        yield "_".join(words[start:])


def _nearest(query: str, candidates: Collection[str]) -> str | None:
    """difflib's nearest candidate, except that a name cut short finds the whole one:
    `ELASTICSEARCH_USER` is nearer `ELASTICSEARCH_URL` by difflib's count, but meant
    `ELASTICSEARCH_USERNAME`."""
    near = difflib.get_close_matches(query, candidates, n=3, cutoff=_CUTOFF)
    return next((name for name in near if name.startswith(query)), near[0] if near else None)


def _nearest_prefixed(name: str, valid: Sequence[str]) -> str | None:
    by_suffix: dict[str, str] = {}
    for candidate in valid:  # field order: the first setting with a suffix keeps it
        for suffix in _suffixes(candidate):
            by_suffix.setdefault(suffix, candidate)
    found = _nearest(name.removeprefix(ENV_PREFIX).replace("__", "_"), by_suffix.keys())
    return None if found is None else by_suffix[found]


def _warning(name: str, nearest: str | None) -> str:
    if nearest is None:
        return f"config: {name}: not a setting (docs/configuration.md lists every setting)"
    note = _NOTES.get(nearest.removeprefix(ENV_PREFIX), "")
    return f"config: {name}: did you mean {nearest}? (not a setting{note})"


def misspelled_variables(environ: Mapping[str, str], model: type[BaseModel]) -> tuple[str, ...]:
    """One warning for each non-empty variable in `environ` that `model` does not read, but
    that looks meant for it: every other `POLLER_` one (their case does not matter), and those
    of the unprefixed names' families that are near one of them, unless that one is set too (an
    `OPENAI_API_KEY` for other tools next to the `OPENAI_ADMIN_KEY` is no mistake)."""
    prefixed = prefixed_env_names(model)
    known = set(prefixed)
    warnings = []
    for name in sorted(environ):
        upper = name.upper()
        if not environ[name] or name in INTERFACE_NAMES or upper in known:
            continue
        if upper.startswith(ENV_PREFIX):
            warnings.append(_warning(name, _nearest_prefixed(upper, prefixed)))
        elif upper.startswith(_FAMILIES):
            nearest = _nearest(upper, INTERFACE_NAMES.keys())
            if nearest is not None and not environ.get(nearest):
                warnings.append(_warning(name, nearest))
    return tuple(warnings)
