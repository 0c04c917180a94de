"""The allocated-cost source: what it asks the API, and how a revised bill rewrites its rows,
including rows the revision drops (zeroed under their old ids, never left standing)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, cast

import pytest

from poller.client import RawUsagePage
from poller.client.api import AdminClient
from poller.coverage import Segment
from poller.directory import DirectorySnapshot
from poller.documents import MappingContext
from poller.documents.model import Document, GroupRef
from poller.errors import StateError
from poller.sources import OrgAccess
from poller.sources.allocation import AllocationSource, memory_key
from poller.state import StreamState
from poller.streams import BucketWidth

DAY = 86400
D0 = 1_795_000_000 - 1_795_000_000 % DAY


class Prices:
    """$0.01 per input token, whatever the stream; a model called "free" is unpriced."""

    version = "test"

    def estimate_usd(self, stream: str, result: Mapping[str, Any], at: int) -> Decimal | None:
        if result.get("model") == "free":
            return None
        return Decimal(result.get("input_tokens") or 0) / 100


def page(results: list[dict[str, Any]], day: int = D0) -> RawUsagePage:
    bucket = {"object": "bucket", "start_time": day, "end_time": day + DAY, "results": results}
    return RawUsagePage.from_data({"object": "page", "data": [bucket], "has_more": False})


def cost(project: str, usd: str) -> dict[str, Any]:
    return {"object": "organization.costs.result", "project_id": project,
            "amount": {"value": usd, "currency": "usd"}}


def use(user: str, tokens: int, model: str = "gpt-4o", project: str = "p1") -> dict[str, Any]:
    return {"object": "organization.usage.completions.result", "input_tokens": tokens,
            "output_tokens": 0, "num_model_requests": 1, "project_id": project,
            "user_id": user, "api_key_id": "k1", "model": model}


@dataclass
class Client:
    costs: list[dict[str, Any]]
    completions: list[dict[str, Any]]
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def usage_pages(self, stream: str, **params: Any) -> Iterator[RawUsagePage]:
        self.calls.append((stream, params))
        day = params["start_time"]
        if stream == "costs":
            return iter([page(self.costs, day)])
        return iter([page(self.completions, day)] if stream == "completions" else [])


@dataclass
class Memory:
    saved: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    def load_state(self, key: str) -> Mapping[str, Any] | None:
        return self.saved.get(key)

    def save_state(self, key: str, state: Mapping[str, Any]) -> None:
        self.saved[key] = state


@dataclass
class Names:
    def snapshot(self) -> DirectorySnapshot:
        groups = {"ann": (GroupRef("g1", "Search"), GroupRef("g2", "Ads"))}
        return DirectorySnapshot(user_emails={"ann": "ann@x.example"}, groups_of_users=groups,
                                 taken_at=0.0)


def source(client: Client, memory: Memory) -> AllocationSource:
    context = MappingContext("org-1", organization_name="acme", price_table=Prices())
    access = OrgAccess("acme", cast(AdminClient, client), context, Names())
    return AllocationSource(access, lambda coverage: [], memory, keep_days=4 * DAY)


def run(client: Client, memory: Memory, store: dict[str, Document], day: int = D0
        ) -> StreamState:
    """One batch for `day`, written into `store` by id, as a sink would."""
    segment = Segment(day, day + DAY, BucketWidth.DAY, (), "org-1")
    alloc = replace(source(client, memory), plan=lambda coverage: [segment])
    state = StreamState()
    for batch in alloc.batches(state):
        store.update({doc.doc_id: doc for doc in batch.documents})
        state = batch.advance(state)
    return state


def cents(store: Mapping[str, Document]) -> dict[tuple[str | None, str | None], int]:
    out: dict[tuple[str | None, str | None], int] = {}
    for doc in store.values():
        key = (doc.source["openai"]["base"].get("user_id"),
               doc.source.get("user", {}).get("group", {}).get("id"))
        out[key] = doc.source["openai"]["allocated_costs"]["amount_cents"]
    return out


def test_the_bill_is_split_by_user_and_team_and_a_dropped_row_is_zeroed() -> None:
    client = Client([cost("p1", "1.00"), cost("p1", "0.01")],
                    [use("ann", 30), use("bob", 10), use("cy", 5, model="free")])
    memory, store = Memory(), dict[str, Document]()
    state = run(client, memory, store)
    # 101 cents over ann 0.30 (half each on Search and Ads), bob 0.10, cy unpriced
    assert cents(store) == {("ann", "g1"): 38, ("ann", "g2"): 38, ("bob", None): 25,
                            ("cy", None): 0}
    assert state.coverage.end == D0 + DAY
    assert [(s, p["group_by"]) for s, p in client.calls if s in ("costs", "completions")] == [
        ("costs", ("project_id",)),
        ("completions", ("project_id", "user_id", "api_key_id", "model", "batch",
                         "service_tier")),
    ]
    assert {p["bucket_width"] for _, p in client.calls} == {BucketWidth.DAY}
    ann = next(d for d in store.values() if d.source["openai"]["base"].get("user_id") == "ann")
    assert ann.source["openai"]["base"]["user_email"] == "ann@x.example"
    assert ann.source["user"]["group"]["name"] in ("Search", "Ads")

    # The bill is revised and bob's usage is gone from the day: bob's row stays, at 0.
    client.costs, client.completions = [cost("p1", "2.00")], [use("ann", 30)]
    run(client, memory, store)
    assert cents(store) == {("ann", "g1"): 100, ("ann", "g2"): 100, ("bob", None): 0,
                            ("cy", None): 0}
    bob = next(d for d in store.values() if d.source["openai"]["base"].get("user_id") == "bob")
    assert bob.source["openai"]["allocated_costs"]["superseded"] is True
    assert len(memory.saved[memory_key("acme")]["days"][str(D0)]) == 4

    # The whole bill is withdrawn: every row of the day reads 0.
    client.costs = []
    run(client, memory, store)
    assert set(cents(store).values()) == {0}
    assert [s for s, _ in client.calls[-1:]] == ["costs"]  # no usage read for a day billed 0


def test_a_project_without_priced_usage_keeps_its_bill_on_one_unattributed_row() -> None:
    client = Client([cost("p2", "0.125")], [use("ann", 3, model="free", project="p2")])
    store: dict[str, Document] = {}
    run(client, Memory(), store)
    rows = {d.source["openai"]["base"].get("user_id"): d.source["openai"]["allocated_costs"]
            for d in store.values()}
    assert rows == {None: {"amount_cents": 13, "amount_usd": 0.13, "weight_usd": 0.0,
                           "unattributed": True}}


def test_unreadable_row_memory_stops_the_stream_instead_of_forgetting_rows() -> None:
    memory = Memory({memory_key("acme"): {"version": 1, "days": {str(D0): [["p1", "ann"]]}}})
    client = Client([cost("p1", "1.00")], [use("ann", 30)])
    with pytest.raises(StateError, match="acme/allocated_costs/rows"):
        run(client, memory, {})


def test_only_days_a_later_run_may_re_read_are_remembered() -> None:
    memory = Memory()
    client = Client([cost("p1", "1.00")], [use("ann", 30)])
    run(client, memory, {})
    later = D0 + 10 * DAY
    client.costs = [cost("p1", "1.00")]
    run(client, memory, {}, day=later)  # D0 is 10 days before the newest day: forgotten
    assert list(memory.saved[memory_key("acme")]["days"]) == [str(later)]
