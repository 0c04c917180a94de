"""One HTTP request to a receiver, retried while the receiver is busy, and what its answer means.

Transport errors, 429 and 5xx are retried with doubling waits (a `Retry-After` is honoured up
to the cap); once the attempts are spent the batch was not acknowledged
(`SinkUnavailableError`: the cursor stays, the next cycle delivers again). A refusal of the
request itself (credentials, a wrong URL, a body too large for the receiver) will not pass
until the configuration changes (`SinkRejectedError`). Any other answer goes back to the
caller, which knows what its protocol's 2xx and 4xx bodies say.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Protocol

import httpx
from pydantic import SecretStr
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from poller import __version__
from poller.destinations._settings import DeliveryRetry
from poller.destinations.backends._context import DestinationContext
from poller.errors import SinkRejectedError, SinkUnavailableError

__all__ = [
    "Courier",
    "TlsFiles",
    "authorization",
    "busy_status",
    "courier",
    "http_client",
    "read_secret",
]

USER_AGENT = f"openai-poller/{__version__}"


@dataclass(frozen=True)
class TlsFiles:
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None


class HttpSettings(Protocol):
    """What every pushing destination's settings say about its HTTP connection."""

    @property
    def headers(self) -> Mapping[str, SecretStr]: ...

    @property
    def ca_file(self) -> Path | None: ...

    @property
    def client_cert(self) -> Path | None: ...

    @property
    def client_key(self) -> Path | None: ...

    @property
    def timeout(self) -> timedelta: ...

    @property
    def retry(self) -> DeliveryRetry: ...


def read_secret(value: SecretStr | None, path: Path | None) -> str | None:
    """The secret given inline, or the first line of its file (a systemd credential or a
    mounted secret); raises ValueError when the file cannot be read."""
    if value is not None:
        return value.get_secret_value()
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None


def authorization(
    token: str | None, username: str | None = None, password: SecretStr | None = None
) -> dict[str, str]:
    """The `Authorization` header of a bearer token or of basic authentication, if any."""
    if token is not None:
        return {"Authorization": f"Bearer {token}"}
    if username is not None and password is not None:
        pair = f"{username}:{password.get_secret_value()}".encode()
        return {"Authorization": f"Basic {base64.b64encode(pair).decode('ascii')}"}
    return {}


def http_client(
    tls: TlsFiles,
    headers: Mapping[str, str],
    timeout: float,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    verify: ssl.SSLContext | bool = True
    if tls.ca_file is not None or tls.client_cert is not None:
        verify = ssl.create_default_context(cafile=tls.ca_file)
        if tls.client_cert is not None:
            verify.load_cert_chain(tls.client_cert, tls.client_key)
    return httpx.Client(
        headers={"User-Agent": USER_AGENT, **headers},
        timeout=timeout,
        verify=verify,
        transport=transport,
    )


class _Busy(Exception):
    """The receiver is busy or unreachable: try again. Never leaves the courier."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(float(response.headers.get("Retry-After", "")), 0.0)
    except ValueError:
        return None


def busy_status(response: httpx.Response) -> bool:
    return response.status_code == 429 or response.status_code >= 500


class Courier:
    """Posts to one receiver, named `what` in every message (never with its credentials)."""

    def __init__(
        self,
        client: httpx.Client,
        what: str,
        retry: DeliveryRetry,
        sleep: Callable[[float], None],
    ) -> None:
        self.client = client
        self.what = what
        self._retry = retry
        self._sleep = sleep

    def _wait(self, state: RetryCallState) -> float:
        cap = self._retry.max_backoff.total_seconds()
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, _Busy) and exc.retry_after is not None:
            return min(exc.retry_after, cap)
        doubled: float = self._retry.backoff.total_seconds() * 2.0 ** (state.attempt_number - 1)
        return min(doubled, cap)

    def post(
        self,
        url: str,
        content: bytes,
        headers: Mapping[str, str],
        busy: Callable[[httpx.Response], bool] = busy_status,
    ) -> httpx.Response:
        """The receiver's answer to `content`, once it is not busy."""
        retrying = Retrying(
            stop=stop_after_attempt(self._retry.attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Busy),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            response = retrying(self._once, url, content, headers, busy)
        except _Busy as exc:
            raise SinkUnavailableError(
                f"{self.what} did not acknowledge after {self._retry.attempts} tries: {exc}"
            ) from None
        if response.status_code in (401, 403):
            raise SinkRejectedError(
                f"{self.what} refused the credentials (HTTP {response.status_code})"
            )
        if response.status_code in (404, 405):
            raise SinkRejectedError(
                f"{self.what} has no such endpoint (HTTP {response.status_code}): check its url"
            )
        if response.status_code == 413:
            raise SinkRejectedError(f"{self.what} found the request too large: lower batch_size")
        return response

    def _once(
        self,
        url: str,
        content: bytes,
        headers: Mapping[str, str],
        busy: Callable[[httpx.Response], bool],
    ) -> httpx.Response:
        try:
            response = self.client.post(url, content=content, headers=dict(headers))
        except httpx.HTTPError as exc:
            raise _Busy(f"{type(exc).__name__}: {exc}") from None
        if busy(response):
            raise _Busy(f"HTTP {response.status_code}", _retry_after(response))
        return response

    def answers(self, url: str, method: str = "GET", content: bytes = b"") -> bool:
        """Whether `url` answers 2xx now (a readiness probe): no retries, never raises."""
        try:
            return self.client.request(method, url, content=content).is_success
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self.client.close()


def courier(
    settings: HttpSettings, what: str, context: DestinationContext, headers: Mapping[str, str]
) -> Courier:
    """A courier for `settings`: the protocol's `headers`, then the configured ones."""
    client = http_client(
        TlsFiles(settings.ca_file, settings.client_cert, settings.client_key),
        {**headers, **{k: v.get_secret_value() for k, v in settings.headers.items()}},
        settings.timeout.total_seconds(),
        context.transport,
    )
    return Courier(client, what, settings.retry, context.sleep)
