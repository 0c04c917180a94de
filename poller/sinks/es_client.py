"""Connecting to Elasticsearch: building the client, and turning its errors into ours.

Retries are split between two layers, and only two:

* the *transport* retries a whole request on connection errors, timeouts and 429/502/503/504,
  `max_retries` times (default 2) with full-jitter backoff (`retry_backoff_base`/`_cap`);
* the sink's own loop retries *items* of a bulk response that came back 429 or 5xx (see
  `poller.sinks.retry.Backoff`); nothing else in the sink retries.

Error messages name the cluster by a URL stripped of any user info, and every message is
scrubbed of the configured secrets, so they are safe to log and print.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

from elastic_transport import (
    ConnectionError as TransportConnectionError,
)
from elastic_transport import (
    ConnectionTimeout,
    SerializationError,
    TlsError,
    Transport,
    TransportApiResponse,
)
from elastic_transport import TransportError as ElasticTransportError
from elasticsearch import (
    ApiError,
    AuthorizationException,
    Elasticsearch,
    UnsupportedProductError,
)

from poller.errors import ConfigError, PollerError, SinkRejectedError, SinkUnavailableError

__all__ = [
    "DEFAULT_DEADLETTER_INDEX",
    "DEFAULT_STATE_INDEX",
    "RETRY_ON_STATUS",
    "Compat8Transport",
    "ErrorTranslator",
    "IndexKeeper",
    "build_client",
    "describe_error",
    "now_utc",
    "redact_url",
    "url_secrets",
]

DEFAULT_STATE_INDEX = "openai-poller-state"
DEFAULT_DEADLETTER_INDEX = "openai-poller-deadletter"

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
