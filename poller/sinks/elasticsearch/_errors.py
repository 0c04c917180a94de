"""Turning the Elasticsearch client's errors into ours, safe to log and print.

Messages name the cluster by a URL stripped of any user info, and every message, and every
error a bulk item or a refusal carries (`describe_error`, which dead letters keep), goes through
the process's redactor: a proxy or cluster echoing the `Authorization` header it was sent would
otherwise put `Basic <base64(user:password)>` or `ApiKey <base64(id:key)>` into a printed line,
a log or a stored document. Whether an error is retryable follows the status: 408, 429, 5xx, a
timeout or an unreachable cluster is `SinkUnavailableError`; credentials, privileges, TLS and
any other refusal is `SinkRejectedError`.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib.metadata import version
from typing import Any

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout, SerializationError, TlsError
from elastic_transport import TransportError as ElasticTransportError
from elasticsearch import ApiError, UnsupportedProductError

from poller.errors import PollerError, SinkRejectedError, SinkUnavailableError
from poller.redaction import Redactor, redact, remember
from poller.sinks.elasticsearch._shapes import NotAnObjectError, WrongShapeError

__all__ = ["CLIENT_VERSION", "ErrorTranslator", "describe_error", "redact_url", "url_secrets"]

CLIENT_VERSION = version("elasticsearch")


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


def describe_error(body: Any, fallback: str) -> str:
    """`type: reason` of an Elasticsearch error body (a bulk item's `error` or a response),
    redacted."""
    error = body.get("error", body) if isinstance(body, Mapping) else body
    if isinstance(error, Mapping):
        kind = error.get("type") or "error"
        reason = error.get("reason")
        caused = error.get("caused_by")
        text = f"{kind}: {reason}" if reason else str(kind)
        if isinstance(caused, Mapping) and caused.get("reason"):
            text += f" (caused by {caused.get('type')}: {caused.get('reason')})"
        return redact(text)
    if isinstance(error, str) and error:
        return redact(error)
    return redact(fallback)


class ErrorTranslator:
    """Maps client exceptions to `SinkUnavailableError` (retryable) or `SinkRejectedError`.

    `secrets` are the connection's credentials; they join the process's redactor too, so text
    that leaves without passing through here (a dead letter's reason, a log line) is scrubbed
    of them as well."""

    def __init__(self, where: str, secrets: Sequence[str], timeout: float) -> None:
        self.where = where
        self._redactor = Redactor(secrets)
        remember(secrets)
        self._timeout = timeout

    def scrub(self, text: str) -> str:
        return redact(self._redactor(text))

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
        except WrongShapeError as exc:
            shape = (
                f"without a JSON object ({exc.message})"
                if isinstance(exc, NotAnObjectError)
                else f"with JSON of the wrong shape ({exc.message})"
            )
            raise SinkUnavailableError(
                self.scrub(
                    f"Elasticsearch at {self.where} answered {action} {shape} -- fix: point "
                    "ELASTICSEARCH_URL at Elasticsearch itself"
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
            detail += f" (the installed elasticsearch client {CLIENT_VERSION} does not fit it)"
        return SinkRejectedError(self.scrub(f"{head}: {detail}"))
