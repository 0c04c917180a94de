"""One redactor for every path that could echo a secret: log records, error messages, output.

Nothing should carry a secret in the first place; redaction is defence in depth. Known values
(the admin keys, Elasticsearch credentials) are replaced wherever they appear in any form a
client sends them in: as given, JSON-escaped, base64-encoded, and inside the HTTP headers built
from them (`Basic <base64(user:password)>`, `ApiKey <base64(id:key)>`). A pair given as
"id:key" or "user:password" also hides each half's secret part, and an API key given already
encoded also hides its decoded "id:key". Credential-shaped text is replaced even when nobody
told us the value, so a server that echoes some other key does not leak it either.

One `Redactor` per process serves every exit: `poller.logs.configure_logging` installs it
(`install`) once the settings and their secrets are known, and `redact` applies it to the CLI's
printed lines, to the `last_error` stored with a stream's state and to the Elasticsearch errors
kept with dead letters, so no path needs the secrets handed down to it. A credential that is
not a setting (`setup --es-api-key-file`) is added by whoever connects with it (`remember`),
before its first request can be answered with an echo of it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Iterator
from typing import Final

__all__ = [
    "MIN_SECRET_LENGTH", "REDACTED", "Redactor", "install", "redact", "remember", "secret_forms",
]

REDACTED: Final = "[REDACTED]"
# Shorter values would redact ordinary words; real keys and passwords are far longer.
MIN_SECRET_LENGTH: Final = 6

# Anything that looks like a whole OpenAI secret key. Masked echoes ("sk-abc...def",
# "sk-proj-****abcd") break the match and stay readable.
_KEY_SHAPE: Final = re.compile(
    r"\bsk-(?:(?:admin|proj|svcacct)-[A-Za-z0-9_\-]{8,}|[A-Za-z0-9_\-]{16,})"
)
_AUTH_HEADER: Final = re.compile(
    r"(?i)(?P<key>authorization['\"]?\s*[:=]\s*['\"]?)"
    r"(?P<scheme>(?:bearer|basic|apikey)\s+)?[^\s'\",;}\\]+"
)
_AUTH_SCHEME: Final = re.compile(
    r"(?i)\b(?P<scheme>bearer|basic|apikey)\s+[A-Za-z0-9._~+/=\-]{8,}"
)


def _b64(text: str) -> tuple[str, ...]:
    raw = text.encode()
    standard = base64.b64encode(raw).decode()
    return standard, standard.rstrip("="), base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decoded_pair(secret: str) -> str | None:
    """The "id:key" inside an Elasticsearch API key given in its encoded form, if it is one."""
    try:
        decoded = base64.b64decode(secret, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return decoded if ":" in decoded and decoded.isprintable() else None


def secret_forms(secret: str) -> Iterator[str]:
    """Every form of `secret` worth hiding: itself, JSON-escaped, base64 (the `Basic` and
    `ApiKey` header values when it is a "user:password" or "id:key" pair), and for a pair
    its secret half; for an encoded API key also what it decodes to."""
    pairs = [secret]
    decoded = _decoded_pair(secret)
    if decoded is not None:
        pairs.append(decoded)
    for value in pairs:
        yield value
        yield json.dumps(value)[1:-1]  # as it appears inside JSON output
        yield from _b64(value)
        _, sep, half = value.partition(":")
        if sep:
            yield half
            yield from _b64(half)


class Redactor:
    """Replaces known secret values (in every form of `secret_forms`) and credential-shaped
    text with `[REDACTED]`. Calling it is cheap and thread-safe: one precompiled pattern."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = tuple(dict.fromkeys(s for s in secrets if len(s) >= MIN_SECRET_LENGTH))
        variants = {
            form
            for secret in self.secrets
            for form in secret_forms(secret)
            if len(form) >= MIN_SECRET_LENGTH
        }
        ordered = sorted(variants, key=len, reverse=True)
        self._known = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __call__(self, text: str) -> str:
        if self._known is not None:
            text = self._known.sub(REDACTED, text)
        text = _KEY_SHAPE.sub(REDACTED, text)
        text = _AUTH_HEADER.sub(lambda m: f"{m['key']}{m['scheme'] or ''}{REDACTED}", text)
        return _AUTH_SCHEME.sub(lambda m: f"{m['scheme']} {REDACTED}", text)


_installed = Redactor()


def install(redactor: Redactor) -> None:
    """Make `redactor` the process's: what `redact` applies from now on."""
    global _installed  # noqa: PLW0603 - one redactor per process, replaced whole, never mutated
    _installed = redactor


def remember(secrets: Iterable[str]) -> None:
    """Adds `secrets` to the installed redactor's (a new one is installed when any is new)."""
    known = _installed.secrets
    new = [s for s in secrets if len(s) >= MIN_SECRET_LENGTH and s not in known]
    if new:
        install(Redactor((*known, *new)))


def redact(text: str) -> str:
    """`text` through the installed redactor (credential shapes only, before `install`)."""
    return _installed(text)
