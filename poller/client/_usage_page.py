"""`RawUsagePage`: a usage or costs page as the client yields it, its results still plain JSON.

A page holds up to `max_results_per_page` (30,000) results. A result parsed into its model costs
about 3.5 KB (its fields, the extras it keeps, the set of fields it was sent), the same result
decoded about 1 KB (the decoder shares the strings a page repeats: keys, models, ids). Parsed
whole, a page is some 200 MiB of models at once, while the poller writes it 2,000 results at a
time (`poller.sources.buckets`). So the client decodes the page and checks its envelope at once,
and a bucket's results become models only when the caller takes the bucket (`take`): a page
exists as models one batch at a time, and as plain JSON until then.

Taking checks items as `UsagePage` does (`ItemPage.from_data`): a result that fails its schema
is in the taken part's `invalid`. A broken envelope (not JSON, no `data`, a bucket without times
or whose results are not a list of objects, no `has_more`) fails the whole page when it is
parsed, as before: before any of it is taken, so a page is never half written for it.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Self

from pydantic import InstanceOf, ValidationError
from pydantic_core import from_json

from poller.client.models import APIModel, UsagePage

__all__ = ["RawUsagePage"]


class _BucketEnvelope(APIModel):
    """What a bucket must be for its page to be collected at all; its results' own schema is
    checked when the bucket is taken. The results are checked as objects, not copied."""

    start_time: int
    end_time: int
    results: list[InstanceOf[dict[str, Any]]]


class _PageEnvelope(APIModel):
    data: list[_BucketEnvelope]
    has_more: bool
    next_page: str | None = None


class RawUsagePage:
    """One page of a usage endpoint or of costs: its envelope checked, its buckets decoded JSON
    until taken. Not thread-safe: once yielded, a page is one consumer's."""

    __slots__ = ("_buckets", "_fields", "counts", "end_time", "has_more", "next_page")

    def __init__(self, body: dict[str, Any], envelope: _PageEnvelope) -> None:
        self._fields = {name: value for name, value in body.items() if name != "data"}
        self.has_more = envelope.has_more
        self.next_page = envelope.next_page
        # Results per bucket, as received: what the page sizer learns and the budget holds.
        self.counts = tuple(len(bucket.results) for bucket in envelope.data)
        self.end_time = max((bucket.end_time for bucket in envelope.data), default=None)
        buckets = zip(body["data"], self.counts, strict=True)
        self._buckets: deque[tuple[dict[str, Any], int]] = deque(buckets)

    @classmethod
    def parse_json(cls, content: bytes | str) -> Self:
        """The page in `content`. Raises `ValidationError` when the body is not JSON or its
        envelope is broken, as `UsagePage.parse_json` does."""
        try:
            body = from_json(content)
        except ValueError as exc:
            raise ValidationError.from_exception_data(
                cls.__name__,
                [{"type": "json_invalid", "loc": (), "input": "", "ctx": {"error": str(exc)}}],
            ) from None
        return cls.from_data(body)

    @classmethod
    def from_data(cls, body: Any) -> Self:
        """The page in a decoded body, which it keeps (a test builds pages from one)."""
        return cls(body, _PageEnvelope.model_validate(body))

    def __len__(self) -> int:
        """The buckets not taken yet."""
        return len(self._buckets)

    def take(self, most: int | None = None) -> UsagePage:
        """The next buckets as models, removed from this page: as many whole ones as hold at
        most `most` results, but at least one, since a bucket is never split (None: all that
        are left). A result that fails its schema is in the part's `invalid`. The part keeps
        the page's own fields (`has_more`, `next_page`), so all of a page taken at once is what
        `UsagePage.parse_json` makes of it."""
        taken: list[dict[str, Any]] = []
        held = 0
        while self._buckets and (most is None or not taken or held + self._buckets[0][1] <= most):
            bucket, count = self._buckets.popleft()
            taken.append(bucket)
            held += count
        return UsagePage.from_data({**self._fields, "data": taken})
