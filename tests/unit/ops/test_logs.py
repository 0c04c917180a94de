"""Logging: ECS JSON off a terminal, text on one, and no secret in either."""

from __future__ import annotations

import base64
import io
import json
import logging

import pytest

from poller.logs import LogFormat, SecretFilter, configure_logging
from poller.redaction import (
    MIN_SECRET_LENGTH,
    REDACTED,
    Redactor,
    install,
    redact,
    secret_forms,
)

SECRET = "sk-admin-log-test-secret-0001"
PASSWORD = 'pa"ss\\word-42'  # escaped differently inside JSON

log = logging.getLogger("poller.test")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _emit_everywhere() -> None:
    """The same secrets through every way a record can carry text."""
    log.info("key is %s", SECRET)
    in_the_message = f"password %r in the message itself: {PASSWORD}"
    log.warning(in_the_message, "arg")
    log.info("in an extra field", extra={"request": {"headers": f"Bearer {SECRET}"}})
    try:
        raise RuntimeError(f"upstream said: invalid key {SECRET}")
    except RuntimeError:
        log.exception("request failed")


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_secrets_never_reach_the_output(fmt: LogFormat) -> None:
    stream = io.StringIO()
    configure_logging(fmt, "INFO", [SECRET, PASSWORD], stream=stream)
    _emit_everywhere()
    output = stream.getvalue()
    assert SECRET not in output
    assert PASSWORD not in output
    assert json.dumps(PASSWORD)[1:-1] not in output
    assert REDACTED in output
    assert "request failed" in output
    assert "RuntimeError" in output


def test_json_lines_are_ecs() -> None:
    stream = io.StringIO()
    configure_logging("json", "INFO", stream=stream)
    log.info("cycle finished for %s", "acme", extra={"labels": {"org": "acme"}})
    (line,) = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["message"] == "cycle finished for acme"
    assert record["log.level"] == "info"
    assert record["log"]["logger"] == "poller.test"
    assert "ecs.version" in record
    assert record["@timestamp"].endswith("Z")
    assert record["service"]["name"] == "openai-poller"
    assert record["labels"] == {"org": "acme"}


def test_exceptions_become_ecs_error_fields() -> None:
    stream = io.StringIO()
    configure_logging("json", "INFO", [SECRET], stream=stream)
    try:
        raise ValueError(f"bad {SECRET}")
    except ValueError:
        log.exception("failed")
    record = json.loads(stream.getvalue())
    assert record["error"]["type"] == "ValueError"
    assert record["error"]["message"] == f"bad {REDACTED}"
    assert "test_logs.py" in record["error"]["stack_trace"]
    assert SECRET not in stream.getvalue()


def test_auto_is_json_off_a_terminal_and_text_on_one() -> None:
    piped, terminal = io.StringIO(), _Terminal()
    configure_logging("auto", "INFO", stream=piped)
    log.info("hello")
    configure_logging("auto", "INFO", stream=terminal)
    log.info("hello")
    assert json.loads(piped.getvalue())["message"] == "hello"
    line = terminal.getvalue().strip()
    assert line.endswith("INFO    poller.test: hello")
    assert line[:20].endswith("Z")  # UTC timestamp first


def test_configuring_again_replaces_the_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("text", "INFO", stream=first)
    configure_logging("text", "INFO", stream=second)
    log.info("once")
    assert first.getvalue() == ""
    assert second.getvalue().count("once") == 1


def test_level_applies_and_chatty_libraries_are_quieted() -> None:
    stream = io.StringIO()
    configure_logging("text", "WARNING", stream=stream)
    log.info("hidden")
    log.warning("shown")
    assert "hidden" not in stream.getvalue()
    assert "shown" in stream.getvalue()
    configure_logging("text", "INFO", stream=stream)
    assert logging.getLogger("httpx").level == logging.WARNING
    configure_logging("text", "DEBUG", stream=stream)
    assert logging.getLogger("httpx").level == logging.DEBUG


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def-123456", f"Authorization: Bearer {REDACTED}"),
        ("{'authorization': 'Basic dXNlcjpwYXNz'}", f"{{'authorization': 'Basic {REDACTED}'}}"),
        ('"Authorization":"ApiKey Zm9vOmJhcg=="', f'"Authorization":"ApiKey {REDACTED}"'),
        ("header bearer abcdefghijkl", f"header bearer {REDACTED}"),
        ("key sk-admin-AbCdEf0123456789xyz leaked", f"key {REDACTED} leaked"),
        ("key sk-proj-AbCdEf0123456789 leaked", f"key {REDACTED} leaked"),
        (f"any sk-{'x' * 40} key", f"any {REDACTED} key"),
        ("masked sk-abc...def, sk-proj-****abcd", "masked sk-abc...def, sk-proj-****abcd"),
        ("nothing to see here", "nothing to see here"),
    ],
)
def test_credential_shapes_are_redacted_without_being_known(text: str, expected: str) -> None:
    assert Redactor()(text) == expected


