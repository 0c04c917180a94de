"""The Elasticsearch sink's write path: data streams, exactly once in effect, across rollovers.

A data stream keeps `_id`s unique only within one backing index and accepts only `create`, so a
plain `create` would duplicate a document written before a rollover and could never revise one.
`write()` therefore works in three steps:

1. **Look up** every id in its whole data stream: a search with an `ids` query returns the
   backing index, `_seq_no`, `_primary_term` and `_source` of each stored copy.
2. **New** ids are `create`d in the data stream. A 409 means another writer (or a copy written
   too recently for search to see it) got there first: the copy is re-read in real time from
   the backing index the 409 names and treated as existing.
3. **Existing** ids with other values are revised by an `index` op into the *backing index that
   holds them*, guarded by `if_seq_no`/`if_primary_term`; a 409 there means a concurrent change,
   so the copy is re-read and the revision retried (at most `ItemRetry.conflicts` times). Existing
   ids with the same values are counted `unchanged` and not written.

Every bulk item is classified (Beats semantics): below 300 done; 409 as above; 429 and 5xx
retried, only those items, with full-jitter backoff; any other status is final, so the document
goes to the dead-letter index with its status and reason, is logged at ERROR with its `_id`, and
is returned in `WriteReport.dead_lettered`, unless most of what the write sent to a data stream
was refused for one mapping reason on one field: that is the data stream's mapping, not the
documents (`_systemic`), so nothing is dead-lettered and `MappingConflictError` is raised.
Items still failing after their item retries, an
unreachable cluster or a 5xx answer to a whole request raise `SinkUnavailableError`; 401/403
raise `SinkRejectedError`. Either way the caller keeps its cursor.

Remaining gap: a copy written less than one refresh interval (1 s) before a rollover is
invisible to the step-1 search until that refresh, so a rewrite in that instant could create a
second copy in the new write index.

Bulk requests hold at most `chunk_docs` documents and `chunk_bytes` bytes of body (`_bulk`).
Worst-case time of one `write()` of N documents, with B = ceil(N / chunk_docs) (the number of
bulk requests while documents average under chunk_bytes / chunk_docs, 10 KiB at the defaults;
usage documents are 1-3 KB), R and C the item and conflict retries of `ItemRetry`,
T = `EsConnection.timeout` (which bounds a whole request, even an answer that trickles in:
`DeadlineHttpNode`) and t the transport's retries:

    one request  <= (1 + t) * T + sum(min(cap, base * 2**n) for n < t)    (transport layer)
    rounds       <= 1 + R + C    (each further round retries 429/5xx items or re-plans 409s)
    requests     <= B lookups + rounds * (B bulk requests + 1 real-time re-read)
    one write()  <= requests * one request + sum(min(item cap, item base * 2**n) for n < R)

A request that still fails after its transport retries raises at once, so the long path needs
every request to succeed, slowly. With the defaults (T=30 s; t=2 with backoff 0.5/4 s; R=5 with
backoff 1/30 s; C=3) one request takes at most 3 * 30 + 1.5 = 91.5 s and a 500-document write
at most (1 + 9 * 2) * 91.5 + 31 = 1769.5 s. `ItemRetry.max_seconds` bounds that: no round
starts once it has passed, so a write ends within it plus one round ((B + 1) requests).
`worst_case_seconds` (in `_options`) computes the bound for the configured values.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from poller.documents.model import Document
from poller.errors import SinkUnavailableError
from poller.sinks._canonical import same_source
from poller.sinks._contract import WriteReport
from poller.sinks.elasticsearch._bulk import batches, ndjson_bytes
from poller.sinks.elasticsearch._connection import Cluster
from poller.sinks.elasticsearch._deadletters import BULK_FILTER, DeadLetterIndex, Refused
from poller.sinks.elasticsearch._errors import describe_error
from poller.sinks.elasticsearch._options import EsWriteOptions
from poller.sinks.elasticsearch._retry import ItemRetry
from poller.sinks.elasticsearch._systemic import systemic_conflict

__all__ = ["DataStreamWriter"]

logger = logging.getLogger(__name__)

_LOOKUP_FILTER = [
    "hits.hits._id",
    "hits.hits._index",
    "hits.hits._seq_no",
    "hits.hits._primary_term",
    "hits.hits._source",
    "_shards.failed",
]
_MGET_FILTER = [
    "docs._id",
    "docs._index",
    "docs.found",
    "docs._seq_no",
    "docs._primary_term",
    "docs._source",
]
_BACKING_GENERATION = re.compile(r"-(\d+)$")


@dataclass(frozen=True)
class _Stored:
    """One stored copy of a document: where it lives and its optimistic-concurrency token."""

    index: str
    seq_no: int
    primary_term: int
    source: Mapping[str, Any]


@dataclass(frozen=True)
class _Op:
    doc: Document
    stored: _Stored | None  # None: create in the data stream; else revise this copy in place
    conflicts: int = 0

    def action(self) -> dict[str, Any]:
        if self.stored is None:
            return {"create": {"_index": self.doc.data_stream, "_id": self.doc.doc_id}}
        return {
            "index": {
                "_index": self.stored.index,
                "_id": self.doc.doc_id,
                "if_seq_no": self.stored.seq_no,
                "if_primary_term": self.stored.primary_term,
            }
        }


@dataclass
class _Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def _kind(item: Mapping[str, Any]) -> str:
    error = item.get("error")
    return str(error.get("type", "")) if isinstance(error, Mapping) else ""


def _generation(index: str) -> int:
    match = _BACKING_GENERATION.search(index)
    return int(match.group(1)) if match else -1


class DataStreamWriter:
    """Runs `write()` for `ElasticsearchSink` (see the module docstring)."""

    def __init__(
        self,
        cluster: Cluster,
        options: EsWriteOptions,
        retry: ItemRetry,
        dead_letters: DeadLetterIndex,
    ) -> None:
        self._client = cluster.client
        self._errors = cluster.errors
        self._chunk_docs = options.chunk_docs
        self._chunk_bytes = options.chunk_bytes
        self._ignore_fields = tuple(options.ignore_fields)
        self._retry = retry
        self._dead_letters = dead_letters

    def write(self, documents: Sequence[Document]) -> WriteReport:
        """Store every document or raise.

        A batch holding one id twice stores its last version; an earlier copy counts as
        `unchanged` when it equals the last one, else as `updated`.
        """
        started = self._retry.clock()
        latest: dict[tuple[str, str], Document] = {}
        superseded: list[Document] = []
        for doc in documents:
            key = (doc.data_stream, doc.doc_id)
            if key in latest:
                superseded.append(latest.pop(key))
            latest[key] = doc
        tally = _Tally()
        ops: list[_Op] = []
        by_stream: dict[str, list[Document]] = {}
        for doc in latest.values():
            by_stream.setdefault(doc.data_stream, []).append(doc)
        for data_stream, docs in by_stream.items():
            stored = self._lookup(data_stream, [d.doc_id for d in docs])
            for doc in docs:
                op = self._plan(doc, stored.get(doc.doc_id), tally)
                if op is not None:
                    ops.append(op)
        refused = self._run(ops, tally, started)
        if refused:
            sent: dict[str, int] = {}
            for op in ops:
                sent[op.doc.data_stream] = sent.get(op.doc.data_stream, 0) + 1
            conflict = systemic_conflict(refused, sent)
            if conflict is not None:
                raise conflict
            for r in refused:
                logger.error(
                    "Elasticsearch refused document %s for %s for good: HTTP %d %s; "
                    "keeping it in %s",
                    r.doc.doc_id, r.doc.data_stream, r.status, r.reason, self._dead_letters.name,
                )
            self._dead_letters.keep(refused)
        for doc in superseded:
            final = latest[(doc.data_stream, doc.doc_id)]
            if same_source(final.source, doc.source, ignore=self._ignore_fields):
                tally.unchanged += 1
            else:
                tally.updated += 1
        report = WriteReport(
            created=tally.created,
            updated=tally.updated,
            unchanged=tally.unchanged,
            dead_lettered=tuple(r.letter() for r in refused),
        )
        logger.debug(
            "wrote %d documents: %d created, %d updated, %d unchanged, %d dead-lettered",
            report.total,
            report.created,
            report.updated,
            report.unchanged,
            len(refused),
        )
        return report

    def _lookup(self, data_stream: str, doc_ids: Sequence[str]) -> dict[str, _Stored]:
        """Every stored copy of `doc_ids` anywhere in the data stream (all backing indices)."""
        found: dict[str, _Stored] = {}
        for i in range(0, len(doc_ids), self._chunk_docs):
            chunk = list(doc_ids[i : i + self._chunk_docs])
            action = f"looking up {len(chunk)} ids in {data_stream}"
            with self._errors(action):
                answer = self._client.search(
                    index=data_stream,
                    query={"ids": {"values": chunk}},
                    size=min(2 * len(chunk), 10_000),
                    seq_no_primary_term=True,
                    source=True,
                    ignore_unavailable=True,
                    allow_no_indices=True,
                    allow_partial_search_results=False,
                    filter_path=_LOOKUP_FILTER,
                ).body
            body = self._errors.answer(answer, action)
            if body.get("_shards", {}).get("failed"):
                raise SinkUnavailableError(f"some shards of {data_stream} failed the id lookup")
            for hit in body.get("hits", {}).get("hits", []):
                copy = _Stored(hit["_index"], hit["_seq_no"], hit["_primary_term"], hit["_source"])
                doc_id = hit["_id"]
                if doc_id in found:
                    logger.warning(
                        "document %s is stored twice in %s (%s and %s); revising the newer",
                        doc_id,
                        data_stream,
                        found[doc_id].index,
                        copy.index,
                    )
                    if _generation(copy.index) < _generation(found[doc_id].index):
                        continue
                found[doc_id] = copy
        return found

    def _plan(
        self, doc: Document, stored: _Stored | None, tally: _Tally, conflicts: int = 0
    ) -> _Op | None:
        if stored is not None and same_source(
            stored.source, doc.source, ignore=self._ignore_fields
        ):
            tally.unchanged += 1
            return None
        return _Op(doc, stored, conflicts)

    def _chunks(self, ops: Sequence[_Op]) -> Iterator[list[_Op]]:
        return batches(
            ops, lambda op: ndjson_bytes(op.action(), op.doc.source),
            self._chunk_docs, self._chunk_bytes,
        )

    def _bulk(self, chunk: Sequence[_Op]) -> list[Mapping[str, Any]]:
        operations: list[Mapping[str, Any]] = []
        for op in chunk:
            operations += [op.action(), op.doc.source]
        action = f"bulk write of {len(chunk)} documents"
        with self._errors(action):
            answer = self._client.bulk(operations=operations, filter_path=BULK_FILTER).body
        body = self._errors.answer(answer, action)
        items = body.get("items")
        if not isinstance(items, list) or len(items) != len(chunk):
            raise SinkUnavailableError(
                f"Elasticsearch at {self._errors.where} answered a bulk write of {len(chunk)} "
                f"documents with {len(items) if isinstance(items, list) else 'no'} items"
            )
        return [next(iter(item.values())) for item in items]

    def _run(self, ops: list[_Op], tally: _Tally, started: float) -> list[Refused]:
        """Send `ops` until every item is done, refused for good, or retries run out."""
        refused: list[Refused] = []
        attempt = 0
        first = True
        while ops:
            if not first:
                self._check_deadline(started, len(ops))
            first = False
            transient: list[_Op] = []
            conflicted: list[tuple[_Op, str | None]] = []
            last_failure = ""
            for chunk in self._chunks(ops):
                for op, item in zip(chunk, self._bulk(chunk), strict=True):
                    status = int(item.get("status", 0))
                    if not status:
                        raise SinkUnavailableError(
                            f"Elasticsearch at {self._errors.where} answered document "
                            f"{op.doc.doc_id} with a bulk item without a status"
                        )
                    if 200 <= status < 300:
                        if op.stored is None:
                            tally.created += 1
                        else:
                            tally.updated += 1
                    elif status == 409:
                        conflicted.append((op, item.get("_index")))
                    elif status == 429 or status >= 500:
                        transient.append(op)
                        last_failure = f"HTTP {status} {describe_error(item, '')}"
                    else:
                        reason = describe_error(item, f"HTTP {status}")
                        refused.append(Refused(op.doc, status, reason, _kind(item)))
            ops = self._resolve_conflicts(conflicted, tally)
            if transient:
                if attempt >= self._retry.backoff.retries:
                    raise SinkUnavailableError(
                        f"Elasticsearch at {self._errors.where} still refused "
                        f"{len(transient)} documents after {attempt} retries "
                        f"(last: {last_failure})"
                    )
                self._check_deadline(started, len(transient) + len(ops))
                seconds = self._retry.wait(attempt)
                attempt += 1
                logger.warning(
                    "retrying %d documents after %.1fs (retry %d of %d; last: %s)",
                    len(transient),
                    seconds,
                    attempt,
                    self._retry.backoff.retries,
                    last_failure,
                )
                ops = transient + ops
        return refused

    def _check_deadline(self, started: float, pending: int) -> None:
        limit = self._retry.max_seconds
        if limit is None:
            return
        elapsed = self._retry.clock() - started
        if elapsed > limit:
            raise SinkUnavailableError(
                f"gave up writing to Elasticsearch at {self._errors.where} after "
                f"{elapsed:.0f}s with {pending} documents not yet stored "
                f"(max_seconds={limit:g})"
            )

    def _resolve_conflicts(
        self, conflicted: Sequence[tuple[_Op, str | None]], tally: _Tally
    ) -> list[_Op]:
        """Re-read each copy a 409 named, in real time, and plan the next op for it."""
        if not conflicted:
            return []
        for op, _ in conflicted:
            if op.conflicts >= self._retry.conflicts:
                raise SinkUnavailableError(
                    f"document {op.doc.doc_id} in {op.doc.data_stream} kept changing under "
                    f"{op.conflicts + 1} writes in a row"
                )
        targets = [
            (index or (op.stored.index if op.stored else None), op) for op, index in conflicted
        ]
        current = self._fetch([(i, op.doc.doc_id) for i, op in targets if i])
        nxt: list[_Op] = []
        for index, op in targets:
            stored = current.get((index, op.doc.doc_id)) if index else None
            if stored is None and index is None:
                stored = self._lookup(op.doc.data_stream, [op.doc.doc_id]).get(op.doc.doc_id)
            planned = self._plan(op.doc, stored, tally, op.conflicts + 1)
            if planned is not None:
                nxt.append(planned)
        return nxt

    def _fetch(self, targets: Sequence[tuple[str, str]]) -> dict[tuple[str, str], _Stored]:
        """Real-time get of (backing index, id) pairs; absent ones are left out."""
        if not targets:
            return {}
        action = f"re-reading {len(targets)} documents"
        with self._errors(action):
            answer = self._client.mget(
                docs=[{"_index": index, "_id": doc_id} for index, doc_id in targets],
                realtime=True,
                filter_path=_MGET_FILTER,
            ).body
        body = self._errors.answer(answer, action)
        out: dict[tuple[str, str], _Stored] = {}
        for doc in body.get("docs", []):
            if doc.get("found"):
                out[(doc["_index"], doc["_id"])] = _Stored(
                    doc["_index"], doc["_seq_no"], doc["_primary_term"], doc.get("_source", {})
                )
        return out
