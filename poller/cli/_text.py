"""What the CLI prints is safe and short: values from OpenAI cannot drive the terminal, and an
error reads as one line with its fix first.

Project, key and user names are set by any member of an organization and arrive through the
API; printed raw, an escape sequence (an OSC-8 link, colours, a cursor move) would reach the
operator's terminal, and a `[/]` in a name would be taken for `rich` markup. Every value that
came from outside is passed through `safe` before it is rendered.
"""

from __future__ import annotations

import re
from pathlib import Path

from rich.markup import escape

__all__ = ["ERROR_WIDTH", "human_age", "plain", "safe", "short_error"]

# C0 and C1 controls, DEL, and the bidirectional overrides that reorder what the eye reads.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_QUERY = re.compile(r"(https?://[^\s?#]+)[?#][^\s)\]]*")
# "GET https://host/path: what happened" reads better as "what happened (GET https://host/path)".
_REQUEST_FIRST = re.compile(r"^(GET|POST|PUT|DELETE|HEAD|PATCH) (\S+?):? (.+)$")
_FIX = re.compile(r"\s+(?:--|\N{EM DASH})\s+(?:fix:\s*|hint:\s*)?(?P<fix>.+)$")
_RELATIVE_FILE = re.compile(
    r"(?<![\w/.:~-])((?:\.{1,2}/)?[\w.-]+(?:/[\w.-]+)*\.(?:sqlite3|yaml|yml|toml|pem|json))\b"
)
ERROR_WIDTH = 200


def plain(value: object) -> str:
    """`value` as text with every control character dropped (tabs and newlines read as a
    space), for output that `rich` does not interpret: JSON, CSV, plain lines."""
    return _CONTROLS.sub(lambda m: " " if m.group() in "\t\n\r" else "", str(value))


def safe(value: object) -> str:
    """`plain`, with `rich` markup escaped: for table cells and console lines."""
    return escape(plain(value))


def short_error(message: str, *, fix: str | None = None, width: int = ERROR_WIDTH) -> str:
    """One line of at most `width` characters: the fix first (`fix`, or the part of the message
    after ` -- fix:` or an em dash), what happened next and the request it happened to last, no
    query strings, relative file names made absolute. The full text goes to the debug log;
    this is what an operator reads first."""
    text = " ".join(plain(message).split())
    text = _QUERY.sub(r"\1", text)
    text = _RELATIVE_FILE.sub(lambda m: str(Path(m.group(1)).absolute()), text)
    found = _FIX.search(text)
    if found is not None:
        fix, text = fix or found.group("fix"), text[: found.start()]
    request = _REQUEST_FIRST.match(text)
    if request is not None:
        text = f"{request.group(3)} ({request.group(1)} {request.group(2)})"
    if fix is not None:
        text = f"{fix} \N{EM DASH} {text}"
    if len(text) > width:
        text = text[: width - 1].rstrip() + "\N{HORIZONTAL ELLIPSIS}"
    return text


def human_age(seconds: float | None) -> str:
    """`45s`, `3m`, `2h 5m`, `1d 2h`: two units at most, as an operator says it."""
    if seconds is None:
        return "never"
    left = max(0, int(seconds))
    if left < 60:
        return f"{left}s"
    units = (("d", 86400), ("h", 3600), ("m", 60))
    first = next(i for i, (_, size) in enumerate(units) if left >= size)
    parts = []
    for unit, size in units[first : first + 2]:
        if left >= size:
            parts.append(f"{left // size}{unit}")
        left %= size
    return " ".join(parts)
