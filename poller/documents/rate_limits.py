"""Rate-limit documents: one per project, model and collection slot (a time series of limits)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from poller.documents.common import (
    MappingContext,
    iso_time,
    make_document,
    put,
    skeleton,
)
from poller.documents.fields import RATE_LIMIT_FIELDS, UNMAPPED
from poller.documents.fitting import fit
from poller.documents.ids import rate_limit_doc_id
from poller.documents.model import Document
from poller.errors import MappingError

__all__ = ["map_rate_limit"]


def map_rate_limit(
    ctx: MappingContext,
    rate_limit: Mapping[str, Any],
    project: Mapping[str, Any],
    slot_start: int,
) -> Document:
    """The document of one project rate limit collected in the slot starting at `slot_start`.

    `project` is the project object as the API lists it (`id`, `name`, `status`). Elastic's
    `collected_at` is its wall clock; here it is the slot start, so that collecting twice in
    one slot gives the same document under the same id.
    """
    project_id = project.get("id")
    if not isinstance(project_id, str) or not project_id:
        raise MappingError(f"rate limit {rate_limit.get('id')!r} comes with a project without id")
    mapped, unmapped = fit(rate_limit, RATE_LIMIT_FIELDS)
    for name in ("name", "status"):
        value = project.get(name)
        if isinstance(value, str) and value:
            mapped[f"project_{name}"] = value
    mapped["project_id"] = project_id
    mapped["collected_at"] = iso_time(slot_start)

    source = skeleton("rate_limits", ctx, slot_start, "metric")
    source["event"]["created"] = iso_time(slot_start)
    source["openai"] = {"rate_limits": mapped}
    if unmapped:
        put(source, UNMAPPED, unmapped)
    doc_id = rate_limit_doc_id(ctx.organization_id, project_id, rate_limit.get("model"), slot_start)
    return make_document("rate_limits", ctx, doc_id, source)
