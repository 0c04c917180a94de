"""The one error hierarchy of openai-poller, split by what a caller decides: how far a failure
reaches.

An *org* error fails every stream of an organization alike (its key is refused, OpenAI or the
sink cannot be reached), so a caller stops that org's work and reports it once, instead of
trying its other streams one after the other. A *stream* error fails one stream (a bad page, a
throttled endpoint, a poison object), so the caller records it on that stream and goes on with
the others. `retryable` says whether the same call may succeed later; the client's retry policy
reads it, callers read `scope`.

```
* PollerError                       .scope, .retryable
  - OrgError                        scope "org": fails every stream of the org
    - AuthenticationError           HTTP 401/403, quoting OpenAI's message
    - TransportError      retryable OpenAI unreachable: connect error, timeout, reset, a body
                                    broken in transfer
    - SinkUnavailableError retryable the sink could not be reached or answered 429/5xx
    - SinkRejectedError             the sink refused a request for good (credentials,
                                    privileges, a mapping that refuses every document)
      - MappingConflictError        scope "stream": most of a batch refused for one mapping
                                    reason; its data stream's mapping is wrong, not the data
  - StreamError                     scope "stream": fails one stream, the others go on
    - RateLimitedError    retryable HTTP 429; `retry_after` is the server's hint
    - ServerError         retryable HTTP 408, 409, 5xx
    - MalformedResponseError retryable a 2xx whose body is not the JSON the spec promises
    - RequestRejectedError          any other HTTP 4xx, or a status the API never sends
    - MappingError                  an API object no document can be built from
    - StateError                    a stream's saved state is unreadable or impossible
  - ConfigError                     invalid settings or arguments: exit code 2. Raised only by
                                    `poller.settings` and the CLI; library constructors raise
                                    ValueError or TypeError
* StopRequested (BaseException)     SIGTERM/SIGINT came while waiting: not a failure
```

`StopRequested` is outside `PollerError` (as asyncio took `CancelledError` out of `Exception`):
a graceful stop passes every `except PollerError` and `except Exception`, so it is never
recorded as a stream's `last_error` or counted as a failure.

Errors carry what they are about (`method`, `url`, `status`), never credentials: messages are
safe to log and to print.
"""

from __future__ import annotations

from typing import ClassVar, Literal

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "MalformedResponseError",
    "MappingConflictError",
    "MappingError",
    "OrgError",
    "PollerError",
    "RateLimitedError",
    "RequestRejectedError",
    "Scope",
    "ServerError",
    "SinkRejectedError",
    "SinkUnavailableError",
    "StateError",
    "StopRequested",
    "StreamError",
    "TransportError",
]

Scope = Literal["org", "stream", "process"]


class PollerError(Exception):
    """Base of every error the poller raises on purpose."""

    scope: ClassVar[Scope] = "process"
    retryable: ClassVar[bool] = False
    retry_after: float | None = None


class OrgError(PollerError):
    """Fails every stream of the org alike: stop the org's work, report it once."""

    scope: ClassVar[Scope] = "org"


class StreamError(PollerError):
    """Fails one stream: record it there and go on with the others."""

    scope: ClassVar[Scope] = "stream"


class ConfigError(PollerError):
    """Invalid configuration or arguments. The CLI prints it as one line and exits 2."""


class _HTTPError(PollerError):
    """An error about one HTTP exchange with OpenAI."""

    def __init__(
        self,
        message: str,
        *,
        method: str,
        url: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        self.status = status
        self.retry_after = retry_after


class AuthenticationError(_HTTPError, OrgError):
    """HTTP 401/403: the admin key is wrong, revoked, or not an admin key."""


class TransportError(_HTTPError, OrgError):
    retryable: ClassVar[bool] = True


class RateLimitedError(_HTTPError, StreamError):
    retryable: ClassVar[bool] = True

    def __init__(
        self, message: str, *, method: str, url: str, retry_after: float | None
    ) -> None:
        super().__init__(message, method=method, url=url, status=429, retry_after=retry_after)


class ServerError(_HTTPError, StreamError):
    retryable: ClassVar[bool] = True


class MalformedResponseError(_HTTPError, StreamError):
    retryable: ClassVar[bool] = True


class RequestRejectedError(_HTTPError, StreamError):
    """Any other HTTP 4xx (a bad parameter, an unknown id), or a status the API never sends."""


class SinkUnavailableError(OrgError):
    """The sink is down, overloaded or unreachable; nothing was acknowledged."""

    retryable: ClassVar[bool] = True


class SinkRejectedError(OrgError):
    """The sink refused a request for good (bad credentials, missing privileges, a mapping)."""


class MappingConflictError(SinkRejectedError):
    """Most of a batch for one data stream was refused for the same mapping reason on the same
    field: the data stream's mapping is at fault, not the documents, so none is dead-lettered
    and the cursor holds until the mapping is fixed (`doctor` names the field and the fix).

    A sink refusal, but of one data stream only: its scope is the stream's, so the org's other
    streams go on (health still reads it as the sink refusing this stream's writes)."""

    scope: ClassVar[Scope] = "stream"

    def __init__(self, message: str, *, data_stream: str, field: str | None) -> None:
        super().__init__(message)
        self.data_stream = data_stream
        self.field = field


class MappingError(StreamError):
    """An API object lacks what the spec guarantees (an id, a time), so no document can be
    built from it; mapping it again gives the same error."""


class StateError(StreamError):
    """A stream's saved state cannot be read, or says something impossible (a cursor past the
    API's now, an unknown schema version)."""


class StopRequested(BaseException):
    """A stop was asked for during a wait (a Retry-After may be minutes long)."""
