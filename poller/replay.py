"""`replay-deadletters`: write refused documents into the sink once the cause is fixed.

A document the sink refused for good (say, a field mapped with another type) waits in the
dead-letter store with its id and source. Once the mapping is fixed, replaying writes it through
the normal write path with its own id, so a replay twice is a replay once; a letter is removed
only after the sink acknowledged its document, and only if it is still the version that was read
(a letter refused again is kept anew and stays).

A replay must not double-count either, so a letter is written only when its document is the
one the stream's coverage says belongs there:

- its document is already stored with the same values (the window was collected again
  meanwhile): the letter is removed and nothing is written;
- its id is stored with other values: documents carry no collection time, so which version is
  newer cannot be told (a revision refused after the first version was stored, or a bucket
  collected again after the refusal). The letter is skipped and kept: replaying it could put
  an old value over a newer one, and removing it could drop a revision;
- a usage or costs document whose bucket the coverage holds in another shape (width, grouping,
  org id), or does not hold at all, is skipped and kept: it would sit beside documents of other
  ids for the same moment (`backfill` collects an uncovered window in the current shape);
- an API item no document was built from (status 422) is skipped and kept: its source is the
  item as OpenAI sent it, not a document; re-collecting its window replaces it;
- a letter whose source is not a JSON object is skipped and kept.

Limits: documents replayed are not delivered to the org's extra destinations, and a document
written by a running daemon between the replay's look-up and its write meets the write path's
usual revision (the later write wins).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from poller.assets import INGESTED_FIELD
from poller.coverage import Coverage
from poller.documents.model import Document
from poller.errors import PollerError
from poller.rebuild import RebuildTarget, recover_group_by
from poller.sinks import (
    REJECTED_STATUS,
    DeadLetterStore,
    HeldLetter,
    Readable,
    Sink,
    same_source,
)
from poller.state import load_stream_state
from poller.streams import BUCKET_SECONDS, BucketWidth, StreamKind, get_stream

__all__ = [
    "API_ITEM",
    "NOT_COLLECTED",
    "OTHER_SHAPE",
    "OTHER_VERSION",
    "UNREADABLE",
    "ReplayOutcome",
    "ReplayRequest",
    "ReplaySink",
    "replay_dead_letters",
]

log = logging.getLogger(__name__)

# Why a letter was skipped (and kept).
API_ITEM: Final = "API items no document was built from (re-collect their window)"
OTHER_SHAPE: Final = "bucket stored in another shape"
NOT_COLLECTED: Final = "bucket outside the stream's coverage (backfill collects it)"
UNREADABLE: Final = "source is not a JSON document"
OTHER_VERSION: Final = "stored with other values"


class ReplaySink(Sink, Readable, DeadLetterStore, Protocol):
    """A sink whose documents can be read back and whose dead letters can be replayed."""


@dataclass(frozen=True)
class ReplayRequest:
    """The streams to replay (as `state rebuild` names them) and the oldest letter to take."""

    targets: tuple[RebuildTarget, ...]
    since: int | None = None
    page: int = 500


@dataclass(frozen=True)
class ReplayOutcome:
    """What a replay did to one stream's dead letters. `replayed` were written now and
    `already_stored` found stored with the same values; both were removed (`removed` counts
    what was still as read). `still_refused` and `skipped` (by reason) stay. `error` ended the
    stream early."""

    target: RebuildTarget
    replayed: int = 0
    already_stored: int = 0
    still_refused: int = 0
    removed: int = 0
    skipped: Mapping[str, int] = field(default_factory=dict)
    error: PollerError | None = None


@dataclass
class _Tally:
    replayed: int = 0
    already_stored: int = 0
    still_refused: int = 0
    removed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def outcome(self, target: RebuildTarget, error: PollerError | None = None) -> ReplayOutcome:
        return ReplayOutcome(target, self.replayed, self.already_stored, self.still_refused,
                             self.removed, dict(self.skipped), error)


def replay_dead_letters(
    sink: ReplaySink, request: ReplayRequest, *, now: float
) -> tuple[ReplayOutcome, ...]:
    """Each target's letters kept before `now` (and from `since`). A stream-scoped error (its
    state unreadable, its data stream still refusing most documents) ends that stream's replay
    and is returned with its outcome; any other error is raised."""
    until = datetime.fromtimestamp(now, UTC)
    since = datetime.fromtimestamp(request.since, UTC) if request.since is not None else None
    outcomes: list[ReplayOutcome] = []
    for target in request.targets:
        tally = _Tally()
        try:
            coverage = load_stream_state(sink, target.org, target.stream).coverage
            for letters in sink.held_letters(target.data_stream, since=since, until=until,
                                             page=request.page):
                _replay_page(sink, target, coverage, letters, tally)
        except PollerError as exc:
            if exc.scope != "stream":
                raise
            log.error("replay %s/%s stopped: %s", target.org, target.stream, exc)
            outcomes.append(tally.outcome(target, exc))
            continue
        outcomes.append(tally.outcome(target))
    return tuple(outcomes)


def _replay_page(
    sink: ReplaySink,
    target: RebuildTarget,
    coverage: Coverage,
    letters: Sequence[HeldLetter],
    tally: _Tally,
) -> None:
    candidates: dict[str, tuple[HeldLetter, Document]] = {}
    for letter in letters:
        doc, reason = _document(letter, target, coverage)
        if doc is None:
            tally.skipped[reason] += 1
        else:
            candidates[doc.doc_id] = (letter, doc)
    if not candidates:
        return
    stored = sink.reader().documents(target.data_stream, list(candidates))
    for doc_id, copy in stored.items():
        # The audit streams' ingest pipeline stamps stored copies with the time they arrived.
        if not same_source(copy, candidates[doc_id][1].source, ignore=(INGESTED_FIELD,)):
            del candidates[doc_id]
            tally.skipped[OTHER_VERSION] += 1
    fresh = [doc for doc_id, (_, doc) in candidates.items() if doc_id not in stored]
    report = sink.write(fresh) if fresh else None
    refused = {d.doc_id for d in report.dead_lettered} if report is not None else set()
    done = [letter for doc_id, (letter, _) in candidates.items() if doc_id not in refused]
    tally.removed += sink.release_letters(done)
    tally.already_stored += len(candidates) - len(fresh)
    tally.replayed += len(fresh) - len(refused)
    tally.still_refused += len(refused)


def _document(
    letter: HeldLetter, target: RebuildTarget, coverage: Coverage
) -> tuple[Document | None, str]:
    """The letter's document, or None and why it is skipped."""
    record = letter.record
    if record.status == REJECTED_STATUS:
        return None, API_ITEM
    try:
        source = json.loads(record.source)
    except ValueError:
        return None, UNREADABLE
    if not isinstance(source, dict) or not isinstance(source.get("@timestamp"), str):
        return None, UNREADABLE
    doc = Document(target.stream, target.data_stream, record.doc_id, source)
    if get_stream(target.stream).kind in (StreamKind.USAGE, StreamKind.COSTS):
        problem = _shape_problem(doc, target, coverage)
        if problem is not None:
            return None, problem
    return doc, ""


def _shape_problem(doc: Document, target: RebuildTarget, coverage: Coverage) -> str | None:
    """Why a bucket document may not be written beside what the coverage says is stored."""
    base: Any = doc.source.get("openai", {}).get("base", {})
    try:
        width = BucketWidth(base.get("bucket_width"))
        start = int(datetime.fromisoformat(
            str(base.get("start_time")).replace("Z", "+00:00")).timestamp())
    except (ValueError, AttributeError):
        return UNREADABLE
    segments = coverage.covered(start, start + BUCKET_SECONDS[width])
    if not segments:
        return NOT_COLLECTED
    org_id = doc.source.get("organization", {}).get("id")
    for seg in segments:
        if seg.width != width or seg.organization_id not in (None, org_id):
            return OTHER_SHAPE
        if seg.group_by is not None and seg.group_by != recover_group_by(
            doc.doc_id, doc.source, stream=target.stream
        ):
            return OTHER_SHAPE
    return None
