"""The one error hierarchy of openai-poller.

Every error the poller raises on purpose derives from `PollerError`, and each is either
*retryable* (the same call may succeed later: back off and try again) or *fatal* (retrying the
same call cannot help: report it and stop that job, or exit).

```
* PollerError
  x RetryableError                  retry with backoff; `retry_after` is the server's hint, if any
    - TransportError                connect error, timeout, reset, a body broken in transfer
    - RateLimitedError              HTTP 429
    - ServerError                   HTTP 408, 409, 5xx
    - MalformedResponseError        a 2xx whose body is not the JSON the spec promises
    - SinkUnavailableError          the sink could not be reached or answered 429/5xx
  x FatalError                      do not retry
    - ConfigError                   invalid settings or arguments: exit code 2
    - AuthenticationError           HTTP 401/403, quoting OpenAI's message
    - RequestRejectedError          any other HTTP 4xx (a bad parameter, an unknown id), or a
                                    status the API never sends (a redirect: a wrong base URL)
    - SinkRejectedError             the sink refused a document or a request for good
    - StopRequested                 SIGTERM/SIGINT came while waiting to retry: the job ends,
                                    its cursor where the last acknowledged write left it
```

Errors carry what they are about (`method`, `url`, `status`), never credentials: messages are
safe to log and to print.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "FatalError",
    "MalformedResponseError",
    "PollerError",
    "RateLimitedError",
    "RequestRejectedError",
    "RetryableError",
    "ServerError",
    "SinkRejectedError",
    "SinkUnavailableError",
    "StopRequested",
    "TransportError",
]


class PollerError(Exception):
    """Base of every error the poller raises on purpose."""

    retryable: bool = False


class RetryableError(PollerError):
    """The same call may succeed later."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FatalError(PollerError):
    """Retrying the same call cannot help."""


class _HTTPErrorMixin:
    """Context shared by errors about one HTTP exchange with OpenAI."""

    method: str
    url: str
    status: int | None

    def _set_context(self, method: str, url: str, status: int | None) -> None:
        self.method = method
        self.url = url
        self.status = status


class TransportError(RetryableError, _HTTPErrorMixin):
    def __init__(self, message: str, *, method: str, url: str) -> None:
        super().__init__(message)
        self._set_context(method, url, None)


class RateLimitedError(RetryableError, _HTTPErrorMixin):
    def __init__(
        self, message: str, *, method: str, url: str, retry_after: float | None
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self._set_context(method, url, 429)


class ServerError(RetryableError, _HTTPErrorMixin):
    def __init__(
        self, message: str, *, method: str, url: str, status: int, retry_after: float | None
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self._set_context(method, url, status)


class MalformedResponseError(RetryableError, _HTTPErrorMixin):
    def __init__(self, message: str, *, method: str, url: str, status: int) -> None:
        super().__init__(message)
        self._set_context(method, url, status)


class SinkUnavailableError(RetryableError):
    """The sink is down, overloaded or unreachable; nothing was acknowledged."""


class ConfigError(FatalError):
    """Invalid configuration or arguments. The CLI prints it as one line and exits 2."""


class AuthenticationError(FatalError, _HTTPErrorMixin):
    def __init__(self, message: str, *, method: str, url: str, status: int) -> None:
        super().__init__(message)
        self._set_context(method, url, status)


class RequestRejectedError(FatalError, _HTTPErrorMixin):
    def __init__(self, message: str, *, method: str, url: str, status: int) -> None:
        super().__init__(message)
        self._set_context(method, url, status)


class SinkRejectedError(FatalError):
    """The sink refused a request for good (bad credentials, missing privileges, a mapping)."""


class StopRequested(FatalError):
    """A stop was asked for during a retry wait (a Retry-After may be minutes long)."""