def test_short_values_are_not_treated_as_secrets() -> None:
    assert Redactor(["abc"])("abc is a word") == "abc is a word"


def test_secret_filter_rewrites_message_and_args() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "key=%s", (SECRET,), None)
    assert SecretFilter(Redactor([SECRET])).filter(record)
    assert record.getMessage() == f"key={REDACTED}"
    assert record.args is None


def test_secret_filter_survives_a_bad_format_string() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s %s", (SECRET,), None)
    SecretFilter(Redactor([SECRET])).filter(record)
    assert SECRET not in record.getMessage()


ES_PASSWORD = "hunter2-es-password"
API_KEY_PAIR = "VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw"  # an Elasticsearch "id:key"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("secrets", "text"),
    [
        ([ES_PASSWORD], f"password {ES_PASSWORD} echoed"),
        ([ES_PASSWORD], f"base64 {_b64(ES_PASSWORD)} echoed"),
        ([ES_PASSWORD], f"unpadded {_b64(ES_PASSWORD).rstrip('=')} echoed"),
        ([f"elastic:{ES_PASSWORD}"], f"the pair elastic:{ES_PASSWORD} echoed"),
        # A header the transport built, quoted without its name (no "Authorization:" before).
        ([f"elastic:{ES_PASSWORD}"], f"sent {_b64('elastic:' + ES_PASSWORD)} upstream"),
        ([API_KEY_PAIR], f"sent {_b64(API_KEY_PAIR)} upstream"),
        ([API_KEY_PAIR], "the key half ui2lp2axTNmsyakw9tvNnw echoed"),
        ([_b64(API_KEY_PAIR)], f"decoded {API_KEY_PAIR} echoed"),
        ([_b64(API_KEY_PAIR)], "the key half ui2lp2axTNmsyakw9tvNnw echoed"),
        ([ES_PASSWORD], f'{{"password": {json.dumps(ES_PASSWORD)}}}'),
    ],
    ids=[
        "secret", "base64", "base64-unpadded", "user:password", "basic-value", "apikey-value",
        "apikey-half", "encoded-apikey-decoded", "encoded-apikey-half", "json",
    ],
)
def test_every_form_of_a_known_secret_is_redacted(secrets: list[str], text: str) -> None:
    redacted = Redactor(secrets)(text)
    assert REDACTED in redacted
    for secret in secrets:
        for form in secret_forms(secret):
            if len(form) >= MIN_SECRET_LENGTH:
                assert form not in redacted


def test_the_headers_built_from_credentials_are_redacted_exactly() -> None:
    redact = Redactor([f"elastic:{ES_PASSWORD}", API_KEY_PAIR])
    basic = f"Basic {_b64('elastic:' + ES_PASSWORD)}"
    api_key = f"ApiKey {_b64(API_KEY_PAIR)}"
    assert redact(f"{basic} / {api_key} / id VuaCfGcBCdbkQm-e5aOx") == (
        f"Basic {REDACTED} / ApiKey {REDACTED} / id VuaCfGcBCdbkQm-e5aOx"
    )


def test_configuring_logging_installs_the_redactor_for_other_output() -> None:
    try:
        configure_logging("text", "INFO", [ES_PASSWORD], stream=io.StringIO())
        assert redact(f"printed {ES_PASSWORD}") == f"printed {REDACTED}"
    finally:
        install(Redactor())
    assert redact(f"printed {ES_PASSWORD}") == f"printed {ES_PASSWORD}"
    assert redact("key sk-admin-AbCdEf0123456789xyz") == f"key {REDACTED}"
