"""Fixtures for the sink unit tests: the recorded fake Elasticsearch and a sink on it."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fakes.elasticsearch import ES_URL, RecordedElasticsearch

from poller.sinks.elasticsearch import Backoff, ElasticsearchSink, EsConnection, ItemRetry

# The transport sends each request once: what a test queues is exactly what the sink meets.
NO_TRANSPORT_RETRY = Backoff(retries=0, base=0.0, cap=0.0)


@pytest.fixture
def fake_es() -> Iterator[RecordedElasticsearch]:
    fake = RecordedElasticsearch()
    yield fake
    fake.close()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_sink(
    fake_es: RecordedElasticsearch, sleeps: list[float]
) -> Iterator[Callable[..., ElasticsearchSink]]:
    """Builds an `ElasticsearchSink` on the fake, recording its item backoff sleeps in `sleeps`.
    `connection` and `retry` take the options' fields."""
    sinks: list[ElasticsearchSink] = []

    def make(
        connection: dict[str, Any] | None = None,
        retry: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> ElasticsearchSink:
        retry = {"sleep": sleeps.append, "rng": random.Random(20261115), **(retry or {})}
        connection = {"retry": NO_TRANSPORT_RETRY, **(connection or {})}
        sink = ElasticsearchSink(
            EsConnection(ES_URL, **connection),
            retry=ItemRetry(**retry),
            node_class=fake_es.node_class,
            **kwargs,
        )
        sinks.append(sink)
        return sink

    yield make
    for sink in sinks:
        sink.close()
