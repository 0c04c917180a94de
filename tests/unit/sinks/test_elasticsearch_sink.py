"""The Elasticsearch sink against recorded responses: item classification, rollover-safe
revisions, retries with recorded sleeps, and errors that never carry credentials."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable

import pytest
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from fakes.elasticsearch import (
    DS,
    ES_URL,
    OLD_INDEX,
    WRITE_INDEX,
    RecordedElasticsearch,
    Reply,
    Request,
    bulk_created,
    doc,
)

from poller.documents.model import Document, Rejected
from poller.errors import SinkRejectedError, SinkUnavailableError
from poller.sinks.elasticsearch import (
    Backoff,
    ClusterDiagnostics,
    ElasticsearchSink,
    EsConnection,
    EsCredentials,
    EsWriteOptions,
    ItemRetry,
    worst_case_seconds,
)

SinkFactory = Callable[..., ElasticsearchSink]
SEARCH = rf"/{DS}/_search"
API_KEY = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="


def test_mixed_bulk_items_are_each_handled_by_their_status(
    fake_es: RecordedElasticsearch,
    make_sink: SinkFactory,
    sleeps: list[float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_es.on("POST", SEARCH, "search_ids_mixed")
    fake_es.on("*", "/_bulk", "bulk_mixed_items", "bulk_retried_created", "bulk_deadletter_indexed")
    fake_es.on("POST", "/_mget", "mget_raced")
    fake_es.on("HEAD", "/openai-poller-deadletter", Reply(200))
    sink = make_sink()
    docs = [
        doc("d1", 100),  # new → 201
        doc("d2", 210),  # stored with 200 tokens → revised in place → 200
        doc("d3", 300),  # new to the search, but another writer won the race → 409
        doc("d4", 400),  # 429 → retried → 201
        doc("d5", 500),  # document_parsing_exception → dead letter
        doc("d6", 600),  # 503 → retried → 201
    ]

    with caplog.at_level(logging.WARNING, logger="poller.sinks.elasticsearch"):
        report = sink.write(docs)

    assert (report.created, report.updated, report.unchanged) == (3, 1, 1)
    assert len(report.dead_lettered) == 1
    dead = report.dead_lettered[0]
    assert (dead.doc_id, dead.data_stream, dead.status) == ("d5", DS, 400)
    assert dead.reason.startswith("document_parsing_exception: [1:187] failed to parse field")
    assert report.total == len(docs)

    first, retry, letters = fake_es.to("/_bulk")
    assert [(op, meta["_id"]) for op, meta, _ in first.bulk_pairs] == [
        ("create", "d1"),
        ("index", "d2"),
        ("create", "d3"),
        ("create", "d4"),
        ("create", "d5"),
        ("create", "d6"),
    ]
    assert first.bulk_pairs[1][1] == {
        "_index": WRITE_INDEX,
        "_id": "d2",
        "if_seq_no": 17,
        "if_primary_term": 1,
    }
    # only the 429 and the 503 are sent again, after one recorded backoff sleep
    assert [(op, meta["_id"]) for op, meta, _ in retry.bulk_pairs] == [
        ("create", "d4"),
        ("create", "d6"),
    ]
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 1.0
    # the 409 is re-read in real time from the backing index the conflict named
    (mget,) = fake_es.to("/_mget")
    assert mget.body == {"docs": [{"_index": WRITE_INDEX, "_id": "d3"}]}
    assert mget.params["realtime"] == "true"
    # the refusal is kept durably, with the document as a JSON string
    ((op, meta, letter),) = letters.bulk_pairs
    assert (op, meta) == ("index", {"_index": "openai-poller-deadletter", "_id": f"{DS}/d5"})
    assert letters.params["refresh"] == "wait_for"
    assert (letter["doc_id"], letter["data_stream"], letter["status"]) == ("d5", DS, 400)
    assert json.loads(letter["source"]) == docs[4].source
    assert "document_parsing_exception" in letter["reason"]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "d5" in errors[0].getMessage()


def test_revision_after_rollover_goes_to_the_backing_index_that_holds_it(
    fake_es: RecordedElasticsearch, make_sink: SinkFactory
) -> None:
    fake_es.on("POST", SEARCH, "search_ids_rollover")
    fake_es.on("*", "/_bulk", "bulk_revision_updated")
    sink = make_sink()
    revised = doc("usage-1", 150, ts="2026-11-01T00:00:00.000Z")

    report = sink.write([revised])

    assert (report.created, report.updated, report.unchanged) == (0, 1, 0)
    (search,) = fake_es.to(SEARCH)
    assert search.body["query"] == {"ids": {"values": ["usage-1"]}}
    assert search.body["seq_no_primary_term"] is True
    (bulk,) = fake_es.to("/_bulk")
    assert bulk.bulk_pairs == [
        (
            "index",
            {"_index": OLD_INDEX, "_id": "usage-1", "if_seq_no": 41, "if_primary_term": 1},
            revised.source,
        )
    ]
    assert all(op != "create" for op, _, _ in bulk.bulk_pairs)
    assert WRITE_INDEX not in json.dumps(bulk.body)


def test_concurrent_change_of_a_revision_is_reread_and_retried(
    fake_es: RecordedElasticsearch, make_sink: SinkFactory
) -> None:
    fake_es.on("POST", SEARCH, "search_ids_rollover")
    fake_es.on("*", "/_bulk", "bulk_revision_conflict", "bulk_revision_updated")
    fake_es.on("POST", "/_mget", "mget_rollover_changed")
    sink = make_sink()

    report = sink.write([doc("usage-1", 175, ts="2026-11-01T00:00:00.000Z")])

    assert (report.created, report.updated, report.unchanged) == (0, 1, 0)
    (mget,) = fake_es.to("/_mget")
    assert mget.body == {"docs": [{"_index": OLD_INDEX, "_id": "usage-1"}]}
    first, second = fake_es.to("/_bulk")
    assert first.bulk_pairs[0][1]["if_seq_no"] == 41
    assert second.bulk_pairs[0][1] == {
        "_index": OLD_INDEX,
        "_id": "usage-1",
        "if_seq_no": 42,
        "if_primary_term": 1,
    }


def test_a_revision_that_keeps_conflicting_gives_up(
    fake_es: RecordedElasticsearch, make_sink: SinkFactory
) -> None:
    fake_es.on("POST", SEARCH, "search_ids_rollover")
    fake_es.on("*", "/_bulk", *["bulk_revision_conflict"] * 3)
    fake_es.on("POST", "/_mget", *["mget_rollover_changed"] * 2)
    sink = make_sink(retry={"conflicts": 2})

    with pytest.raises(SinkUnavailableError, match="kept changing"):
        sink.write([doc("usage-1", 175, ts="2026-11-01T00:00:00.000Z")])
    assert len(fake_es.to("/_bulk")) == 3


def test_unchanged_documents_are_not_written(
    fake_es: RecordedElasticsearch, make_sink: SinkFactory
) -> None:
    fake_es.on("POST", SEARCH, "search_ids_rollover")
    sink = make_sink()
    same = doc("usage-1", 100, ts="2026-11-01T00:00:00.000Z")

    report = sink.write([same, same])

    assert (report.created, report.updated, report.unchanged) == (0, 0, 2)
    assert fake_es.to("/_bulk") == []


def test_item_retries_are_bounded_and_their_worst_case_is_known(
    fake_es: RecordedElasticsearch, make_sink: SinkFactory, sleeps: list[float]
) -> None:
    fake_es.on("POST", SEARCH, "search_ids_empty")
    fake_es.on("*", "/_bulk", *["bulk_one_429"] * 6)
    sink = make_sink()  # defaults: 5 item retries, backoff base 1 s, cap 30 s

    with pytest.raises(SinkUnavailableError) as caught:
        sink.write([doc("d1", 100)])

    message = str(caught.value)
    assert "still refused 1 documents after 5 retries" in message
    assert "HTTP 429 es_rejected_execution_exception" in message
    assert len(fake_es.to("/_bulk")) == 6
    assert len(sleeps) == 5
    for attempt, seconds in enumerate(sleeps):
        assert 0 <= seconds <= min(30.0, 2.0**attempt)
    assert sum(sleeps) <= 31.0
    # the documented worst case with the default options: 91.5 s per request, 1 lookup + 9
    # rounds of a bulk and a re-read, 31 s of item backoff
    defaults = EsConnection(ES_URL), EsWriteOptions()
    assert worst_case_seconds(*defaults, ItemRetry(), 500) == pytest.approx(1769.5)
    assert worst_case_seconds(*defaults, ItemRetry(max_seconds=300), 500) == pytest.approx(483.0)
    # this sink's transport does not retry: 30 s per request
    assert sink.worst_case_seconds(500) == pytest.approx(19 * 30 + 31)


def test_a_write_gives_up_once_max_seconds_have_passed(
    fake_es: RecordedElasticsearch, make_sink: SinkFactory, sleeps: list[float]
) -> None:
    fake_es.on("POST", SEARCH, "search_ids_empty")
    fake_es.on("*", "/_bulk", *["bulk_one_429"] * 2)
    ticks = iter(range(0, 10_000, 100))
    sink = make_sink(retry={"max_seconds": 250, "clock": lambda: float(next(ticks))})

    with pytest.raises(SinkUnavailableError, match=r"gave up .* after 300s with 1 documents"):
        sink.write([doc("d1", 100)])
    assert len(fake_es.to("/_bulk")) == 2
    assert len(sleeps) == 1  # no sleep before giving up


def test_whole_request_connection_error_is_unavailable(
    fake_es: RecordedElasticsearch, make_sink: SinkFactory
) -> None:
    fake_es.on("POST", SEARCH, TransportConnectionError("Connection refused"))
    sink = make_sink()

    with pytest.raises(SinkUnavailableError, match=r"es\.example\.internal:9200 is unreachable"):
        sink.write([doc("d1", 100)])


def test_whole_request_timeout_and_5xx_are_unavailable(
    fake_es: RecordedElasticsearch, make_sink: SinkFactory
) -> None:
    fake_es.on("POST", SEARCH, "search_ids_empty", "search_ids_empty")
    fake_es.on("*", "/_bulk", ConnectionTimeout("timed out"), Reply.of("error_503_search", 503))
    sink = make_sink(connection={"timeout": 12})

    with pytest.raises(SinkUnavailableError, match="did not answer bulk write of 1 documents "
                                                   r"within 12s"):
        sink.write([doc("d1", 100)])
    with pytest.raises(SinkUnavailableError, match="HTTP 503 search_phase_execution_exception"):
        sink.write([doc("d1", 100)])


def test_an_answer_without_a_json_object_is_unavailable_not_a_crash(
    fake_es: RecordedElasticsearch, make_sink: SinkFactory
) -> None:
    """A 200 with an empty body (e.g. a proxy that cut the answer short) is no acknowledgement:
    the write fails as retryable, naming what it was doing, instead of crashing."""
    fake_es.on("POST", SEARCH, Reply(200, None), "search_ids_empty")
    fake_es.on("*", "/_bulk", Reply(200, None))
    sink = make_sink()

    with pytest.raises(SinkUnavailableError, match=r"answered looking up 1 ids in "
                                                   rf"{DS} without a JSON object"):
        sink.write([doc("d1", 100)])
    with pytest.raises(SinkUnavailableError, match=r"answered bulk write of 1 documents "
                                                   r"without a JSON object"):
        sink.write([doc("d1", 100)])


def test_401_is_rejected_without_credentials_in_the_message(
    fake_es: RecordedElasticsearch, make_sink: SinkFactory, caplog: pytest.LogCaptureFixture
) -> None:
    fake_es.on("POST", SEARCH, Reply.of("error_401", 401))
    sink = make_sink(connection={"credentials": EsCredentials(api_key=API_KEY)})

    with caplog.at_level(logging.DEBUG), pytest.raises(SinkRejectedError) as caught:
        sink.write([doc("d1", 100)])

    message = str(caught.value)
    assert "HTTP 401" in message and "authentication failed" in message
    assert API_KEY not in message and "ApiKey" not in message
    assert fake_es.requests[0].headers["authorization"] == f"ApiKey {API_KEY}"
    assert API_KEY not in caplog.text


def test_403_names_the_missing_privilege(
    fake_es: RecordedElasticsearch, make_sink: SinkFactory
) -> None:
    fake_es.on("POST", SEARCH, "search_ids_empty")
    fake_es.on("*", "/_bulk", Reply.of("error_403", 403))
    sink = make_sink()

    with pytest.raises(SinkRejectedError, match=r"HTTP 403 \(the credentials lack a privilege\)"):
        sink.write([doc("d1", 100)])


def test_unreachable_cluster_from_settings_never_shows_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with (
        ElasticsearchSink(
            EsConnection(
                f"http://poller:s3cret-pa%24%24@127.0.0.1:{port}",
                retry=Backoff(retries=0, base=0.0, cap=0.0),
            )
        ) as sink,
        caplog.at_level(logging.DEBUG),
        pytest.raises(SinkUnavailableError) as caught,
    ):
        sink.write([doc("d1", 100)])

    message = str(caught.value)
    assert f"http://127.0.0.1:{port} is unreachable" in message
    for secret in ("s3cret", "pa%24%24", "pa$$", "poller:"):
        assert secret not in message
        assert secret not in caplog.text


def test_compatibility_header_fits_elasticsearch_8_and_9(
    fake_es: RecordedElasticsearch, make_sink: SinkFactory
) -> None:
    """The 9.x client would announce compatible-with=9, which 8.x refuses; the sink's client
    announces 8, which both accept. An 8.x refusal still reads as one clear error."""
    fake_es.on("GET", "/", "info_8_15_3", Reply.of("error_400_media_type", 400))
    sink = make_sink()
    diagnostics = ClusterDiagnostics(sink.cluster, sink.indices)

    info = diagnostics.info()
    assert (info.name, info.version, info.major, info.supported) == ("poller-prod", "8.15.3", 8,
                                                                     True)
    headers = fake_es.requests[0].headers
    assert headers["accept"] == "application/vnd.elasticsearch+json; compatible-with=8"
    with pytest.raises(SinkRejectedError, match="media_type_header_exception"):
        diagnostics.info()


def test_state_round_trip_creates_its_index_once_and_waits_for_refresh(
    fake_es: RecordedElasticsearch, make_sink: SinkFactory
) -> None:
    fake_es.on("GET", r"/openai-poller-state/_doc/.*", Reply.of("get_state_missing", 404))
    fake_es.on("GET", r"/openai-poller-state/_doc/.*", "get_state_found")
    fake_es.on("HEAD", "/openai-poller-state", Reply(404))
    fake_es.on("PUT", "/openai-poller-state", "create_index_acknowledged")
    fake_es.on("PUT", r"/openai-poller-state/_doc/.*", "index_state_created", "index_state_created")
    sink = make_sink()

    assert sink.load_state("org-main/completions") is None
    sink.save_state("org-main/completions", {"cursor": "2026-11-15T10:00:00Z", "page": None})
    sink.save_state("org-main/completions", {"cursor": "2026-11-15T11:00:00Z", "page": None})
    assert sink.load_state("org-main/completions") == {
        "cursor": "2026-11-15T10:00:00Z",
        "page": None,
    }

    (create,) = fake_es.to("/openai-poller-state")[1:]
    assert create.body["mappings"]["properties"]["state"] == {"type": "object", "enabled": False}
    first, _ = fake_es.to(r"/openai-poller-state/_doc/.*")[1:3]
    assert first.path == "/openai-poller-state/_doc/org-main%2Fcompletions"
    assert first.params["refresh"] == "wait_for"
    assert first.body["state"] == {"cursor": "2026-11-15T10:00:00Z", "page": None}
    assert first.body["updated_at"].endswith("Z")


def test_privileges_are_checked_or_reported_as_unknown(
    fake_es: RecordedElasticsearch, make_sink: SinkFactory
) -> None:
    fake_es.on(
        "*",
        "/_security/user/_has_privileges",
        "has_privileges_partial",
        Reply.of("error_500_security_disabled", 500),
    )
    sink = make_sink()
    diagnostics = ClusterDiagnostics(sink.cluster, sink.indices)

    partial = diagnostics.check_privileges()
    assert partial.checked and not partial.ok
    assert partial.missing == ("logs-openai.*-*:index",)
    (asked,) = fake_es.requests
    assert asked.body == {
        "cluster": ["monitor"],
        "index": [
            {"names": ["logs-openai.*-*"], "privileges": ["auto_configure", "create_doc",
                                                          "index", "read",
                                                          "view_index_metadata"]},
            {"names": ["openai-poller-state"], "privileges": ["create_index", "index", "read",
                                                              "view_index_metadata"]},
            {"names": ["openai-poller-deadletter"], "privileges": ["create_index", "index",
                                                                   "read",
                                                                   "view_index_metadata"]},
        ],
    }
    unknown = diagnostics.check_privileges()
    assert not unknown.checked and unknown.ok
    assert "Security must be explicitly enabled" in unknown.note


def test_probe_is_false_when_unreachable(
    fake_es: RecordedElasticsearch, make_sink: SinkFactory
) -> None:
    fake_es.on("GET", "/", TransportConnectionError("Connection refused"))
    assert make_sink().probe() is False


def test_options_are_validated_with_value_errors() -> None:
    with pytest.raises(ValueError, match="no Elasticsearch URL"):
        EsConnection(())
    with pytest.raises(ValueError, match="either an Elasticsearch API key or a username"):
        EsCredentials(api_key="k", username="u", password="p")
    with pytest.raises(ValueError, match="needs a password"):
        EsCredentials(username="u")
    with pytest.raises(ValueError, match="timeout must be positive"):
        EsConnection(ES_URL, timeout=0)
    with pytest.raises(ValueError, match="chunk sizes must be positive"):
        EsWriteOptions(chunk_docs=0)
    with pytest.raises(ValueError, match=r"of 104857601 bytes exceeds the default http\.max_"):
        EsWriteOptions(chunk_bytes=100 * 1024 * 1024 + 1)
    with pytest.raises(ValueError, match="conflict retries must not be negative"):
        ItemRetry(conflicts=-1)


def test_a_url_the_client_refuses_is_a_value_error_without_the_password() -> None:
    with pytest.raises(ValueError, match="URL") as caught:
        ElasticsearchSink(EsConnection("http://poller:s3cret@es host:9200"))
    assert "s3cret" not in str(caught.value)


def test_credentials_never_show_in_their_repr() -> None:
    shown = repr(EsCredentials(username="poller", password="s3cret"))
    assert shown == "EsCredentials(username='poller')"
    assert repr(EsCredentials(api_key="id:s3cret")) == "EsCredentials(username=None)"


def test_probe_is_true_for_credentials_without_the_monitor_privilege(
    fake_es: RecordedElasticsearch, make_sink: SinkFactory
) -> None:
    fake_es.on("GET", "/", Reply.of("error_403", 403))
    assert make_sink().probe() is True


def _line_bytes(line: dict[str, object]) -> int:
    """What one NDJSON line of a bulk body takes, written independently of the sink."""
    return len(json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode()) + 1


def _greedy(sizes: list[int], max_docs: int, max_bytes: int) -> list[list[int]]:
    """The sizes of each request's operations, filling each as far as both bounds allow."""
    runs: list[list[int]] = [[]]
    for size in sizes:
        if runs[-1] and (len(runs[-1]) == max_docs or sum(runs[-1]) + size > max_bytes):
            runs.append([])
        runs[-1].append(size)
    return runs


