"""Where settings come from, and in which order they win.

Sources, highest precedence first (`ordered_sources`):

1. keyword arguments to `load_settings` (the CLI's flags);
2. the environment: the unprefixed names of docs/interface.md (`INTERFACE_NAMES`), then
   `POLLER_<NAME>` for every field, nested with `__` (`POLLER_METRICS__PORT=9000`);
3. the YAML or TOML file named by `POLLER_CONFIG` (keys are the field names);
4. a secrets directory, one file per interface name (`OPENAI_ADMIN_KEY`): `$CREDENTIALS_DIRECTORY`
   from systemd's `LoadCredential=`, or `POLLER_SECRETS_DIR` (e.g. a mounted Kubernetes secret);
5. the model's defaults.

An org may take its key from the secrets directory by name (`admin_key_credential`), so one
config file serves systemd and Kubernetes alike; `expand_orgs` resolves that and the shared
`org_defaults` before the orgs are validated.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from poller.errors import ConfigError
from poller.settings._validate import shown

__all__ = [
    "CONFIG_FIELD",
    "INTERFACE_NAMES",
    "default_secrets_dir",
    "default_store_path",
    "expand_orgs",
    "ordered_sources",
]

STORE_FILE: Final = "openai-poller.sqlite3"
CONFIG_FIELD: Final = "config"  # names the file, so the file cannot set it

# docs/interface.md's unprefixed names, and where each lands in the model. The secrets directory
# uses the same names for its files.
INTERFACE_NAMES: Final[dict[str, tuple[str, ...]]] = {
    "OPENAI_ADMIN_KEY": ("openai_admin_key",),
    "OPENAI_BASE_URL": ("openai_base_url",),
    "ELASTICSEARCH_URL": ("elasticsearch", "url"),
    "ELASTICSEARCH_API_KEY": ("elasticsearch", "api_key"),
    "ELASTICSEARCH_USERNAME": ("elasticsearch", "username"),
    "ELASTICSEARCH_PASSWORD": ("elasticsearch", "password"),
    "ELASTICSEARCH_CA_CERTS": ("elasticsearch", "ca_certs"),
    "KIBANA_URL": ("kibana_url",),
    "KIBANA_CA_CERTS": ("kibana_ca_certs",),
}


def default_store_path() -> Path:
    # systemd's StateDirectory= sets $STATE_DIRECTORY (colon-separated when it lists several).
    state_dir = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(state_dir or ".") / STORE_FILE


def default_secrets_dir() -> Path | None:
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    return Path(credentials) if credentials else None


def ordered_sources(
    settings_cls: type[BaseSettings],
    init_settings: PydanticBaseSettingsSource,
    env_settings: PydanticBaseSettingsSource,
) -> tuple[PydanticBaseSettingsSource, ...]:
    """The sources of `settings_cls`, the one that wins first (the module docstring's order)."""
    return (
        init_settings,
        _LazySource(settings_cls, lambda _: _interface_environment()),
        env_settings,
        _LazySource(settings_cls, _config_file),
        _LazySource(settings_cls, _secrets_directory),
    )


class _LazySource(PydanticBaseSettingsSource):
    """A source computed when called, from what the sources above it already found.

    That is how `POLLER_CONFIG` (or `config=`) decides which file the file source reads, and how
    a `secrets_dir` from any higher source decides where the secrets source looks.
    """

    def __init__(
        self, settings_cls: type[BaseSettings], load: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> None:
        super().__init__(settings_cls)
        self._load = load

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        # Required by the base class; unused because __call__ loads everything at once.
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return self._load(self.current_state)


def _nest(flat: Mapping[tuple[str, ...], Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, value in flat.items():
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return out


def _interface_environment() -> dict[str, Any]:
    return _nest(
        {path: value for name, path in INTERFACE_NAMES.items() if (value := os.environ.get(name))}
    )


def _config_file(state: dict[str, Any]) -> dict[str, Any]:
    path = state.get(CONFIG_FIELD)
    if not path:
        return {}
    path = Path(path)
    loaders: dict[str, Callable[[str], Any]] = {
        ".yaml": yaml.safe_load,
        ".yml": yaml.safe_load,
        ".toml": tomllib.loads,
    }
    loader = loaders.get(path.suffix.lower())
    if loader is None:
        raise ConfigError(f"config: {path}: the config file must end in .yaml, .yml or .toml")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"config: cannot read {path}: {reason}") from None
    try:
        data = loader(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"config: {path}: invalid YAML{where}: {exc.problem}") from None
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config: {path}: invalid {path.suffix[1:].upper()}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config: {path}: the top level must be a mapping of settings")
    if CONFIG_FIELD in data:
        raise ConfigError(f"config: {path}: '{CONFIG_FIELD}' cannot be set inside the config file")
    return data


def _secrets_directory(state: dict[str, Any]) -> dict[str, Any]:
    directory = state.get("secrets_dir") or default_secrets_dir()
    if not directory:
        return {}
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(f"config: secrets_dir: {directory} is not a directory")
    found: dict[tuple[str, ...], str] = {}
    for name, path in INTERFACE_NAMES.items():
        value = _read_secret(directory, name)
        if value is not None:
            found[path] = value
    return _nest(found)


def _read_secret(directory: Path, name: str) -> str | None:
    """The stripped contents of `directory/name`, or None when there is no such file (or empty)."""
    path = directory / name
    if not path.is_file():
        return None
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise ConfigError(f"config: cannot read secret file {path}: {reason}") from None
    return value or None


# --- orgs: the shared template and credential files ---------------------------------------------


def expand_orgs(data: dict[str, Any]) -> dict[str, Any]:
    """`data` (the merged sources) with the implicit "default" org built, and every org given
    the shared `org_defaults` and its key from `admin_key_credential`."""
    data = dict(data)
    orgs = data.get("orgs")
    if not orgs:
        key = data.get("openai_admin_key")
        orgs = [] if key is None else [{"name": "default", "admin_key": key}]
    if isinstance(orgs, list | tuple):
        template = _as_dict(data.get("org_defaults"))
        base_url = data.get("openai_base_url")
        secrets_dir = data.get("secrets_dir") or default_secrets_dir()
        data["orgs"] = [
            _expand_org(i, org, template, base_url, secrets_dir) for i, org in enumerate(orgs)
        ]
    return data


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_unset=True)
    return dict(value) if isinstance(value, Mapping) else {}


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        below = merged.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            merged[key] = _deep_merge(below, value)
        else:
            merged[key] = value
    return merged


def _expand_org(
    index: int, org: Any, template: dict[str, Any], base_url: Any, secrets_dir: Any
) -> Any:
    if not isinstance(org, Mapping):
        return org  # an OrgSettings passed as a keyword argument, or garbage pydantic reports
    merged = _deep_merge(template, org)
    if base_url is not None:
        merged.setdefault("base_url", base_url)
    credential = merged.get("admin_key_credential")
    if credential and merged.get("admin_key") is None:
        merged["admin_key"] = _credential(index, str(credential), secrets_dir)
    return merged


def _credential(index: int, name: str, secrets_dir: Any) -> str:
    where = f"config: orgs[{index}].admin_key_credential"
    if not secrets_dir:
        raise ConfigError(f"{where}: no secrets directory (set POLLER_SECRETS_DIR)")
    if "/" in name or name in (".", ".."):
        raise ConfigError(f"{where}:{shown(name)} must be a file name, not a path")
    value = _read_secret(Path(secrets_dir), name)
    if value is None:
        raise ConfigError(f"{where}: no non-empty file{shown(name)} in {secrets_dir}")
    return value
