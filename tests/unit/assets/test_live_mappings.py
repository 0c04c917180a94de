"""`doctor`'s comparison of live mappings with the shipped templates, against Elasticsearch 8.15's
answer to `GET /<data stream>` (recorded: two backing indices, each with a field of another
type) and against a plain index holding a data stream's name (noida-db, or an index created by
hand before the templates)."""

from __future__ import annotations

from fakes.elasticsearch import DS, OLD_INDEX, WRITE_INDEX, RecordedElasticsearch, Reply

from poller.assets import composed_mapping, load_assets
from poller.install import LiveIndex, field_conflicts, live_conflicts, read_indices

DESIRED = composed_mapping("completions", load_assets().components_by_name())


def test_each_backing_index_is_compared_with_its_own_fix() -> None:
    fake = RecordedElasticsearch()
    fake.on("GET", f"/{DS}", "get_data_stream_indices_conflicting")
    try:
        indices = read_indices(fake.client(), DS)
    finally:
        fake.close()
    assert [(i.name, i.data_stream) for i in indices] == [(OLD_INDEX, DS), (WRITE_INDEX, DS)]
    assert fake.requests[0].params["filter_path"] == "*.mappings,*.data_stream"

    found = [(c.index, c.field, c.live, c.expected) for c in field_conflicts(DS, indices, DESIRED)]

    assert found == [
        (OLD_INDEX, "openai.base.cost_estimate_usd", "long", "double"),
        (WRITE_INDEX, "openai.base.project_id", "text", "keyword"),
        (WRITE_INDEX, "openai.completions.input_tokens", "boolean", "long"),
    ]
    old, *_, write = field_conflicts(DS, indices, DESIRED)
    assert write.describe() == (
        f"{DS} ({WRITE_INDEX}): openai.completions.input_tokens is mapped as boolean, the "
        "templates say long -- fix: run openai-poller setup (and check your @custom component "
        f"templates), then POST {DS}/_rollover and openai-poller replay-deadletters"
    )
    assert old.fix == (
        "an older backing index: it keeps this mapping until it ages out; delete it "
        f"(DELETE /{OLD_INDEX}) and backfill its window if its documents matter"
    )


def test_a_plain_index_under_a_data_streams_name_is_to_be_deleted() -> None:
    mappings = {"properties": {"openai": {"properties": {
        "completions": {"type": "keyword"},  # a leaf where the templates have an object
    }}}}
    (conflict,) = field_conflicts(DS, [LiveIndex(DS, mappings, None)], DESIRED)
    assert conflict.describe() == (
        f"{DS}: openai.completions is mapped as keyword, the templates say object -- fix: "
        f"{DS} is a plain index, not a data stream: delete it (DELETE /{DS}), run "
        "openai-poller setup, then backfill its window"
    )


def test_matching_mappings_and_missing_data_streams_have_no_conflicts() -> None:
    fake = RecordedElasticsearch()
    fake.on("GET", f"/{DS}", Reply(200, {DS: {"mappings": DESIRED}}))
    fake.on("GET", "/logs-openai.costs-default", Reply(200, {}))
    try:
        check = live_conflicts(fake.client(), [("completions", DS),
                                               ("costs", "logs-openai.costs-default")])
    finally:
        fake.close()
    assert (check.existing, check.conflicts) == ((DS,), ())
