"""An open connection to the cluster: the client built from `EsConnection`, how its errors
read, and the sink's own plain indices created before their first write.

The client speaks REST compatibility version 8 whatever its own major version, and has every
answer's shape checked before it is read (`CheckedTransport`); its node bounds each whole
request by the timeout (`DeadlineHttpNode`); tests put a fake node in its place, below the
real client and transport.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from elastic_transport import BaseNode
from elasticsearch import ApiError, AuthorizationException, Elasticsearch

from poller.sinks.elasticsearch._errors import ErrorTranslator
from poller.sinks.elasticsearch._options import EsConnection
from poller.sinks.elasticsearch._transport import CheckedTransport, DeadlineHttpNode

__all__ = ["RETRY_ON_STATUS", "Cluster", "IndexKeeper", "now_utc"]

# The statuses on which the transport retries a whole request.
RETRY_ON_STATUS = (429, 502, 503, 504)


@dataclass(frozen=True)
class Cluster:
    """A client on one cluster and the translator of its errors: what the sink, its reader and
    the diagnostics share."""

    client: Elasticsearch
    errors: ErrorTranslator

    @classmethod
    def connect(
        cls, connection: EsConnection, node_class: type[BaseNode] = DeadlineHttpNode
    ) -> Cluster:
        """A new client for `connection` (no request is sent yet). Raises ValueError, without
        the connection's secrets, for settings the client refuses (a URL it cannot parse)."""
        auth: dict[str, Any] = {"ca_certs": connection.ca_certs} if connection.ca_certs else {}
        credentials = connection.credentials
        if credentials.api_key:
            key_id, sep, secret = credentials.api_key.partition(":")
            auth["api_key"] = (key_id, secret) if sep else credentials.api_key
        elif credentials.username is not None and credentials.password is not None:
            auth["basic_auth"] = (credentials.username, credentials.password)
        secrets = list(connection.secrets)
        if credentials.username is not None and credentials.password is not None:
            secrets.append(f"{credentials.username}:{credentials.password}")  # its Basic header
        errors = ErrorTranslator(connection.where, secrets, connection.timeout)
        try:
            client = Elasticsearch(
                list(connection.urls),
                request_timeout=connection.timeout,
                max_retries=connection.retry.retries,
                retry_on_status=RETRY_ON_STATUS,
                retry_on_timeout=True,
                retry_backoff_base=connection.retry.base,
                retry_backoff_cap=connection.retry.cap,
                transport_class=CheckedTransport,
                node_class=node_class,
                **auth,
            )
        except ValueError as exc:  # the client quotes a URL it cannot parse, user info and all
            raise ValueError(errors.scrub(str(exc))) from None
        return cls(client, errors)

    def close(self) -> None:
        self.client.close()


def now_utc() -> str:
    """The current time as Elasticsearch dates read it: `2026-11-15T10:00:00.123Z`."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class IndexKeeper:
    """Creates the poller's own plain indices (state, dead letters) with their mappings, once
    per keeper, before their first write."""

    def __init__(self, cluster: Cluster) -> None:
        self._client = cluster.client
        self._errors = cluster.errors
        self._ensured: set[str] = set()

    def ensure(self, index: str, mappings: Mapping[str, Any]) -> None:
        if index in self._ensured:
            return
        with self._errors(f"creating index {index}"):
            try:
                exists = bool(self._client.indices.exists(index=index))
            except AuthorizationException:
                exists = True  # cannot look: let the write itself tell
            if not exists:
                try:
                    self._client.indices.create(
                        index=index,
                        mappings=mappings,
                        settings={"number_of_shards": 1, "auto_expand_replicas": "0-1"},
                    )
                except ApiError as exc:
                    if "resource_already_exists_exception" not in str(exc.body):
                        raise
        self._ensured.add(index)