def test_bulk_requests_are_bounded_in_bytes_as_well_as_documents(
    fake_es: RecordedElasticsearch, make_sink: SinkFactory
) -> None:
    fake_es.on("POST", SEARCH, *["search_ids_empty"] * 5)  # ids are looked up 6 at a time
    fake_es.on("*", "/_bulk", *[bulk_created] * 20)
    sink = make_sink(write=EsWriteOptions(chunk_docs=6, chunk_bytes=3000))
    docs = [doc(f"d{i}", 10**i, model="m" * (40 * (i % 5))) for i in range(24)]
    big = Document("completions", DS, "big", {**docs[0].source, "padding": "é" * 2000})
    docs.insert(9, big)  # 4000 bytes of UTF-8 padding, beyond chunk_bytes: sent alone

    report = sink.write(docs)

    assert report.created == len(docs)
    sizes = [
        _line_bytes({"create": {"_index": DS, "_id": d.doc_id}}) + _line_bytes(dict(d.source))
        for d in docs
    ]
    bulks = fake_es.to("/_bulk")
    runs = _greedy(sizes, 6, 3000)  # cut by count (6), by bytes, and around the big one
    assert [len(run) for run in runs] == [6, 3, 1, 5, 5, 5]
    assert [len(b.bulk_pairs) for b in bulks] == [len(run) for run in runs]
    assert [b.size for b in bulks] == [sum(run) for run in runs]
    assert [meta["_id"] for b in bulks for _, meta, _ in b.bulk_pairs] == [d.doc_id for d in docs]
    assert [b.size for b in bulks if b.size > 3000] == [sizes[9]]


def test_dead_letters_are_kept_in_bulk_requests_bounded_alike(
    fake_es: RecordedElasticsearch, make_sink: SinkFactory
) -> None:
    fake_es.on("HEAD", "/openai-poller-deadletter", Reply(200))
    fake_es.on("*", "/_bulk", *[bulk_created] * 10)
    sink = make_sink(write=EsWriteOptions(chunk_docs=3, chunk_bytes=2000))
    items = [Rejected(doc(f"r{i}", i, model="m" * 200 * (i % 2)), "schema") for i in range(7)]

    letters = sink.reject(items)

    assert [letter.doc_id for letter in letters] == [f"r{i}" for i in range(7)]
    bulks: list[Request] = fake_es.to("/_bulk")
    assert [meta["_id"] for b in bulks for _, meta, _ in b.bulk_pairs] == [
        f"{DS}/r{i}" for i in range(7)
    ]
    assert all(b.size <= 2000 and len(b.bulk_pairs) <= 3 for b in bulks)
    assert [len(b.bulk_pairs) for b in bulks] == [2, 2, 2, 1]
    assert all(b.params["refresh"] == "wait_for" for b in bulks)
