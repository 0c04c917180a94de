"""Remote write to a real Prometheus when an answer is lost: the request was taken, the poller
never heard so, and the bucket was revised before it tried again.

Prometheus keeps the first value of an out-of-order sample and takes a second, different value
at the same timestamp without a word (HTTP 204); had the poller counted the revision from
scratch at the bucket's first timestamp, the revision would vanish. It sends the lost request
again as it was, then the difference: the bucket's sum is the revised value.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
from needs import tool
from prometheus_server import prometheus

from poller.destinations import RemoteWriteSettings
from poller.destinations.backends import (
    DestinationContext,
    DestinationMetrics,
    RemoteWriteDestination,
)
from poller.documents.model import Document
from poller.errors import SinkUnavailableError
from poller.sinks import SqliteSink

pytestmark = tool("prometheus")

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "golden" / "completions.json"


class LosingAnswers(httpx.HTTPTransport):
    """Forwards every request; the answers of the first `lose` never come back."""

    def __init__(self, lose: int) -> None:
        super().__init__()
        self.lose = lose

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if self.lose:
            self.lose -= 1
            response.close()
            raise httpx.ReadTimeout("the answer never came", request=request)
        return response


def _completions(start: int, input_tokens: int) -> Document:
    """The golden completions document, moved to the hour starting at `start`."""
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))["cases"][0]["expected"]
    source: dict[str, Any] = expected["source"]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(start))
    source["@timestamp"] = source["openai"]["base"]["start_time"] = stamp
    source["openai"]["base"]["end_time"] = time.strftime(
        "%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(start + 3600)
    )
    source["openai"]["completions"]["input_tokens"] = input_tokens
    return Document("completions", expected["data_stream"], expected["doc_id"], source)


def test_a_lost_answer_then_a_revision_leaves_the_revised_sum(tmp_path: Path) -> None:
    hour = int(time.time()) // 3600 * 3600 - 2 * 3600
    transport = LosingAnswers(lose=1)
    with (prometheus(tmp_path / "prometheus", "127.0.0.1:1") as prom,
          SqliteSink(str(tmp_path / "primary.sqlite3")) as sink):
        # A newer sample first, so the bucket's samples are out of order, as revisions are.
        newer = RemoteWriteDestination(
            RemoteWriteSettings(type="remote_write", url=prom.write_url, name="newer"),
            DestinationContext("other", sink, DestinationMetrics()),
        )
        newer.deliver([_completions(hour + 3600, 1)])
        settings = RemoteWriteSettings.model_validate(
            {"type": "remote_write", "url": prom.write_url, "retry": {"attempts": 1},
             "dimensions": ["org", "model"]}
        )
        rw = RemoteWriteDestination(
            settings, DestinationContext("acme", sink, DestinationMetrics(), transport=transport)
        )
        try:
            rw.deliver([_completions(hour, 1200)])
        except SinkUnavailableError:
            pass
        else:
            raise AssertionError("the lost answer must leave the batch unacknowledged")
        rw.deliver([_completions(hour, 1250)])  # the next cycle re-reads a revised bucket
        found = prom.scalar(
            'sum(sum_over_time(openai_usage_input_tokens{org="acme"}[1d]))', at=time.time()
        )
        samples = prom.query('openai_usage_input_tokens{org="acme"}[1d]')
        newer.close()
        rw.close()
    assert found == 1250.0
    (series,) = samples
    assert [(round(float(ts) * 1000) - hour * 1000, float(v)) for ts, v in series["values"]] == [
        (0, 1200.0), (1, 50.0),
    ]
