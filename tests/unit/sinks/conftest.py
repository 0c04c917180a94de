"""Fixtures for the sink unit tests: the fake Elasticsearch of `es_fakes` and a sink on it."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from es_fakes import FakeElasticsearch

from poller.sinks.elasticsearch import ElasticsearchSink


@pytest.fixture
def fake_es() -> Iterator[FakeElasticsearch]:
    fake = FakeElasticsearch()
    yield fake
    for client in fake.clients:
        client.close()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_sink(
    fake_es: FakeElasticsearch, sleeps: list[float]
) -> Iterator[Callable[..., ElasticsearchSink]]:
    """Builds an `ElasticsearchSink` on the fake, recording its backoff sleeps in `sleeps`."""
    sinks: list[ElasticsearchSink] = []

    def make(client_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> ElasticsearchSink:
        kwargs.setdefault("sleep", sleeps.append)
        kwargs.setdefault("rng", random.Random(20261115))
        sink = ElasticsearchSink(client=fake_es.client(**(client_kwargs or {})), **kwargs)
        sinks.append(sink)
        return sink

    yield make
    for sink in sinks:
        sink.close()
