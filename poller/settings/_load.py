"""Loading settings: every problem becomes one `ConfigError` line that names the setting and
never quotes a secret, so the CLI can print it and exit 2.

What works but is probably a mistake (an unknown or misspelled variable, credentials over plain
`http://`) is a warning of the `poller.settings` logger instead, one record each, logged while
loading: the variables before validation, so that they explain the error a misspelling causes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Iterator, Mapping
from typing import Any, Final

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_settings import SettingsError

from poller.errors import ConfigError
from poller.redaction import Redactor
from poller.settings._env_names import misspelled_variables
from poller.settings._model import Settings
from poller.settings._plain_http import plain_http_warnings
from poller.settings._validate import noting_secrets

__all__ = ["load_settings", "secret_values"]


def _where(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as the user wrote it: `orgs[0].streams[2]`."""
    text = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for "the key itself" of a mapping entry
            continue
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "settings"


_MESSAGES: Final = {"missing": "required", "extra_forbidden": "unknown setting"}
_log = logging.getLogger("poller.settings")


def _describe(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    first = errors[0]
    message = _MESSAGES.get(first["type"], first["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    # org_defaults problems repeat under every org they are merged into: count each once.
    others = {error["msg"] for error in errors[1:]} - {first["msg"]}
    more = f" (and {len(others)} more)" if others else ""
    return f"config: {_where(first['loc'])}: {message}{more}"


def load_settings(*, require_orgs: bool = True, **overrides: Any) -> Settings:
    """Settings from every source, `overrides` first; any problem is one `ConfigError` line,
    any likely mistake a warning logged by `poller.settings`.

    `require_orgs=False` lets commands that never call OpenAI (setup, status, report) run
    without an admin key.
    """
    for warning in misspelled_variables(os.environ, Settings):
        _log.warning("%s", warning)
    with noting_secrets() as secrets:
        try:
            settings = Settings(**overrides)
        except ValidationError as exc:
            raise ConfigError(_scrub(_describe(exc), secrets)) from None
        except SettingsError as exc:
            raise ConfigError(_scrub(f"config: {exc}", secrets)) from None
        except ConfigError as exc:
            raise ConfigError(_scrub(str(exc), secrets)) from None
    if require_orgs and not settings.orgs:
        raise ConfigError(
            "config: orgs: no organization configured "
            "(set OPENAI_ADMIN_KEY, or list orgs in the POLLER_CONFIG file)"
        )
    for warning in plain_http_warnings(settings):
        _log.warning("%s", warning)
    return settings


def _scrub(message: str, secrets: Collection[str]) -> str:
    """`message` without the secrets being loaded, nor anything shaped like a key: the last
    guard, for a secret pasted where a validator quotes its input."""
    return Redactor(secrets)(message)


def _walk_secrets(value: Any) -> Iterator[str]:
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _walk_secrets(getattr(value, name))
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _walk_secrets(item)
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _walk_secrets(item)


def secret_values(settings: BaseModel) -> tuple[str, ...]:
    """Every non-empty secret in `settings`, longest first: for log redaction and secret scans.

    An Elasticsearch username and password (the daemon's, and setup's own) also count as their
    `user:password` pair, so the redactor knows the pair's base64 (a `Basic` header a proxy or
    cluster may echo)."""
    found = {s for s in _walk_secrets(settings) if s}
    es, own = getattr(settings, "elasticsearch", None), getattr(settings, "setup", None)
    pairs = (
        (getattr(es, "username", None), getattr(es, "password", None)),
        (getattr(own, "elasticsearch_username", None),
         getattr(own, "elasticsearch_password", None)),
    )
    for user, password in pairs:
        if user and password is not None:
            found.add(f"{user}:{password.get_secret_value()}")
    return tuple(sorted(found, key=len, reverse=True))
