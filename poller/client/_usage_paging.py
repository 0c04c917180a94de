"""The pages of one usage or costs query: each sized by the page sizer, and held in the
process's results budget from before its request until the caller is done with it.

Separate from `api` because this is where the three bounds on a page meet: the sizer plans the
buckets a request asks for (`_page_size`), the budget reserves the results it is expected to
hold (`_budget`), and the page's own counts, read from its still undecoded results
(`RawUsagePage.counts`), correct both once it arrived.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Mapping

from poller.client._budget import ResultsBudget
from poller.client._page_size import PageSizer
from poller.client._usage_page import RawUsagePage
from poller.client.query import QueryValue

__all__ = ["Fetch", "usage_pages"]

logger = logging.getLogger(__name__)

# One request of the query, with these parameters, retried per the client's policy.
Fetch = Callable[[Mapping[str, QueryValue]], RawUsagePage]


def usage_pages(
    fetch: Fetch,
    endpoint: str,
    params: dict[str, QueryValue],
    *,
    shape: tuple[object, ...],
    sizer: PageSizer,
    budget: ResultsBudget,
) -> Generator[RawUsagePage, None, None]:
    """Follows `next_page` while `has_more`; `shape` is (endpoint, width, group_by), what the
    sizer learns results per bucket of."""
    most = params["limit"]
    grouped = bool(shape[-1])
    cursor: str | None = None
    while True:
        expected = 0
        if isinstance(most, int):
            params["limit"], expected = sizer.plan(shape, most, grouped=grouped)
        # Held from before the request until the caller asks for the next page (its batch is
        # committed) or drops this generator: see `poller.client._budget`.
        with budget.reserve(expected) as hold:
            page = fetch({**params, "page": cursor})
            hold.resize(sum(page.counts))
            sizer.learn(shape, page.counts, grouped=grouped)
            yield page
        if not page.has_more:
            return
        if not page.next_page:
            logger.warning("%s: has_more without next_page; stopping here", endpoint)
            return
        cursor = page.next_page
