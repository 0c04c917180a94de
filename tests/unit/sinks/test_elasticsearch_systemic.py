"""A data stream whose mapping refuses most of a write is a sink problem, not poison items:
the write raises `MappingConflictError` and dead-letters nothing; a lone refusal is still
dead-lettered."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fakes.elasticsearch import DS, RecordedElasticsearch, Reply, Request, doc

from poller.documents.model import Document
from poller.errors import MappingConflictError, SinkRejectedError
from poller.sinks.elasticsearch import ElasticsearchSink
from poller.sinks.elasticsearch._deadletters import Refused
from poller.sinks.elasticsearch._systemic import field_of, systemic_conflict

SinkFactory = Callable[..., ElasticsearchSink]
SEARCH = rf"/{DS}/_search"
# Elasticsearch 8.15's answer to a long value in a field mapped as boolean.
BOOLEAN_REFUSAL = {
    "type": "document_parsing_exception",
    "reason": "[1:187] failed to parse field [openai.completions.input_tokens] of type "
    "[boolean] in document with id 'd1'. Preview of field's value: '100'",
    "caused_by": {
        "type": "x_content_parse_exception",
        "reason": "[1:190] Current token (VALUE_NUMBER_INT) not of boolean type",
    },
}


def refusing(refused: set[str]) -> Callable[[Request], Reply]:
    """A bulk answer refusing the ids in `refused` with `BOOLEAN_REFUSAL`, creating the rest."""

    def answer(request: Request) -> Reply:
        items = []
        for op, meta, _ in request.bulk_pairs:
            if meta["_id"] in refused:
                item = {"_index": meta["_index"], "_id": meta["_id"], "status": 400,
                        "error": BOOLEAN_REFUSAL}
            else:
                item = {"_index": meta["_index"], "_id": meta["_id"], "status": 201}
            items.append({op: item})
        return Reply(200, {"errors": bool(refused), "items": items})

    return answer


def _docs(n: int) -> list[Document]:
    return [doc(f"d{i}", 100 + i) for i in range(1, n + 1)]


def test_every_document_refused_on_one_field_raises_and_dead_letters_nothing(
    fake_es: RecordedElasticsearch, make_sink: SinkFactory
) -> None:
    fake_es.on("POST", SEARCH, "search_ids_empty")
    fake_es.on("*", "/_bulk", refusing({f"d{i}" for i in range(1, 7)}))
    sink = make_sink()

    with pytest.raises(MappingConflictError) as caught:
        sink.write(_docs(6))

    error = caught.value
    assert str(error) == (
        f"{DS} refused 6 of 6 documents: field openai.completions.input_tokens is mapped as "
        "boolean (document_parsing_exception); cursor held, nothing dead-lettered -- fix: run "
        "openai-poller doctor"
    )
    assert (error.data_stream, error.field, error.scope) == (
        DS, "openai.completions.input_tokens", "stream")
    assert isinstance(error, SinkRejectedError)
    assert len(fake_es.to("/_bulk")) == 1  # no dead-letter bulk followed
    assert fake_es.to("/openai-poller-deadletter") == []


def test_half_of_a_write_refused_alike_is_systemic(
    fake_es: RecordedElasticsearch, make_sink: SinkFactory
) -> None:
    fake_es.on("POST", SEARCH, "search_ids_empty")
    fake_es.on("*", "/_bulk", refusing({"d1", "d2", "d3"}))

    with pytest.raises(MappingConflictError, match="refused 3 of 6 documents"):
        make_sink().write(_docs(6))


def test_one_refusal_in_a_write_is_a_poison_item_and_dead_lettered(
    fake_es: RecordedElasticsearch, make_sink: SinkFactory
) -> None:
    fake_es.on("POST", SEARCH, "search_ids_empty")
    fake_es.on("*", "/_bulk", refusing({"d2"}), "bulk_deadletter_indexed")
    fake_es.on("HEAD", "/openai-poller-deadletter", Reply(200))

    report = make_sink().write(_docs(3))

    assert (report.created, [d.doc_id for d in report.dead_lettered]) == (2, ["d2"])
    letters = fake_es.to("/_bulk")[1].bulk_pairs
    assert [(meta["_index"], meta["_id"]) for _, meta, _ in letters] == [
        ("openai-poller-deadletter", f"{DS}/d2")]


def _refused(doc_id: str, kind: str, reason: str, data_stream: str = DS) -> Refused:
    return Refused(Document("completions", data_stream, doc_id, {}), 400, f"{kind}: {reason}",
                   kind)


def test_the_rule_counts_per_data_stream_reason_and_field() -> None:
    parse = "failed to parse field [a.b] of type [long]"
    other = "failed to parse field [a.c] of type [long]"
    # two of five, on two fields: poison items
    assert systemic_conflict(
        [_refused("1", "document_parsing_exception", parse),
         _refused("2", "document_parsing_exception", other)], {DS: 5}) is None
    # two of four on one field: systemic
    found = systemic_conflict(
        [_refused("1", "document_parsing_exception", parse),
         _refused("2", "document_parsing_exception", parse)], {DS: 4})
    assert found is not None and found.field == "a.b"
    # a reason that is not about the mapping never is
    assert systemic_conflict(
        [_refused(str(i), "index_closed_exception", "closed") for i in range(4)], {DS: 4}) is None
    # the half is of what went to that data stream, not the whole write
    assert systemic_conflict(
        [_refused("1", "mapper_parsing_exception", parse, "logs-x"),
         _refused("2", "mapper_parsing_exception", parse, "logs-x")],
        {DS: 100, "logs-x": 3}) is not None


@pytest.mark.parametrize(("reason", "field"), [
    ("[1:78] failed to parse field [openai.completions.input_tokens] of type [boolean] in "
     "document with id 'a'", "openai.completions.input_tokens"),
    ("mapper [openai.costs.amount.value] cannot be changed from type [long] to [float]",
     "openai.costs.amount.value"),
    ("[1:9] mapping set to strict, dynamic introduction of [extra] within [openai.base] is not "
     "allowed", "openai.base.extra"),
    ("[1:9] mapping set to strict, dynamic introduction of [extra] within [_doc] is not "
     "allowed", "extra"),
    ("something else entirely", None),
])
def test_the_field_is_read_from_each_reason_elasticsearch_gives(
    reason: str, field: str | None
) -> None:
    assert field_of(reason) == field
