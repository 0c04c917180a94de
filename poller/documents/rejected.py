"""Items no document can be built from, as `Rejected` entries for the dead-letter store.

An item is rejected when it fails the spec's schema (the client's `page.invalid`) or when the
mapper cannot place it (`MappingError`). Either way it is kept whole, so nothing OpenAI sent is
silently dropped, and one poison item never stalls its stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from poller.documents.common import MappingContext
from poller.documents.ids import rejected_doc_id
from poller.documents.model import Document, Rejected
from poller.streams import get_stream

__all__ = ["rejected"]


def rejected(stream: str, ctx: MappingContext, raw: Mapping[str, Any], reason: str) -> Rejected:
    """The dead-letter entry of `raw`, an item of `stream` as the API sent it (JSON data).

    Its id is a digest of the item (and of the org and stream), so the same item rejected twice
    is kept once; `reason` says why no document was built, and must hold no secret.
    """
    spec = get_stream(stream)
    doc = Document(
        stream=spec.name,
        data_stream=spec.data_stream(ctx.namespace),
        doc_id=rejected_doc_id(ctx.organization_id, spec.name, raw),
        source=raw,
    )
    return Rejected(doc=doc, reason=reason)
