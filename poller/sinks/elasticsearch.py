"""The Elasticsearch sink: documents into data streams exactly once in effect, state beside them.

`write()` is `poller.sinks.es_write.DataStreamWriter` (the algorithm, its item classification and
its worst-case time are described there). Cursor state lives in the plain index
`openai-poller-state` (one document per key, written with `refresh=wait_for`); documents refused
for good live in `openai-poller-deadletter`. `info`, `ping` and `check_privileges` serve
`doctor`; `reader()` serves `report` and `status`.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from elastic_transport import TransportError as ElasticTransportError
from elasticsearch import ApiError, AuthorizationException, Elasticsearch, NotFoundError

from poller.documents.model import Document, Rejected
from poller.errors import ConfigError
from poller.sinks.base import DeadLetter, WriteReport
from poller.sinks.es_client import (
    DEFAULT_DEADLETTER_INDEX,
    DEFAULT_STATE_INDEX,
    ErrorTranslator,
    IndexKeeper,
    build_client,
    describe_error,
    now_utc,
    redact_url,
    url_secrets,
)
from poller.sinks.es_write import DataStreamWriter
from poller.sinks.reader import ElasticsearchReader
from poller.sinks.retry import Backoff

__all__ = [
    "DATA_STREAM_PRIVILEGES",
    "DEFAULT_DEADLETTER_INDEX",
    "DEFAULT_STATE_INDEX",
    "OWN_INDEX_PRIVILEGES",
    "STATE_MAPPINGS",
    "ClusterInfo",
    "ElasticsearchSink",
    "PrivilegeCheck",
]

STATE_MAPPINGS: Mapping[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "state": {"type": "object", "enabled": False},
        "updated_at": {"type": "date"},
    },
}
# What `write`, the state and the dead letters need; `doctor` checks these.
DATA_STREAM_PRIVILEGES = ("auto_configure", "create_doc", "index", "read", "view_index_metadata")
OWN_INDEX_PRIVILEGES = ("create_index", "index", "read", "view_index_metadata")


@dataclass(frozen=True)
class ClusterInfo:
    name: str
    version: str
    flavor: str | None = None

    @property
    def major(self) -> int:
        head = self.version.partition(".")[0]
        return int(head) if head.isdigit() else 0

    @property
    def supported(self) -> bool:
        return self.major in (8, 9)


@dataclass(frozen=True)
class PrivilegeCheck:
    """`checked` is False when the cluster could not tell (security disabled, or an API it
    lacks); `missing` lists `cluster:<priv>` and `<index pattern>:<priv>` not granted."""

    checked: bool
    missing: tuple[str, ...] = ()
    note: str = ""

    @property
    def ok(self) -> bool:
        return not self.missing


class ElasticsearchSink:
    """Writes `Document`s into Elasticsearch data streams and keeps cursor state beside them.

    Connect with `hosts` (URL or URLs) plus either `api_key` or `username`/`password`, or pass
    an existing `client` (which the sink then does not close). One sink may serve several job
    threads: the client is thread-safe, each `write()` keeps its state on its own stack, and
    writes of the same ids from two places resolve through the 409 paths.
    """

    def __init__(
        self,
        hosts: str | Sequence[str] | None = None,
        *,
        api_key: str | None = None,
        username: str | None = None,
        password: str | None = None,
        ca_certs: str | None = None,
        request_timeout: float = 30.0,
        transport_retries: int = 2,
        transport_backoff_base: float = 0.5,
        transport_backoff_cap: float = 4.0,
        item_retries: int = 5,
        item_backoff_base: float = 1.0,
        item_backoff_cap: float = 30.0,
        conflict_retries: int = 3,
        max_write_seconds: float | None = None,
        chunk_docs: int = 500,
        chunk_bytes: int = 5 * 1024 * 1024,
        state_index: str = DEFAULT_STATE_INDEX,
        deadletter_index: str = DEFAULT_DEADLETTER_INDEX,
        ignore_fields: Collection[str] = ("event.ingested",),
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        client: Elasticsearch | None = None,
    ) -> None:
        if chunk_docs < 1 or chunk_bytes < 1 or min(conflict_retries, transport_retries) < 0:
            raise ConfigError("Elasticsearch chunk sizes and retry counts must be positive")
        secrets = [s for s in (api_key, password) if s]
        if api_key and ":" in api_key:
            secrets.append(api_key.partition(":")[2])
        if client is not None:
            if hosts is not None:
                raise ConfigError("give either Elasticsearch hosts or a client, not both")
            self._client, self._owns_client = client, False
            urls = [node.base_url for node in client.transport.node_pool.all()]
        else:
            if not hosts:
                raise ConfigError("no Elasticsearch URL configured (ELASTICSEARCH_URL)")
            urls = [hosts] if isinstance(hosts, str) else list(hosts)
            for url in urls:
                secrets += url_secrets(url)
            self._client = build_client(
                urls,
                api_key=api_key,
                username=username,
                password=password,
                ca_certs=ca_certs,
                request_timeout=request_timeout,
                max_retries=transport_retries,
                retry_backoff_base=transport_backoff_base,
                retry_backoff_cap=transport_backoff_cap,
            )
            self._owns_client = True
        where = ", ".join(redact_url(u) for u in urls) or "the configured cluster"
        self._errors = ErrorTranslator(where, secrets, request_timeout)
        try:
            self._backoff = Backoff(
                retries=item_retries,
                base=item_backoff_base,
                cap=item_backoff_cap,
                sleep=sleep,
                rng=rng or random.Random(),
            )
        except ValueError as exc:
            self.close()
            raise ConfigError(f"invalid Elasticsearch item retry settings: {exc}") from None
        self._request_timeout = request_timeout
        self._transport = (transport_retries, transport_backoff_base, transport_backoff_cap)
        self._conflict_retries = conflict_retries
        self._max_write_seconds = max_write_seconds
        self._chunk_docs = chunk_docs
        self._state_index = state_index
        self._deadletter_index = deadletter_index
        self._indices = IndexKeeper(self._client, self._errors)
        self._writer = DataStreamWriter(
            self._client,
            self._errors,
            self._backoff,
            self._indices,
            conflict_retries=conflict_retries,
            max_write_seconds=max_write_seconds,
            clock=clock,
            chunk_docs=chunk_docs,
            chunk_bytes=chunk_bytes,
            deadletter_index=deadletter_index,
            ignore_fields=ignore_fields,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------------------ contract

    def write(self, documents: Sequence[Document]) -> WriteReport:
        """Store every document or raise (see `poller.sinks.es_write`).

        A batch holding one id twice stores its last version; an earlier copy counts as
        `unchanged` when it equals the last one, else as `updated`.
        """
        return self._writer.write(documents)

    def load_state(self, key: str) -> Mapping[str, Any] | None:
        with self._errors(f"reading state {key!r}"):
            try:
                resp = self._client.get(index=self._state_index, id=key, source_includes="state")
            except NotFoundError:
                return None
        state = self._errors.answer(resp.body, f"reading state {key!r}").get("_source", {})
        state = state.get("state") if isinstance(state, Mapping) else None
        return dict(state) if isinstance(state, Mapping) else None

    def save_state(self, key: str, state: Mapping[str, Any]) -> None:
        self._indices.ensure(self._state_index, STATE_MAPPINGS)
        with self._errors(f"saving state {key!r}"):
            self._client.index(
                index=self._state_index,
                id=key,
                document={"state": dict(state), "updated_at": now_utc()},
                refresh="wait_for",
            )

    def reject(self, items: Sequence[Rejected]) -> tuple[DeadLetter, ...]:
        return self._writer.reject(items)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    # ------------------------------------------------------------------------- read & doctor

    def reader(self) -> ElasticsearchReader:
        return ElasticsearchReader(
            self._client, errors=self._errors, deadletter_index=self._deadletter_index
        )

    def info(self) -> ClusterInfo:
        with self._errors("reading cluster info"):
            answer = self._client.info().body
        body = self._errors.answer(answer, "reading cluster info")
        version = body.get("version", {})
        return ClusterInfo(
            name=str(body.get("cluster_name", "")),
            version=str(version.get("number", "")),
            flavor=version.get("build_flavor"),
        )

    @property
    def client(self) -> Elasticsearch:
        """The underlying client, for `setup` to install templates with the same connection."""
        return self._client

    def ping(self) -> bool:
        """Whether the cluster answers and accepts the credentials (a 403 for lack of the
        `monitor` privilege still proves both)."""
        try:
            self._client.info()
        except AuthorizationException:
            return True
        except (ApiError, ElasticTransportError):
            return False
        return True

    def check_privileges(self, data_stream_pattern: str = "logs-openai.*-*") -> PrivilegeCheck:
        """Whether the credentials hold what `write`, the state and the dead letters need."""
        wanted: dict[str, tuple[str, ...]] = {
            data_stream_pattern: DATA_STREAM_PRIVILEGES,
            self._state_index: OWN_INDEX_PRIVILEGES,
            self._deadletter_index: OWN_INDEX_PRIVILEGES,
        }
        with self._errors("checking privileges"):
            try:
                body = self._client.security.has_privileges(
                    cluster=["monitor"],
                    index=[{"names": [n], "privileges": list(p)} for n, p in wanted.items()],
                ).body
            except ApiError as exc:
                if exc.meta.status in (401, 403):
                    raise
                reason = describe_error(exc.body, f"HTTP {exc.meta.status}")
                return PrivilegeCheck(False, note=f"privileges not checked: {reason}")
        missing = [f"cluster:{p}" for p, ok in body.get("cluster", {}).items() if not ok]
        for name, privs in body.get("index", {}).items():
            missing += [f"{name}:{p}" for p, ok in privs.items() if not ok]
        return PrivilegeCheck(True, tuple(sorted(missing)))

    def worst_case_seconds(self, documents: int) -> float:
        """The longest a `write()` of that many documents can take (module docstring)."""
        retries, base, cap = self._transport
        request = (1 + retries) * self._request_timeout + sum(
            min(cap, base * 2.0**n) for n in range(retries)
        )
        chunks = max(1, math.ceil(documents / self._chunk_docs))
        rounds = 1 + self._backoff.retries + self._conflict_retries
        bound = (chunks + rounds * (chunks + 1)) * request + self._backoff.worst_case_seconds
        if self._max_write_seconds is not None:
            bound = min(bound, self._max_write_seconds + (chunks + 1) * request)
        return bound
