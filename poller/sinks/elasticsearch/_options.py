"""The Elasticsearch sink's options, as values: where and how to connect, which indices hold
its own state and dead letters, and how it cuts a write into bulk requests.

Each checks its own values and raises ValueError, so a caller that builds them from settings
decides how a bad value reads (the CLI: one line, exit code 2).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field

from poller.defaults import DEFAULT_DEADLETTER_INDEX, DEFAULT_STATE_INDEX
from poller.sinks.elasticsearch._errors import redact_url, url_secrets
from poller.sinks.elasticsearch._retry import Backoff, ItemRetry

__all__ = ["EsConnection", "EsCredentials", "EsIndices", "EsWriteOptions", "worst_case_seconds"]


@dataclass(frozen=True)
class EsCredentials:
    """An API key (`id:secret` or the encoded form), or a username and password, or nothing."""

    api_key: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.api_key and (self.username or self.password):
            raise ValueError("give either an Elasticsearch API key or a username and password")
        if (self.username is None) != (self.password is None):
            raise ValueError(
                "an Elasticsearch username needs a password, and a password a username"
            )

    @property
    def secrets(self) -> list[str]:
        """What no message may show: the key, its secret half, the password."""
        found = [s for s in (self.api_key, self.password) if s]
        if self.api_key and ":" in self.api_key:
            found.append(self.api_key.partition(":")[2])
        return found


@dataclass(frozen=True)
class EsConnection:
    """How to reach the cluster. `timeout` bounds a whole request (even an answer that
    trickles in); `retry` is the transport's retry of a whole request."""

    hosts: str | tuple[str, ...]
    credentials: EsCredentials = field(default_factory=EsCredentials)
    ca_certs: str | None = None
    timeout: float = 30.0
    retry: Backoff = field(default_factory=lambda: Backoff(retries=2, base=0.5, cap=4.0))

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("no Elasticsearch URL configured (ELASTICSEARCH_URL)")
        if self.timeout <= 0:
            raise ValueError("the Elasticsearch request timeout must be positive")

    @property
    def urls(self) -> tuple[str, ...]:
        return (self.hosts,) if isinstance(self.hosts, str) else self.hosts

    @property
    def where(self) -> str:
        """The cluster as messages name it: its URLs without user info."""
        return ", ".join(redact_url(u) for u in self.urls)

    @property
    def secrets(self) -> list[str]:
        return self.credentials.secrets + [s for u in self.urls for s in url_secrets(u)]

    @property
    def worst_case_request_seconds(self) -> float:
        """The longest one request takes, with every transport retry timing out."""
        return (1 + self.retry.retries) * self.timeout + self.retry.worst_case_seconds


@dataclass(frozen=True)
class EsIndices:
    """The sink's own plain indices. Deployments sharing one cluster set their own."""

    state: str = DEFAULT_STATE_INDEX
    deadletter: str = DEFAULT_DEADLETTER_INDEX


# Elasticsearch refuses a request body beyond `http.max_content_length`, 100mb by default.
MAX_CONTENT_LENGTH = 100 * 1024 * 1024


@dataclass(frozen=True)
class EsWriteOptions:
    """How a write is cut into bulk requests (at most `chunk_docs` documents and `chunk_bytes`
    bytes of body each, well under the cluster's `http.max_content_length`; a single larger
    document goes alone), and which fields an ingest pipeline sets, so they do not count as a
    revision."""

    chunk_docs: int = 500
    chunk_bytes: int = 5 * 1024 * 1024
    ignore_fields: Collection[str] = ("event.ingested",)

    def __post_init__(self) -> None:
        if self.chunk_docs < 1 or self.chunk_bytes < 1:
            raise ValueError("Elasticsearch chunk sizes must be positive")
        if self.chunk_bytes > MAX_CONTENT_LENGTH:
            raise ValueError(
                f"an Elasticsearch bulk request of {self.chunk_bytes} bytes exceeds the "
                f"default http.max_content_length ({MAX_CONTENT_LENGTH} bytes)"
            )


def worst_case_seconds(
    connection: EsConnection, write: EsWriteOptions, retry: ItemRetry, documents: int
) -> float:
    """The longest a `write()` of that many documents can take (the bound derived in
    `poller.sinks.elasticsearch._writer`)."""
    request = connection.worst_case_request_seconds
    chunks = max(1, math.ceil(documents / write.chunk_docs))
    rounds = 1 + retry.backoff.retries + retry.conflicts
    bound = (chunks + rounds * (chunks + 1)) * request + retry.backoff.worst_case_seconds
    if retry.max_seconds is not None:
        bound = min(bound, retry.max_seconds + (chunks + 1) * request)
    return bound
