"""`Exchange`: one attempt at one HTTP request to OpenAI, with everything that bounds it.

- the org's pacer (`_pacing`) decides when the request may leave;
- the body is read as a stream, so neither its size (`ResponseLimits.max_response_bytes`, counted
  decoded, so a compressed bomb counts at its real size) nor its duration (`Timeouts.deadline`,
  against an answer dripping in byte by byte) can grow without bound;
- a client whose first request cannot connect fails fast when its policy says so: a wrong
  `OPENAI_BASE_URL` is one line at once, not minutes of retries stream after stream.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from poller.client._pacing import OrgPacer
from poller.client._usage_page import RawUsagePage
from poller.client.models import ItemPage
from poller.client.observer import ClientObserver
from poller.client.options import ResponseLimits, Timeouts
from poller.client.responses import error_from_response, malformed_error, transport_error
from poller.client.retry import AttemptFailed, RetryPolicy
from poller.errors import MalformedResponseError, TransportError
from poller.redaction import Redactor

__all__ = ["Exchange"]

# What an answer is parsed as: a model, or a usage page whose results are parsed as taken.
ModelT = TypeVar("ModelT", bound=BaseModel | RawUsagePage)

# What the body was sent as; the bytes kept are decoded, so these no longer describe them.
_ENCODING_HEADERS: Final = frozenset({"content-encoding", "content-length", "transfer-encoding"})
_CONNECT_FAILURES: Final = (httpx.ConnectError, httpx.ConnectTimeout)


class Exchange:
    """Sends requests over one `httpx.Client` for one organization; thread-safe."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        policy: RetryPolicy,
        timeouts: Timeouts,
        limits: ResponseLimits,
        observer: ClientObserver | None,
        redact: Redactor,
    ) -> None:
        self._http = http
        self._policy = policy
        self._deadline = timeouts.deadline
        self._limits = limits
        self._observer = observer
        self._redact = redact
        self._pacer = OrgPacer(policy.clock, policy.sleep)
        self._answered = False  # any response at all: the base URL reaches an HTTP server

    @property
    def pacer(self) -> OrgPacer:
        return self._pacer

    def attempts(
        self, endpoint: str, request: httpx.Request, model: type[ModelT], subject: str
    ) -> Callable[[], ModelT]:
        """One request's attempts: each call sends `request` once and parses its answer as
        `model`; `subject` (a stream name or the endpoint) names what was asked for in an error
        about the answer's size.

        A 429 to an attempt the pacer held to the server's pace, while other requests of the
        org were served since this one's previous attempt, is the request waiting its turn: it
        does not use up one of `max_attempts`. A 429 with no progress anywhere does.
        """
        progress = [self._pacer.progress]

        def attempt() -> ModelT:
            seen, progress[0] = progress[0], self._pacer.progress
            try:
                return self._attempt(endpoint, request, model, subject)
            except AttemptFailed as failed:
                if failed.reason == "429" and failed.paced and self._pacer.progress > seen:
                    failed.counted = False
                raise

        return attempt

    def _attempt(
        self, endpoint: str, request: httpx.Request, model: type[ModelT], subject: str
    ) -> ModelT:
        with self._pacer.turn() as paced:
            started = self._policy.clock()
            response = self._send(request)
            delay = self._policy.server_delay(response.headers)
            if delay is not None:
                self._pacer.throttled(min(delay, self._policy.max_retry_after))
            else:
                self._pacer.served()
        if self._observer is not None:
            self._observer.on_response(endpoint, response.status_code)
        try:
            response = self._read(response, started, subject)
        finally:
            response.close()
        if response.is_success:
            try:
                return _parse(model, response.content)
            except ValidationError as exc:
                malformed = malformed_error(response, exc, redact=self._redact)
                raise AttemptFailed(malformed, reason="malformed") from exc
        failure = error_from_response(response, retry_after=delay, redact=self._redact)
        raised = self._policy.failure(endpoint, response, failure, delay)
        if isinstance(raised, AttemptFailed):
            raised.paced = paced
        raise raised

    def _send(self, request: httpx.Request) -> httpx.Response:
        """The response with its status and headers; its body is still to be read."""
        try:
            response = self._http.send(request, stream=True)
        except _CONNECT_FAILURES as exc:
            if self._policy.fail_fast_first_connect and not self._answered:
                raise self._unreachable(request, exc) from exc
            error = transport_error(request, exc, redact=self._redact)
            raise AttemptFailed(error, reason=type(exc).__name__) from exc
        except (httpx.TransportError, httpx.DecodingError) as exc:
            error = transport_error(request, exc, redact=self._redact)
            raise AttemptFailed(error, reason=type(exc).__name__) from exc
        self._answered = True
        return response

    def _read(self, response: httpx.Response, started: float, subject: str) -> httpx.Response:
        """`response` with its whole body read, within the byte cap and the deadline."""
        request = response.request
        cap = self._limits.max_response_bytes
        chunks: list[bytes] = []
        size = 0
        try:
            declared = int(response.headers.get("content-length", "0"))
        except ValueError:
            declared = 0
        try:
            if declared > cap and not response.headers.get("content-encoding"):
                raise self._too_big(response, subject)
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > cap:
                    raise self._too_big(response, subject)
                if self._policy.clock() - started > self._deadline:
                    raise httpx.ReadTimeout(
                        f"the answer took over {self._deadline:g} s in all", request=request
                    )
                chunks.append(chunk)
        except (httpx.TransportError, httpx.DecodingError) as exc:
            error = transport_error(request, exc, redact=self._redact)
            raise AttemptFailed(error, reason=type(exc).__name__) from exc
        headers = [(k, v) for k, v in response.headers.items() if k not in _ENCODING_HEADERS]
        return httpx.Response(
            response.status_code, headers=headers, content=b"".join(chunks), request=request
        )

    def _too_big(self, response: httpx.Response, subject: str) -> MalformedResponseError:
        request = response.request
        cap = self._limits.max_response_bytes
        text = (
            f"{request.method} {request.url}: the answer for {subject} is over "
            f"max_response_bytes ({cap} bytes); raise max_response_bytes, or narrow the query"
        )
        return MalformedResponseError(
            self._redact(text),
            method=request.method,
            url=str(request.url),
            status=response.status_code,
        )

    def _unreachable(self, request: httpx.Request, exc: httpx.TransportError) -> TransportError:
        detail = str(exc) or type(exc).__name__
        text = (
            f"cannot reach OpenAI at {self._http.base_url} ({type(exc).__name__}: {detail}); "
            f"check OPENAI_BASE_URL"
        )
        return TransportError(self._redact(text), method=request.method, url=str(request.url))


def _parse(model: type[ModelT], content: bytes) -> ModelT:
    """A page the poller collects is parsed item by item if it fails whole (`ItemPage`), a
    usage page only as the caller takes its buckets (`RawUsagePage`); any other response is
    all or nothing."""
    if issubclass(model, (ItemPage, RawUsagePage)):
        page: ModelT = model.parse_json(content)
        return page
    return model.model_validate_json(content)
