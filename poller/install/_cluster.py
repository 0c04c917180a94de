"""Errors of a client the caller built, reported as the sink reports them: one line naming the
cluster by its URL without user info."""

from __future__ import annotations

from typing import Final

from elasticsearch import Elasticsearch

from poller.sinks.elasticsearch import ErrorTranslator, redact_url

REQUEST_TIMEOUT: Final = 30.0  # seconds, as messages state it (the caller's client enforces it)


def errors_for(es: Elasticsearch, timeout: float = REQUEST_TIMEOUT) -> ErrorTranslator:
    urls = [node.base_url for node in es.transport.node_pool.all()]
    where = ", ".join(redact_url(u) for u in urls) or "the configured cluster"
    return ErrorTranslator(where, [], timeout)
