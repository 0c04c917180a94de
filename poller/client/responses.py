"""Turning a failed HTTP exchange with OpenAI into one error of `poller.errors`.

Messages quote OpenAI's own `error.message` (and `param`), because it says what is wrong far
better than a status code: "Missing scopes: api.usage.read" tells a user they passed a project
key. Every message goes through `Redactor` first, so the admin key never reaches a log line, a
traceback or a status page, even if a server or proxy echoes it back.
"""

from __future__ import annotations

import json
from typing import Any, Final

import httpx
from pydantic import ValidationError

from poller.client.models import describe_errors
from poller.errors import (
    AuthenticationError,
    MalformedResponseError,
    PollerError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
    TransportError,
)
from poller.redaction import Redactor

__all__ = ["error_from_response", "malformed_error", "transport_error"]

_EXCERPT_CHARS: Final = 300
_ADMIN_KEY_HINT: Final = (
    "these endpoints need an organization admin key (sk-admin-...); project and user keys "
    "cannot call them, and only organization owners can create admin keys"
)


def error_from_response(
    response: httpx.Response, *, retry_after: float | None, redact: Redactor
) -> PollerError:
    """The error for a non-2xx `response`; `retry_after` is the server's delay, if any."""
    request = response.request
    method, url, status = request.method, str(request.url), response.status_code
    message, param = _openai_error(response)
    where = f"{method} {url}"
    if status in (401, 403):
        text = f"{where}: OpenAI refused the key (HTTP {status}): {message}; {_ADMIN_KEY_HINT}"
        return AuthenticationError(redact(text), method=method, url=url, status=status)
    wait = f"; retry after {retry_after:g} s" if retry_after is not None else ""
    if status == 429:
        text = f"{where}: rate limited (HTTP 429): {message}{wait}"
        return RateLimitedError(redact(text), method=method, url=url, retry_after=retry_after)
    if status in (408, 409) or status >= 500:
        text = f"{where}: server error (HTTP {status}): {message}{wait}"
        return ServerError(
            redact(text), method=method, url=url, status=status, retry_after=retry_after
        )
    if 400 <= status < 500:
        detail = f" (param: {param})" if param else ""
        text = f"{where}: request rejected (HTTP {status}): {message}{detail}"
    else:  # a redirect or an informational status: not OpenAI's API answering
        location = response.headers.get("location")
        detail = f" to {location}; check the base URL" if location else ""
        text = f"{where}: unexpected HTTP {status}{detail}"
    return RequestRejectedError(redact(text), method=method, url=url, status=status)


def malformed_error(
    response: httpx.Response, exc: ValidationError, *, redact: Redactor
) -> MalformedResponseError:
    """The error for a 2xx whose body is not JSON, or not the JSON the spec promises."""
    request = response.request
    why = describe_errors(exc)
    text = f"{request.method} {request.url}: HTTP {response.status_code} but {why}"
    return MalformedResponseError(
        redact(text), method=request.method, url=str(request.url), status=response.status_code
    )


def transport_error(
    request: httpx.Request, exc: httpx.TransportError | httpx.DecodingError, *, redact: Redactor
) -> TransportError:
    """The error for a request that got no usable response: connect error, timeout, reset, or
    a body that broke in transfer (bad content encoding)."""
    detail = str(exc) or "no detail"
    text = f"{request.method} {request.url}: {type(exc).__name__}: {detail}"
    return TransportError(redact(text), method=request.method, url=str(request.url))


def _openai_error(response: httpx.Response) -> tuple[str, str | None]:
    """OpenAI's quoted `error.message` and `error.param`, or an excerpt of a foreign body."""
    try:
        body: Any = json.loads(response.content)
    except (ValueError, RecursionError):  # a foreign body, or JSON nested too deep
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        param = error.get("param")
        return json.dumps(error["message"], ensure_ascii=False), (
            str(param) if param is not None else None
        )
    excerpt = response.text[:_EXCERPT_CHARS].strip()
    return (json.dumps(excerpt, ensure_ascii=False) if excerpt else "(empty body)"), None
