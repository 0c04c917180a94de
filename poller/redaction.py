"""One redactor for every path that could echo a secret: log records, error messages, output.

Nothing should carry a secret in the first place; redaction is defence in depth. Known values
(the admin keys, Elasticsearch credentials) are replaced wherever they appear, also in their
JSON-escaped form; credential-shaped text is replaced even when nobody told us the value, so a
server that echoes some other key does not leak it either.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Final

__all__ = ["MIN_SECRET_LENGTH", "REDACTED", "Redactor"]

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
    r"(?P<scheme>(?:bearer|basic|apikey)\s+)?[^\s'\",;}]+"
)
_AUTH_SCHEME: Final = re.compile(
    r"(?i)\b(?P<scheme>bearer|basic|apikey)\s+[A-Za-z0-9._~+/=\-]{8,}"
)


class Redactor:
    """Replaces known secret values and credential-shaped text with `[REDACTED]`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        variants: set[str] = set()
        for secret in secrets:
            if len(secret) >= MIN_SECRET_LENGTH:
                variants.add(secret)
                variants.add(json.dumps(secret)[1:-1])  # as it appears inside JSON output
        ordered = sorted(variants, key=len, reverse=True)
        self._known = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __call__(self, text: str) -> str:
        if self._known is not None:
            text = self._known.sub(REDACTED, text)
        text = _KEY_SHAPE.sub(REDACTED, text)
        text = _AUTH_HEADER.sub(lambda m: f"{m['key']}{m['scheme'] or ''}{REDACTED}", text)
        return _AUTH_SCHEME.sub(lambda m: f"{m['scheme']} {REDACTED}", text)
