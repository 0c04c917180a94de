"""The labels a counted document is filed under: a small, fixed vocabulary of dimensions.

Every metric destination files a usage or costs document under the values of the dimensions it
is configured with. The vocabulary is closed and each dimension reads one field the mappers
write, so a label never carries free text the operator did not choose; the cardinality limit
(`SeriesBook`) bounds how many combinations there can be.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:  # the settings import this package: it must not load the mappers
    from poller.documents.model import Document


__all__ = ["DEFAULT_DIMENSIONS", "DIMENSIONS", "Labeler", "Labels", "field_value"]

# (label name, label value) pairs in the configured dimension order, empty values left out.
Labels = tuple[tuple[str, str], ...]


def field_value(source: Mapping[str, Any], path: str) -> Any:
    """The value at the dotted `path` of a document source, or None."""
    node: Any = source
    for key in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _path(path: str) -> Callable[[Document], Any]:
    return lambda doc: field_value(doc.source, path)


def _own(name: str) -> Callable[[Document], Any]:
    """A result field the mappers keep under the stream's own object, e.g. completions' tier."""
    return lambda doc: field_value(doc.source, f"openai.{doc.stream}.{name}")


# Dimension → what it reads from a document. `org` is the poller's name for the org (the one
# its settings give), not a field: it is filled in by the `Labeler`.
_READERS: Final[dict[str, Callable[[Document], Any]]] = {
    "organization_id": _path("organization.id"),
    "stream": lambda doc: doc.stream,
    "project": _path("openai.base.project_id"),
    "project_name": _path("openai.base.project_name"),
    "user": _path("openai.base.user_id"),
    "user_email": _path("openai.base.user_email"),
    "api_key": _path("openai.base.api_key_id"),
    "api_key_name": _path("openai.base.api_key_name"),
    "model": _path("openai.base.model"),
    "service_tier": _own("service_tier"),
    "batch": _own("batch"),
    "line_item": _path("openai.costs.line_item"),
}
DIMENSIONS: Final = ("org", *_READERS)
DEFAULT_DIMENSIONS: Final = ("org", "project", "model")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Labeler:
    """Files documents of the org `org` under `dimensions`."""

    org: str
    dimensions: Sequence[str] = DEFAULT_DIMENSIONS

    def __post_init__(self) -> None:
        unknown = [name for name in self.dimensions if name not in DIMENSIONS]
        if unknown:
            raise ValueError(f"unknown dimensions {unknown}: choose from {', '.join(DIMENSIONS)}")
        if len(set(self.dimensions)) != len(self.dimensions):
            raise ValueError("a dimension is listed twice")

    def labels(self, doc: Document) -> Labels:
        pairs = []
        for name in self.dimensions:
            value = self.org if name == "org" else _text(_READERS[name](doc))
            if value:
                pairs.append((name, value))
        return tuple(pairs)
