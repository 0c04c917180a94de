"""Admin-key authentication, answered with OpenAI's own 401 messages.

Only the admin key passes. A project key (`sk-proj-…`) is a real key without the admin scope, so
it gets the missing-scope message with code null; any other key, and a missing one, gets
`invalid_api_key`. Keys in messages are redacted the way OpenAI redacts them.
"""

from __future__ import annotations

import hmac
from typing import Final
from wsgiref.types import WSGIEnvironment

from poller.simulator.params import ApiError

__all__ = ["authenticate", "bearer_key", "redact"]

_NO_KEY: Final = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with "
    "blank username) if you're accessing the API from your browser and are prompted for a "
    "username and password. You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)
_MISSING_SCOPE: Final = (
    "You have insufficient permissions for this operation. Missing scopes: {scope}. Check that "
    "you have the correct role in your organization (Reader, Writer, Owner) and project (Member, "
    "Owner), and if you're using a restricted API key, that it has the necessary scopes."
)


def bearer_key(environ: WSGIEnvironment) -> str | None:
    """The key of an `Authorization: Bearer <key>` header, or None when there is none."""
    scheme, _, key = str(environ.get("HTTP_AUTHORIZATION", "")).strip().partition(" ")
    key = key.strip()
    return key if scheme.lower() == "bearer" and key else None


def authenticate(key: str | None, admin_key: bytes, scope: str) -> None:
    """Return when `key` is the admin key; otherwise raise the 401 OpenAI gives for it."""
    if key is None:
        raise ApiError(401, _NO_KEY, code="invalid_api_key")
    if hmac.compare_digest(key.encode(), admin_key):
        return
    if key.startswith("sk-proj-"):
        raise ApiError(401, _MISSING_SCOPE.format(scope=scope))
    raise ApiError(
        401,
        f"Incorrect API key provided: {redact(key)}. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        code="invalid_api_key",
    )


def redact(key: str) -> str:
    """A key as OpenAI's errors show it: a short head and tail at most, never enough to use."""
    if len(key) >= 20:
        head, tail = key[:6], key[-4:]
    else:
        head, tail = key[: min(3, len(key) // 4)], ""
    return head + "*" * (len(key) - len(head) - len(tail)) + tail
