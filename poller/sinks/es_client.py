"""Connecting to Elasticsearch: building the client, and turning its errors into ours.

Retries are split between two layers, and only two:

* the *transport* retries a whole request on connection errors, timeouts and 429/502/503/504,
  `max_retries` times (default 2) with full-jitter backoff (`retry_backoff_base`/`_cap`);
* the sink's own loop retries *items* of a bulk response that came back 429 or 5xx (see
  `poller.sinks.retry.Backoff`); nothing else in the sink retries.

`request_timeout` bounds a whole request: urllib3's timeouts apply to each socket operation,
so an answer trickling in (a few bytes every second) would otherwise hold a write, and the
daemon's job, for as long as the server likes (`DeadlineHttpNode`).

Error messages name the cluster by a URL stripped of any user info, and every message is
scrubbed of the configured secrets, so they are safe to log and print.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

from elastic_transport import (
    ConnectionError as TransportConnectionError,
)
from elastic_transport import (
    ConnectionTimeout,
    HttpHeaders,
    NodeConfig,
    SerializationError,
    TlsError,
    Transport,
    TransportApiResponse,
    Urllib3HttpNode,
)
from elastic_transport import TransportError as ElasticTransportError
from elastic_transport._node import NodeApiResponse
from elastic_transport.client_utils import DEFAULT, DefaultType
from elasticsearch import (
    ApiError,
    AuthorizationException,
    Elasticsearch,
    UnsupportedProductError,
)

from poller.defaults import DEFAULT_DEADLETTER_INDEX, DEFAULT_STATE_INDEX
from poller.errors import ConfigError, PollerError, SinkRejectedError, SinkUnavailableError

__all__ = [
    "DEFAULT_DEADLETTER_INDEX",
    "DEFAULT_STATE_INDEX",
    "RETRY_ON_STATUS",
    "Compat8Transport",
    "DeadlineHttpNode",
    "ErrorTranslator",
    "IndexKeeper",
    "build_client",
    "describe_error",
    "now_utc",
    "redact_url",
    "url_secrets",
]


client_version = version("elasticsearch")

# The statuses on which the transport retries a whole request.
RETRY_ON_STATUS = (429, 502, 503, 504)

_COMPAT_RE = re.compile(r"compatible-with=\d+")


class Compat8Transport(Transport):
    """Sends REST API compatibility version 8 in Accept/Content-Type.

    The 9.x client announces `compatible-with=9`, which Elasticsearch 8.x refuses ("Accept
    version must be either version 8 or 7"); version 8 is what the 8.x client sends and what both
    8.x and 9.x servers accept, so with it one installed client serves either cluster.
    """

    def perform_request(self, method: str, target: str, **kwargs: Any) -> TransportApiResponse:
        headers = kwargs.get("headers")
        if isinstance(headers, Mapping):
            kwargs["headers"] = {
                name: _COMPAT_RE.sub("compatible-with=8", value)
                if name.lower() in ("accept", "content-type") and isinstance(value, str)
                else value
                for name, value in headers.items()
            }
        return super().perform_request(method, target, **kwargs)


_deadline = threading.local()  # `expired`: the deadline event of this thread's request


class _CutOffNoise(logging.Filter):
    """Drops what urllib3 logs about an answer `DeadlineHttpNode` cut off itself (a warning
    with a traceback when the cut fell inside a header line): the request fails with a
    timeout, which the caller reports."""

    def filter(self, record: logging.LogRecord) -> bool:
        expired: threading.Event | None = getattr(_deadline, "expired", None)
        return expired is None or not expired.is_set()


_URLLIB3_CONNECTION_LOG = logging.getLogger("urllib3.connection")
_URLLIB3_CONNECTION_LOG.addFilter(_CutOffNoise())


class DeadlineHttpNode(Urllib3HttpNode):
    """A urllib3 node whose `request_timeout` bounds the whole request, not each socket read.

    When the timeout passes before the answer is complete, the connection the request uses
    is shut down and the request fails with `ConnectionTimeout`, as a silent server's would
    (and the transport retries it the same way).
    """

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        self._in_use = threading.local()  # this thread's request: the connections it took
        take = self.pool._get_conn

        def take_and_note(timeout: float | None = None) -> Any:
            conn = take(timeout)
            taken: list[Any] | None = getattr(self._in_use, "conns", None)
            if taken is not None:
                taken.append(conn)
            return conn

        self.pool._get_conn = take_and_note  # type: ignore[method-assign]

    def perform_request(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: HttpHeaders | None = None,
        request_timeout: DefaultType | float | None = DEFAULT,
    ) -> NodeApiResponse:
        timeout = self.config.request_timeout if request_timeout is DEFAULT else request_timeout
        if not isinstance(timeout, int | float) or timeout <= 0:
            return super().perform_request(method, target, body, headers, request_timeout)
        taken: list[Any] = []
        expired = threading.Event()

        def cut_off() -> None:
            expired.set()
            for conn in list(taken):
                sock = getattr(conn, "sock", None)
                if isinstance(sock, socket.socket):
                    with suppress(OSError):
                        # the plain socket's shutdown: an SSLSocket's own would drop its SSL
                        # state under the thread reading from it
                        socket.socket.shutdown(sock, socket.SHUT_RDWR)

        timer = threading.Timer(float(timeout), cut_off)
        timer.daemon = True
        self._in_use.conns = taken
        _deadline.expired = expired
        timer.start()
        try:
            response = super().perform_request(method, target, body, headers, request_timeout)
        except TransportConnectionError as exc:
            if expired.is_set():
                raise ConnectionTimeout(
                    f"no complete answer within {timeout:g}s", errors=(exc,)
                ) from exc
            raise
        finally:
            timer.cancel()
            self._in_use.conns = None
            _deadline.expired = None
        if expired.is_set():
            # Cut off while reading the headers, http.client takes the end of the stream for
            # their end: what it returns may be a truncated answer that looks complete.
            raise ConnectionTimeout(f"no complete answer within {timeout:g}s")
        return response


def redact_url(url: str) -> str:
    """`url` without user info (`https://user:pw@host` → `https://host`)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<invalid url>"
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def url_secrets(url: str) -> list[str]:
    """Whatever credentials `url` carries in its user info, raw and percent-decoded."""
    try:
        password = urllib.parse.urlsplit(url).password
    except ValueError:
        return []
    return [password, urllib.parse.unquote(password)] if password else []


def build_client(
    hosts: Sequence[str],
    *,
    api_key: str | None,
    username: str | None,
    password: str | None,
    ca_certs: str | None,
    request_timeout: float,
    max_retries: int,
    retry_backoff_base: float,
    retry_backoff_cap: float,
) -> Elasticsearch:
    if api_key and (username or password):
        raise ConfigError("give either an Elasticsearch API key or a username and password")
    if (username is None) != (password is None):
        raise ConfigError("an Elasticsearch username needs a password, and a password a username")
    auth: dict[str, Any] = {"ca_certs": ca_certs} if ca_certs else {}
    if api_key:
        key_id, sep, secret = api_key.partition(":")
        auth["api_key"] = (key_id, secret) if sep else api_key
    elif username is not None and password is not None:
        auth["basic_auth"] = (username, password)
    use_compat8 = int(client_version.partition(".")[0]) == 9
    try:
        return Elasticsearch(
            list(hosts),
            request_timeout=request_timeout,
            max_retries=max_retries,
            retry_on_status=RETRY_ON_STATUS,
            retry_on_timeout=True,
            retry_backoff_base=retry_backoff_base,
            retry_backoff_cap=retry_backoff_cap,
            transport_class=Compat8Transport if use_compat8 else Transport,
            node_class=DeadlineHttpNode,
            **auth,
        )
    except ValueError as exc:
        raise ConfigError(f"invalid Elasticsearch settings: {exc}") from None


def describe_error(body: Any, fallback: str) -> str:
    """`type: reason` of an Elasticsearch error body (a bulk item's `error` or a response)."""
    error = body.get("error", body) if isinstance(body, Mapping) else body
    if isinstance(error, Mapping):
        kind = error.get("type") or "error"
        reason = error.get("reason")
        caused = error.get("caused_by")
        text = f"{kind}: {reason}" if reason else str(kind)
        if isinstance(caused, Mapping) and caused.get("reason"):
            text += f" (caused by {caused.get('type')}: {caused.get('reason')})"
        return text
    if isinstance(error, str) and error:
        return error
    return fallback


class ErrorTranslator:
    """Maps client exceptions to `SinkUnavailableError` (retryable) or `SinkRejectedError`."""

    def __init__(self, where: str, secrets: Sequence[str], timeout: float) -> None:
        self.where = where
        self._secrets = sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True)
        self._timeout = timeout

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    @contextmanager
    def __call__(self, action: str) -> Iterator[None]:
        try:
            yield
        except PollerError:
            raise
        except UnsupportedProductError as exc:
            raise SinkRejectedError(
                self.scrub(f"the server at {self.where} is not Elasticsearch ({action})")
            ) from exc
        except ApiError as exc:
            raise self.api_error(action, exc.meta.status, exc.body) from exc
        except ConnectionTimeout as exc:
            raise SinkUnavailableError(
                self.scrub(
                    f"Elasticsearch at {self.where} did not answer {action} "
                    f"within {self._timeout:g}s"
                )
            ) from exc
        except TlsError as exc:
            raise SinkRejectedError(
                self.scrub(
                    f"TLS with Elasticsearch at {self.where} failed during {action}: "
                    f"{exc.message}; check ELASTICSEARCH_CA_CERTS"
                )
            ) from exc
        except TransportConnectionError as exc:
            raise SinkUnavailableError(
                self.scrub(
                    f"Elasticsearch at {self.where} is unreachable ({action}): {exc.message}"
                )
            ) from exc
        except SerializationError as exc:
            raise SinkRejectedError(
                self.scrub(f"Elasticsearch {action} at {self.where}: {exc.message}")
            ) from exc
        except ElasticTransportError as exc:
            raise SinkUnavailableError(
                self.scrub(f"Elasticsearch {action} at {self.where} failed: {exc.message}")
            ) from exc

    def answer(self, body: Any, action: str) -> Mapping[str, Any]:
        """`body` when it is a JSON object; a truncated or empty answer is unavailability."""
        if isinstance(body, Mapping):
            return body
        raise SinkUnavailableError(
            self.scrub(f"Elasticsearch at {self.where} answered {action} without a JSON object")
        )

    def api_error(self, action: str, status: int, body: Any) -> PollerError:
        detail = describe_error(body, f"HTTP {status}")
        head = f"Elasticsearch at {self.where} refused {action}: HTTP {status}"
        if status == 401:
            return SinkRejectedError(
                self.scrub(
                    f"{head} (authentication failed: check ELASTICSEARCH_API_KEY or "
                    f"ELASTICSEARCH_USERNAME/ELASTICSEARCH_PASSWORD): {detail}"
                )
            )
        if status == 403:
            return SinkRejectedError(
                self.scrub(f"{head} (the credentials lack a privilege): {detail}")
            )
        if status in (408, 429) or status >= 500:
            return SinkUnavailableError(
                self.scrub(
                    f"Elasticsearch at {self.where} could not serve {action}: "
                    f"HTTP {status} {detail}"
                )
            )
        if "media_type_header_exception" in detail:
            detail += f" (the installed elasticsearch client {client_version} does not fit it)"
        return SinkRejectedError(self.scrub(f"{head}: {detail}"))


def now_utc() -> str:
    """The current time as Elasticsearch dates read it: `2026-11-15T10:00:00.123Z`."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class IndexKeeper:
    """Creates the poller's own plain indices (state, dead letters) with their mappings, once
    per keeper, before their first write."""

    def __init__(self, client: Elasticsearch, errors: ErrorTranslator) -> None:
        self._client = client
        self._errors = errors
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
