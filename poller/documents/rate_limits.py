"""Rate-limit documents: one per project, model and collection slot (a time series of limits)."""

from __future__ import annotations

from poller.client.directory import Project, ProjectRateLimit
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
from poller.streams import StreamName

__all__ = ["map_rate_limit"]


def map_rate_limit(
    ctx: MappingContext, rate_limit: ProjectRateLimit, project: Project, slot_start: int
) -> Document:
    """The document of one project rate limit collected in the slot starting at `slot_start`.

    `project` is the project as the API lists it. Elastic's `collected_at` is its wall clock;
    here it is the slot start, so that collecting twice in one slot gives the same document
    under the same id.
    """
    if not project.id:
        raise MappingError(f"rate limit {rate_limit.id!r} comes with a project without id")
    mapped, unmapped = fit(rate_limit.api_dict(), RATE_LIMIT_FIELDS)
    for name, value in (("name", project.name), ("status", project.status)):
        if value:
            mapped[f"project_{name}"] = value
    mapped["project_id"] = project.id
    mapped["collected_at"] = iso_time(slot_start)

    source = skeleton(StreamName.RATE_LIMITS, ctx, slot_start, "metric")
    source["event"]["created"] = iso_time(slot_start)
    source["openai"] = {"rate_limits": mapped}
    if unmapped:
        put(source, UNMAPPED, unmapped)
    doc_id = rate_limit_doc_id(ctx.organization_id, project.id, rate_limit.model, slot_start)
    return make_document(StreamName.RATE_LIMITS, ctx, doc_id, source)
