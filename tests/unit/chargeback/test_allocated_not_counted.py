"""Metric destinations count usage and costs; allocated documents are a split of costs already
counted, so they add no series and no delta."""

from __future__ import annotations

import json
from pathlib import Path

from poller.destinations import Labeler, Ledger, SeriesBook, SeriesLimit, tally
from poller.destinations._tally import Counted
from poller.documents.model import Document

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "golden" / "allocated_costs.json"


def test_allocated_documents_add_no_series() -> None:
    case = json.loads(GOLDEN.read_text(encoding="utf-8"))["cases"][0]["expected"]
    doc = Document("allocated_costs", case["data_stream"], case["doc_id"], case["source"])
    ledger: Ledger[Counted] = Ledger()
    book = SeriesBook(SeriesLimit(10))
    counted = tally([doc], ledger, book, Labeler("acme"), now=1_767_400_000.0)
    assert (counted.deltas, counted.changed, len(ledger)) == ((), 0, 0)
