"""Throttling: an org's requests leave a server's pause one at a time, at the server's pace, and
a request throttled while others of the org are served keeps its attempts."""

from __future__ import annotations

import threading

import httpx
import pytest
from client_fakes import FakeTime, MakeClient, fail, fixture, ok

from poller.client._pacing import _POLL, RETRY_AFTER_MARGIN, OrgPacer
from poller.errors import RateLimitedError

M = RETRY_AFTER_MARGIN
PROJECT = fixture("project")


class FrozenTime:
    """A clock that stands still while threads sleep: each sleep is recorded with its end,
    except the pacer's short polls for the one request in flight."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.ends: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if seconds > _POLL:
            with self._lock:
                self.ends.append(self.now + seconds)


def test_waiting_threads_leave_a_pause_one_interval_apart() -> None:
    """Five jobs blocked by one 429 (Retry-After 2 s) leave at its end and then 2 s apart: never
    all at once, never before the Retry-After."""
    time = FrozenTime(100.0)
    pacer = OrgPacer(time.clock, time.sleep)
    pacer.throttled(2.0)
    start = threading.Barrier(5)
    paced: list[bool] = []

    def job() -> None:
        start.wait()
        with pacer.turn() as turn:
            paced.append(turn)

    threads = [threading.Thread(target=job) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    until = 102.0 + M
    assert sorted(time.ends) == pytest.approx([until + 2.0 * i for i in range(5)])
    assert paced == [True] * 5


def test_a_new_pause_voids_the_slots_handed_out_before_it() -> None:
    now = FakeTime(now=0.0)
    pacer = OrgPacer(now.clock, now.sleep)
    pacer.throttled(1.0)
    with pacer.turn() as paced:  # slot at 1 + M
        assert paced is True
        pacer.throttled(4.0)  # the request in that slot was throttled again: a longer pace
    with pacer.turn() as paced:
        assert paced is True
    assert now.sleeps == pytest.approx([1.0 + M, 4.0 + M])
    assert pacer.interval == 5.0  # 1 s, and 4 s more


def test_the_pace_speeds_up_as_requests_are_served_and_then_ends() -> None:
    now = FakeTime(now=0.0)
    pacer = OrgPacer(now.clock, now.sleep)
    pacer.throttled(0.01)
    served = 0
    while pacer.pacing:
        pacer.served()
        served += 1
    assert served == 7  # 0.01 * 0.9**7 < 0.005 <= 0.01 * 0.9**6
    assert pacer.progress == 7
    now.now = 1.0  # past the pause
    with pacer.turn() as paced:
        assert paced is False
    assert now.sleeps == []


def test_an_unpaced_client_sends_at_once() -> None:
    now = FakeTime(now=0.0)
    pacer = OrgPacer(now.clock, now.sleep)
    for _ in range(3):
        with pacer.turn() as paced:
            assert paced is False
    assert now.sleeps == []


def test_one_request_at_a_time_waits_for_its_answer() -> None:
    """A second job's request waits (polling through the injected sleep) while the first is
    on its way, so no request is sent while another's 429 is being answered."""
    now = FakeTime(now=0.0)
    pacer = OrgPacer(now.clock, now.sleep)
    polls: list[float] = []
    first = pacer.turn()
    first.__enter__()

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 1:  # the first request is answered 429 while the second queues
            pacer.throttled(1.0)
            first.__exit__(None, None, None)
        now.sleep(seconds)

    pacer._sleep = sleep
    with pacer.turn() as paced:
        assert paced is True  # it went in a slot after the pause, not straight after the 429
    assert polls == pytest.approx([_POLL, 1.0 + M - _POLL])


def test_a_request_throttled_while_others_are_served_keeps_its_attempts(
    make_client: MakeClient, fake_time: FakeTime
) -> None:
    """Another job is served during each of our waits: our 429s are the server's pace, and
    six of them do not exhaust `max_attempts=2`."""
    throttled = fail(429, "slow down", headers={"retry-after-ms": "500"})
    ours = iter([throttled] * 6 + [ok(PROJECT)])

    def handler(request: httpx.Request) -> httpx.Response:
        return next(ours) if request.url.path.endswith("/mine") else ok(PROJECT)

    busy = threading.Lock()

    def sleep(seconds: float) -> None:
        fake_time.sleep(seconds)
        if busy.acquire(blocking=False):  # the other job's own waits do not nest
            try:
                client.get_project("theirs")
            finally:
                busy.release()

    client = make_client(handler, max_attempts=2, sleep=sleep)
    assert client.get_project("mine").id == PROJECT["id"]


def test_without_progress_a_paced_429_still_counts(
    make_client: MakeClient, fake_time: FakeTime
) -> None:
    throttled = fail(429, "slow down", headers={"retry-after-ms": "500"})
    client = make_client(lambda request: throttled, max_attempts=3)
    with pytest.raises(RateLimitedError):
        client.get_project("mine")
    assert fake_time.sleeps == pytest.approx([0.5 + M, 0.5 + M])
