"""Logging: ECS JSON for machines, one readable line per record for people, secrets never.

Under systemd, Kubernetes or any pipe, records are ECS JSON (`ecs_logging.StdlibFormatter`), so
Filebeat or Elastic Agent can ship them without parsing. On a terminal they are plain lines.

Nothing should log a secret in the first place; redaction is defence in depth. A `SecretFilter`
rewrites each record's message and arguments, and the formatter's whole output (exceptions,
`extra=` fields) passes through the same `poller.redaction.Redactor` before it is written.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable
from typing import Final, Literal, TextIO

import ecs_logging

from poller import __version__
from poller.redaction import Redactor

__all__ = ["LogFormat", "SecretFilter", "configure_logging"]

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
    handler, so the CLI can log before the settings (and their secrets) are known.
    """
    stream = stream if stream is not None else sys.stderr
    use_json = format == "json" or (format == "auto" and not _is_tty(stream))
    redactor = Redactor(secrets)
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
