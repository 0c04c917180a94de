"""The counting core every metric destination shares: labels, contributions, the ledger that
tells a revision from a repeat, and the series limit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

import pytest
from destination_support import NOW, golden, revised

from poller.destinations import (
    USAGE_METRICS,
    Labeler,
    Ledger,
    Retention,
    SeriesBook,
    SeriesLimit,
    Tally,
    bucket_of,
    contribution,
    tally,
)
from poller.destinations._ledger import Entry
from poller.destinations._metrics import Bucket
from poller.destinations._tally import Counted, counted_ledger, encode_counted
from poller.documents.model import Document
from poller.settings import load_settings

COMPLETIONS = golden("completions", 0)  # proj_alpha/gpt-4o, 1200 in, 300 out, 7 requests
EMBEDDINGS = golden("embeddings", 0)  # proj_alpha/text-embedding-3-small, 150000 in
COSTS = golden("costs", 0)  # proj_alpha, $12.5 billed


def test_labels_follow_the_dimensions_and_leave_empty_values_out() -> None:
    assert Labeler("acme").labels(COMPLETIONS) == (
        ("org", "acme"), ("project", "proj_alpha"), ("model", "gpt-4o"),
    )
    every = Labeler("acme", ("stream", "project_name", "user_email", "api_key_name",
                             "service_tier", "batch", "organization_id"))
    assert every.labels(COMPLETIONS) == (
        ("stream", "completions"), ("project_name", "Alpha"), ("user_email", "ann@acme.example"),
        ("api_key_name", "CI deploy key"), ("service_tier", "default"), ("batch", "false"),
        ("organization_id", "org-acme"),
    )
    assert Labeler("acme", ("model", "line_item")).labels(COSTS) == (("line_item", "Text tokens"),)


@pytest.mark.parametrize("dimensions", [("org", "prompt"), ("model", "model")])
def test_a_labeler_refuses_unknown_or_repeated_dimensions(dimensions: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="dimension"):
        Labeler("acme", dimensions)


def test_contributions_read_the_documented_fields() -> None:
    assert [m.key for m in USAGE_METRICS] == [
        "input_tokens", "output_tokens", "requests", "cost_usd", "cost_estimate_usd",
    ]
    assert contribution(COMPLETIONS) == (1200.0, 300.0, 7.0, 0.0, 0.006)
    assert contribution(EMBEDDINGS) == (150000.0, 0.0, 12.0, 0.0, 0.003)
    assert contribution(COSTS) == (0.0, 0.0, 0.0, 12.5, 0.0)
    assert contribution(golden("costs", 2)) == (0.0, 0.0, 0.0, 0.0, 0.0)  # amount unmapped
    eur = revised(COSTS, "openai.costs.amount.currency", "eur")
    assert contribution(eur) == (0.0,) * 5  # USD counters never add euros
    assert bucket_of(COMPLETIONS) == Bucket(1767254400, 1767258000)
    assert bucket_of(golden("audit", 0)) is None
    assert bucket_of(golden("rate_limits", 0)) is None


def _tally(
    docs: Sequence[Document],
    ledger: Ledger[Counted],
    book: SeriesBook,
    labeler: Labeler | None = None,
    now: float = NOW,
) -> Tally:
    return tally(docs, ledger, book, labeler or Labeler("acme"), now=now)


def test_a_repeat_adds_nothing_and_a_revision_adds_only_what_grew() -> None:
    ledger: Ledger[Counted] = Ledger()
    book = SeriesBook(SeriesLimit(10))
    first = _tally([COMPLETIONS, EMBEDDINGS, golden("audit", 0)], ledger, book)
    assert {(d.metric.key, d.labels[2][1], d.value) for d in first.deltas} == {
        ("input_tokens", "gpt-4o", 1200.0), ("output_tokens", "gpt-4o", 300.0),
        ("requests", "gpt-4o", 7.0), ("cost_estimate_usd", "gpt-4o", 0.006),
        ("input_tokens", "text-embedding-3-small", 150000.0),
        ("requests", "text-embedding-3-small", 12.0),
        ("cost_estimate_usd", "text-embedding-3-small", 0.003),
    }
    assert first.changed == 2
    assert len(ledger) == 2  # the audit event counts nothing and is not kept

    again = _tally([COMPLETIONS, EMBEDDINGS], ledger, book)
    assert again.deltas == ()
    assert again.changed == 0

    grown = revised(COMPLETIONS, "openai.completions.input_tokens", 1500)
    later = _tally([grown], ledger, book)
    assert [(d.metric.key, d.value) for d in later.deltas] == [("input_tokens", 300.0)]
    assert book[0].totals == [1500.0, 300.0, 7.0, 0.0, 0.006]


def test_deltas_of_one_series_and_bucket_are_summed() -> None:
    other_user = revised(COMPLETIONS, "openai.base.user_id", "user_bob")
    twin = replace(other_user, doc_id="other-id")
    counted = _tally([COMPLETIONS, twin], Ledger(), SeriesBook(SeriesLimit(10)))
    inputs = [d for d in counted.deltas if d.metric.key == "input_tokens"]
    assert [(d.value, d.bucket.start) for d in inputs] == [(2400.0, 1767254400)]


def test_a_lower_reread_is_not_subtracted_and_is_counted() -> None:
    ledger: Ledger[Counted] = Ledger()
    book = SeriesBook(SeriesLimit(10))
    _tally([COMPLETIONS], ledger, book)
    lower = revised(COMPLETIONS, "openai.completions.input_tokens", 1000)
    counted = _tally([lower], ledger, book)
    assert (counted.deltas, counted.lowered) == ((), 1)
    assert book[0].totals[0] == 1200.0
    higher = revised(COMPLETIONS, "openai.completions.input_tokens", 1250)
    assert [d.value for d in _tally([higher], ledger, book).deltas] == [50.0]


def test_a_document_keeps_the_series_it_was_first_counted_under() -> None:
    ledger: Ledger[Counted] = Ledger()
    book = SeriesBook(SeriesLimit(10))
    named = Labeler("acme", ("project_name",))
    _tally([COMPLETIONS], ledger, book, named)
    renamed = revised(COMPLETIONS, "openai.base.project_name", "Alpha 2")
    grown = revised(renamed, "openai.completions.output_tokens", 310)
    counted = _tally([grown], ledger, book, named)
    assert [(d.labels, d.value) for d in counted.deltas] == [((("project_name", "Alpha"),), 10.0)]
    assert len(book) == 1


def test_series_past_the_limit_are_refused_and_retried() -> None:
    ledger: Ledger[Counted] = Ledger()
    book = SeriesBook(SeriesLimit(1))
    counted = _tally([COMPLETIONS, EMBEDDINGS], ledger, book)
    assert counted.series_dropped == 1
    assert {d.labels for d in counted.deltas} == {
        (("org", "acme"), ("project", "proj_alpha"), ("model", "gpt-4o")),
    }
    assert ledger.get(EMBEDDINGS.doc_id) is None  # not counted: tried again when it comes again
    assert _tally([EMBEDDINGS], ledger, book).series_dropped == 1


def test_pruning_forgets_settled_documents_and_never_counts_them_again() -> None:
    ledger: Ledger[Counted] = Ledger()
    book = SeriesBook(SeriesLimit(10))
    old = revised(COMPLETIONS, "openai.base.end_time", "2026-01-01T06:00:00.000Z")
    old = replace(revised(old, "openai.base.start_time", "2026-01-01T05:00:00.000Z"), doc_id="old")
    _tally([old, COMPLETIONS], ledger, book)
    ledger.prune(NOW, Retention({"completions": 3 * 3600}))  # keeps what ended after 07:00
    assert (ledger.get(old.doc_id), len(ledger)) == (None, 1)
    again = _tally([old], ledger, book)
    assert (again.deltas, again.pruned) == ((), 1)
    # A document that was never counted but ends before what was pruned: not counted either.
    older = revised(old, "openai.base.end_time", "2026-01-01T04:00:00.000Z")
    older = revised(older, "openai.base.start_time", "2026-01-01T03:00:00.000Z")
    assert _tally([replace(older, doc_id="never-seen")], ledger, book).pruned == 1


def test_the_first_run_counts_a_backlog_older_than_the_retention() -> None:
    """Nothing was pruned yet, so nothing below the floor can have been counted before."""
    counted = _tally([COMPLETIONS], Ledger(), SeriesBook(SeriesLimit(10)), now=NOW + 30 * 86400)
    assert counted.changed == 1


def test_ledger_and_series_book_survive_their_json() -> None:
    ledger: Ledger[Counted] = Ledger()
    book = SeriesBook(SeriesLimit(10))
    _tally([COMPLETIONS, COSTS], ledger, book)
    ledger.put("gone", Entry("completions", 1, (0, (1.0,) * 5)))
    ledger.prune(NOW, Retention())
    again = counted_ledger(ledger.to_json(encode_counted))
    assert again.to_json(encode_counted) == ledger.to_json(encode_counted)
    assert again.pruned("completions", 1)
    restored = SeriesBook.from_json(SeriesLimit(10), book.to_json())
    assert restored.to_json() == book.to_json()
    assert [s.shown_from for s in restored] == [
        [NOW, NOW, NOW, None, NOW], [None, None, None, NOW, None],
    ]
    with pytest.raises(ValueError, match="metrics"):
        SeriesBook.from_json(SeriesLimit(10), [[[["org", "acme"]], [None], [1.0]]])


def test_a_book_saved_with_more_series_than_the_new_limit_keeps_them_and_admits_none() -> None:
    book = SeriesBook(SeriesLimit(10))
    _tally([COMPLETIONS, EMBEDDINGS], Ledger(), book)
    smaller = SeriesBook.from_json(SeriesLimit(1), book.to_json())
    assert len(smaller) == 2
    assert smaller.admit((("org", "beta"),)) is None
    assert smaller.admit(book[1].labels) == 1


def test_retention_from_stream_settings() -> None:
    settings = load_settings(orgs=[{"name": "acme", "admin_key": "sk-admin-x"}])
    retention = Retention.for_streams(settings.orgs[0].stream_configs())
    # grace 2m + settlement window + overlap + two intervals
    assert retention.seconds("completions") == timedelta(minutes=2 + 60 + 10).total_seconds()
    assert retention.seconds("costs") == timedelta(days=3, minutes=2 + 120).total_seconds()
    assert retention.seconds("audit") == timedelta(minutes=2 + 5 + 10).total_seconds()
