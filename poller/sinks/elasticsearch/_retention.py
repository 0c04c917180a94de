"""How long the sink's own indices keep what they hold.

The state index holds one document per org and stream, its live cursor: it is never pruned,
since losing one would make the next cycle collect from scratch (or, across a change of shape,
count twice), and it stays as small as the number of streams. The dead-letter index grows with
every refusal: a dead letter is kept for the dead-letter retention after it was last written
(its `@timestamp`, renewed whenever the same document is refused again), long enough to be
looked at and replayed, then deleted here, by `@timestamp`, with one `delete_by_query`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from elasticsearch import NotFoundError

from poller.errors import SinkUnavailableError
from poller.sinks.elasticsearch._connection import Cluster

__all__ = ["prune_dead_letters"]


def prune_dead_letters(cluster: Cluster, index: str, before: datetime) -> int:
    """Deletes the dead letters of `index` last written before `before`; how many. An index
    that does not exist yet holds none."""
    if before.tzinfo is None:
        raise ValueError("before must be timezone-aware")
    cutoff = before.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    action = f"pruning dead letters older than {cutoff} from {index}"
    with cluster.errors(action):
        try:
            answer = cluster.client.delete_by_query(
                index=index,
                query={"range": {"@timestamp": {"lt": cutoff}}},
                conflicts="proceed",  # a letter written meanwhile is newer: it stays
                refresh=True,
            ).body
        except NotFoundError:
            return 0
    body = cluster.errors.answer(answer, action)
    failures = body.get("failures")
    if failures or not isinstance(body.get("deleted"), int):
        raise SinkUnavailableError(
            cluster.errors.scrub(f"Elasticsearch at {cluster.errors.where} failed {action}: "
                                 f"{failures or 'no count of deleted letters'}")
        )
    return int(body["deleted"])
