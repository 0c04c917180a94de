"""Logging: ECS JSON for machines, one readable line per record for people, secrets never;
and the daemon's failed cycles as one short line each, not repeated every cycle (`FailureLog`).

Under systemd, Kubernetes or any pipe, records are ECS JSON (`ecs_logging.StdlibFormatter`), so
Filebeat or Elastic Agent can ship them without parsing. On a terminal they are plain lines.

Nothing should log a secret in the first place; redaction is defence in depth. A `SecretFilter`
rewrites each record's message and arguments, and the formatter's whole output (exceptions,
`extra=` fields) passes through the same `poller.redaction.Redactor` before it is written.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Final, Literal, TextIO

import ecs_logging

from poller import __version__
from poller.errors import (
    AuthenticationError,
    MalformedResponseError,
    MappingError,
    PollerError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
    SinkRejectedError,
    SinkUnavailableError,
    StateError,
    TransportError,
)
from poller.redaction import Redactor, install

__all__ = ["FailureLog", "LogFormat", "SecretFilter", "configure_logging", "failure_line"]

_log = logging.getLogger("poller.daemon")  # failure lines are the daemon's

LogFormat = Literal["auto", "json", "text"]
TEXT_FORMAT: Final = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# Libraries that log every HTTP request at INFO: quiet unless we are debugging.
CHATTY_LOGGERS: Final = ("httpx", "httpcore", "elastic_transport", "urllib3")


class SecretFilter(logging.Filter):
    """Redacts the formatted message of every record, then drops the arguments it used."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a format string that does not fit its arguments
            message = f"{record.msg} {record.args}"
        record.msg = self._redact(message)
        record.args = None
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        return True


class _RedactingFormatter(logging.Formatter):
    """Redacts everything another formatter produced: tracebacks, exception messages, extras."""

    def __init__(self, inner: logging.Formatter, redactor: Redactor) -> None:
        super().__init__()
        self._inner = inner
        self._redact = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(self._inner.format(record))


def _text_formatter() -> logging.Formatter:
    formatter = logging.Formatter(TEXT_FORMAT, datefmt="%Y-%m-%dT%H:%M:%SZ")
    formatter.converter = time.gmtime
    return formatter


def _is_tty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class _PollerHandler(logging.StreamHandler[TextIO]):
    """Our root handler, told apart so that configuring again replaces it."""


def configure_logging(
    format: LogFormat = "auto",
    level: str | int = "INFO",
    secrets: Iterable[str] = (),
    *,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send every log record to `stream` (stderr) as ECS JSON or text, with `secrets` redacted.

    "auto" means JSON unless `stream` is a terminal. Calling again replaces the previous
    handler, so the CLI can log before the settings (and their secrets) are known. The
    redactor becomes the process's (`poller.redaction.redact`), for text that is not logged.
    """
    stream = stream if stream is not None else sys.stderr
    use_json = format == "json" or (format == "auto" and not _is_tty(stream))
    redactor = Redactor(secrets)
    install(redactor)
    inner: logging.Formatter = (
        ecs_logging.StdlibFormatter(
            extra={"service.name": "openai-poller", "service.version": __version__}
        )
        if use_json
        else _text_formatter()
    )
    handler = _PollerHandler(stream)
    handler.setFormatter(_RedactingFormatter(inner, redactor))
    handler.addFilter(SecretFilter(redactor))

    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _PollerHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    chatty = root.level if root.level <= logging.DEBUG else max(root.level, logging.WARNING)
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(chatty)
    return handler


# What to do about a failed cycle, by the most specific error class that matches: the line
# leads with it, the error's type follows, and `openai-poller status` keeps the full message.
_ADVICE: Final[tuple[tuple[type[BaseException], str], ...]] = (
    (AuthenticationError, "check the org's admin key: OpenAI refused it"),
    (TransportError, "check the network path to OpenAI: it could not be reached"),
    (RateLimitedError, "poll fewer streams or less often: OpenAI is rate-limiting"),
    (ServerError, "nothing to do unless it persists: OpenAI answered with an error"),
    (MalformedResponseError, "nothing to do unless it persists: OpenAI's answer was malformed"),
    (RequestRejectedError, "see `openai-poller status`: OpenAI refused the request"),
    (MappingError, "report it: an API object could not be mapped"),
    (StateError, "repair the stream's saved state: run `openai-poller state rebuild`"),
    (SinkUnavailableError, "check that the sink is up and reachable; each cycle retries"),
    (SinkRejectedError, "check the sink's credentials, privileges and mappings: it refused"),
    (PollerError, "see `openai-poller status` for the stream's last error"),
)
# The same failure of a stream is logged once, then summarised once per this many seconds.
REPEAT_SECONDS: Final = 600.0


def failure_line(org: str, stream: str, error: BaseException) -> str:
    """One short line for a failed cycle: what to do first, then what failed."""
    advice = next(
        (text for kind, text in _ADVICE if isinstance(error, kind)),
        "report a bug: an unexpected error",
    )
    status = getattr(error, "status", None)
    detail = type(error).__name__ + (f", HTTP {status}" if isinstance(status, int) else "")
    return f"cycle {org}/{stream} failed: {advice} ({detail})"


class FailureLog:
    """Logs each stream's failed cycles as one line, without repeating itself.

    The first failure logs its line. The same line again is counted, and once `every` seconds
    have passed since the line was last logged, one line says how often it recurred. A
    different failure logs at once; the first success after failures says so.
    """

    def __init__(
        self, every: float = REPEAT_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._every = every
        self._clock = clock
        self._lock = threading.Lock()
        # (org, stream) -> (line, when it was last logged, repeats since, failures in a row)
        self._last: dict[tuple[str, str], tuple[str, float, int, int]] = {}

    def failed(self, org: str, stream: str, error: BaseException) -> None:
        line, now = failure_line(org, stream, error), self._clock()
        with self._lock:
            previous = self._last.get((org, stream))
            if previous is None or previous[0] != line:
                failures = 1 if previous is None else previous[3] + 1
                self._last[org, stream] = (line, now, 0, failures)
                _log.error("%s", line)
                return
            _, logged, repeats, failures = previous
            repeats, failures = repeats + 1, failures + 1
            if now - logged < self._every:
                self._last[org, stream] = (line, logged, repeats, failures)
                return
            self._last[org, stream] = (line, now, 0, failures)
        _log.error("%s; %d more times in %.0f min", line, repeats, (now - logged) / 60)

    def succeeded(self, org: str, stream: str) -> None:
        with self._lock:
            previous = self._last.pop((org, stream), None)
        if previous is not None:
            _log.info("cycle %s/%s succeeded after %d failed cycles", org, stream, previous[3])
