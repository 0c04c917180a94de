"""Settings: one frozen, validated model built from every place configuration can come from.

Sources, highest precedence first:

1. keyword arguments to `load_settings` (the CLI's flags);
2. the environment: the unprefixed names of INTERFACE.md (`OPENAI_ADMIN_KEY`, `ELASTICSEARCH_URL`,
   ...), then `POLLER_<NAME>` for every field, nested with `__` (`POLLER_METRICS__PORT=9000`);
3. the YAML or TOML file named by `POLLER_CONFIG` (keys are the field names below);
4. a secrets directory, one file per secret named like its environment variable
   (`OPENAI_ADMIN_KEY`): `$CREDENTIALS_DIRECTORY` from systemd's `LoadCredential=`, or
   `POLLER_SECRETS_DIR` (e.g. a mounted Kubernetes secret);
5. the defaults here.

Several organizations run in one process: `orgs` lists them, and `org_defaults` holds what they
share. Without `orgs`, one org called "default" is built from `OPENAI_ADMIN_KEY`. An org may
take its key from the secrets directory by name (`admin_key_credential`), so one config file
serves systemd and Kubernetes alike.

`load_settings` turns every problem into one `ConfigError` line that names the setting and
never quotes a secret.
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from poller.defaults import DEFAULT_BASE_URL, DEFAULT_DEADLETTER_INDEX, DEFAULT_STATE_INDEX
from poller.errors import ConfigError
from poller.streams import STREAM_NAMES, BucketWidth, StreamKind, StreamSpec, get_stream

__all__ = [
    "DEFAULT_BASE_URL",
    "ElasticsearchSettings",
    "MetricsSettings",
    "OrgDefaults",
    "OrgSettings",
    "RetrySettings",
    "Settings",
    "StreamConfig",
    "StreamSettings",
    "load_settings",
    "parse_duration",
    "secret_values",
]

STORE_FILE: Final = "openai-poller.sqlite3"

# INTERFACE.md's unprefixed names, and where each lands in the model. The secrets directory
# uses the same names for its files.
_INTERFACE_NAMES: Final[dict[str, tuple[str, ...]]] = {
    "OPENAI_ADMIN_KEY": ("openai_admin_key",),
    "OPENAI_BASE_URL": ("openai_base_url",),
    "ELASTICSEARCH_URL": ("elasticsearch", "url"),
    "ELASTICSEARCH_API_KEY": ("elasticsearch", "api_key"),
    "ELASTICSEARCH_USERNAME": ("elasticsearch", "username"),
    "ELASTICSEARCH_PASSWORD": ("elasticsearch", "password"),
    "ELASTICSEARCH_CA_CERTS": ("elasticsearch", "ca_certs"),
    "KIBANA_URL": ("kibana_url",),
}

# --- value types -------------------------------------------------------------------------------

_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def parse_duration(value: object) -> timedelta:
    """A duration from seconds (int, float, "300") or text such as "90s", "5m", "1h30m", "3d"."""
    text = value.strip().lower() if isinstance(value, str) else ""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif _NUMBER.fullmatch(text):
        seconds = float(text)
    elif _DURATION.fullmatch(text):
        seconds = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))
    else:
        shown = repr(value)[:40]
        raise ValueError(f"bad duration {shown}: use seconds or a value like 90s, 5m, 24h, 3d")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("a duration cannot be negative")
    return timedelta(seconds=seconds)


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


def _url(value: str) -> str:
    # The value itself is never echoed: a URL may carry credentials.
    try:
        parts = urlsplit(value.strip())
        _ = parts.port  # raises on a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("malformed URL: expected http(s)://host[:port][/path]")
    return value.strip().rstrip("/")


def _known_stream(name: str) -> str:
    if name not in STREAM_NAMES:
        raise ValueError(f"unknown stream {name!r} (choose from {', '.join(STREAM_NAMES)})")
    return name


_NAMESPACE_FORBIDDEN: Final = set('\\/*?"<>| ,#:-')


def _namespace(value: str) -> str:
    """A data stream namespace by Elasticsearch's naming rules."""
    if (
        not value
        or value != value.lower()
        or _NAMESPACE_FORBIDDEN & set(value)
        or len(value.encode()) > 100
    ):
        raise ValueError(
            f"invalid namespace {value[:110]!r}: use at most 100 lowercase characters, "
            "without '-', spaces or any of \\/*?\"<>|,#:"
        )
    return value


def _matching(pattern: str, what: str, rule: str) -> Callable[[str], str]:
    """A validator for names that must match `pattern` whole; the error says `rule`."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"invalid {what} {value[:70]!r}: {rule}")
        return value

    return check


_org_name = _matching(
    r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", "org name", "use 1-64 letters, digits, '.', '_' or '-'"
)
# Elasticsearch's index name rules: lowercase, not starting with '-', '_' or '+'.
_index_name = _matching(
    r"[a-z0-9][a-z0-9_.+-]{0,254}",
    "index name",
    "use lowercase letters, digits, '_', '.', '+' or '-', starting with a letter or digit",
)


def _name_list(value: Any) -> Any:
    """Lists may be written "a,b,c" (handy in environment variables) or as JSON/YAML lists."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_positive)]
Url = Annotated[str, AfterValidator(_url)]
StreamName = Annotated[str, AfterValidator(_known_stream)]
StreamNames = Annotated[tuple[StreamName, ...], NoDecode, BeforeValidator(_name_list)]
Dimensions = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_name_list)]
Namespace = Annotated[str, AfterValidator(_namespace)]
OrgName = Annotated[str, AfterValidator(_org_name)]
IndexName = Annotated[str, AfterValidator(_index_name)]
LogFormat = Literal["auto", "json", "text"]
LogLevel = Annotated[
    Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper)
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


# --- per-stream settings -----------------------------------------------------------------------


class StreamSettings(_Frozen):
    """Stream settings as written: every field may be left out to inherit (see `StreamConfig`)."""

    bucket_width: BucketWidth | None = None
    group_by: Dimensions | None = None
    interval: PositiveDuration | None = None
    initial_interval: PositiveDuration | None = None
    settlement_grace: Duration | None = None
    settlement_window: Duration | None = None
    overlap: Duration | None = None


@dataclass(frozen=True)
class StreamConfig:
    """The settings one stream of one org runs with, every default resolved.

    A usage or costs bucket is collected once `end_time <= now - settlement_grace`, then read
    again for `settlement_window` after that so late revisions replace it in place. Audit
    windows start `overlap` before the saved cursor, so an event late to appear is still read.
    """

    spec: StreamSpec
    bucket_width: BucketWidth
    group_by: tuple[str, ...]
    interval: timedelta
    initial_interval: timedelta
    settlement_grace: timedelta
    settlement_window: timedelta
    overlap: timedelta

    @property
    def name(self) -> str:
        return self.spec.name


# Built-in defaults by kind. Costs and rate limits change slowly (daily buckets, configuration
# snapshots), so polling them every 5 minutes would only spend requests.
_INTERVAL: Final = {
    StreamKind.USAGE: timedelta(minutes=5),
    StreamKind.AUDIT: timedelta(minutes=5),
    StreamKind.COSTS: timedelta(hours=1),
    StreamKind.RATE_LIMITS: timedelta(hours=1),
}
_SETTLEMENT_WINDOW: Final = {
    StreamKind.USAGE: timedelta(hours=1),
    StreamKind.COSTS: timedelta(days=3),
}


def _builtin_defaults(kind: StreamKind) -> dict[str, Any]:
    return {
        "bucket_width": BucketWidth.MINUTE,
        "interval": _INTERVAL[kind],
        "initial_interval": timedelta(hours=24),
        "settlement_grace": timedelta(minutes=2),
        "settlement_window": _SETTLEMENT_WINDOW.get(kind, timedelta(0)),
        "overlap": timedelta(minutes=5) if kind is StreamKind.AUDIT else timedelta(0),
    }


_ALL_DIMENSIONS: Final = frozenset(
    dim for name in STREAM_NAMES if (usage := get_stream(name).usage) for dim in usage.dimensions
)


def _check_group_by(stream: str, group_by: tuple[str, ...]) -> None:
    usage = get_stream(stream).usage
    if usage is None:
        raise ValueError(f"{stream}.group_by: {stream} takes no group_by")
    for dim in group_by:
        if dim not in usage.dimensions:
            raise ValueError(
                f"{stream}.group_by: {dim!r} is not a dimension of {stream} "
                f"(choose from {', '.join(usage.dimensions)})"
            )


# --- orgs --------------------------------------------------------------------------------------


class RetrySettings(_Frozen):
    """Limits for retrying one request to OpenAI, as `AdminClient` takes them.

    A `Retry-After` longer than `max_retry_after` is not waited for (the official SDK's cap);
    `max_elapsed` bounds one request's retries well inside the 5-minute interval.
    """

    max_attempts: int = Field(default=6, ge=1, le=100)
    max_elapsed: PositiveDuration = timedelta(minutes=2)
    max_retry_after: Duration = timedelta(minutes=2)


class OrgDefaults(_Frozen):
    """What an org inherits unless it says otherwise; `org_defaults` at the top level."""

    namespace: Namespace = "default"
    streams: StreamNames = STREAM_NAMES
    defaults: StreamSettings = StreamSettings()
    overrides: Mapping[StreamName, StreamSettings] = Field(default_factory=dict)
    directory_ttl: Duration = timedelta(hours=1)
    request_timeout: PositiveDuration = timedelta(seconds=30)
    retry: RetrySettings = RetrySettings()

    @field_validator("streams")
    @classmethod
    def _unique_streams(cls, streams: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(streams))

    @field_validator("defaults")
    @classmethod
    def _defaults_group_by(cls, defaults: StreamSettings) -> StreamSettings:
        for dim in defaults.group_by or ():
            if dim not in _ALL_DIMENSIONS:
                raise ValueError(
                    f"group_by: {dim!r} is not a dimension of any stream "
                    f"(choose from {', '.join(sorted(_ALL_DIMENSIONS))})"
                )
        return defaults

    @field_validator("overrides")
    @classmethod
    def _overrides_fit_their_stream(
        cls, overrides: Mapping[str, StreamSettings]
    ) -> Mapping[str, StreamSettings]:
        for stream, override in overrides.items():
            if override.group_by is not None:
                _check_group_by(stream, override.group_by)
            width = override.bucket_width
            if stream == "costs" and width not in (None, BucketWidth.DAY):
                raise ValueError("costs.bucket_width: costs buckets are always 1d")
        return overrides


class OrgSettings(OrgDefaults):
    """One OpenAI organization: its key, where to reach it, and which streams to collect."""

    name: OrgName
    admin_key: SecretStr
    admin_key_credential: str | None = None  # the secrets-directory file the key was read from
    base_url: Url = DEFAULT_BASE_URL
    # OpenAI's org id (org-...) for `organization.id` and document ids; the org's name when
    # unset. Set it once and keep it: document ids depend on it.
    organization_id: str | None = None

    def stream(self, name: str) -> StreamConfig:
        """The resolved settings of stream `name`: its override, then `defaults`, then built-ins."""
        spec = get_stream(name)
        override = self.overrides.get(name, StreamSettings())
        builtin = _builtin_defaults(spec.kind)

        def pick(field: str) -> Any:
            for layer in (override, self.defaults):
                if (value := getattr(layer, field)) is not None:
                    return value
            return builtin[field]

        dimensions = spec.usage.dimensions if spec.usage else ()
        group_by = override.group_by
        if group_by is None:
            # Org-wide group_by applies to the dimensions each endpoint has; all of them if unset.
            wanted = self.defaults.group_by
            group_by = dimensions if wanted is None else tuple(d for d in wanted if d in dimensions)
        return StreamConfig(
            spec=spec,
            bucket_width=BucketWidth.DAY if spec.kind is StreamKind.COSTS else pick("bucket_width"),
            group_by=group_by,
            interval=pick("interval"),
            initial_interval=pick("initial_interval"),
            settlement_grace=pick("settlement_grace"),
            settlement_window=pick("settlement_window"),
            overlap=pick("overlap"),
        )

    def stream_configs(self) -> tuple[StreamConfig, ...]:
        """The resolved settings of every stream this org collects, in `streams` order."""
        return tuple(self.stream(name) for name in self.streams)


# --- sinks and the process ---------------------------------------------------------------------


class ElasticsearchSettings(_Frozen):
    """Where documents go; without `url` they go to the embedded store."""

    url: Url | None = None
    api_key: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    ca_certs: Path | None = None
    timeout: PositiveDuration = timedelta(seconds=30)
    # Separate deployments on one cluster need their own cursors and dead letters.
    state_index: IndexName = DEFAULT_STATE_INDEX
    deadletter_index: IndexName = DEFAULT_DEADLETTER_INDEX

    @model_validator(mode="after")
    def _one_way_to_authenticate(self) -> ElasticsearchSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("set both username and password, or neither")
        if self.api_key is not None and self.username is not None:
            raise ValueError("set either api_key or username and password, not both")
        return self

    @field_validator("ca_certs")
    @classmethod
    def _ca_file_exists(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_file():
            raise ValueError(f"no such file {str(path)!r}")
        return path


class MetricsSettings(_Frozen):
    """The /metrics, /healthz and /readyz server. Loopback by default; 0.0.0.0 in a pod."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=0, le=65535)


def _default_store_path() -> Path:
    # systemd's StateDirectory= sets $STATE_DIRECTORY (colon-separated when it lists several).
    state_dir = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(state_dir or ".") / STORE_FILE


def _default_secrets_dir() -> Path | None:
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    return Path(credentials) if credentials else None


class Settings(BaseSettings):
    """Everything the poller is configured with. Frozen: build a new one to change it."""

    model_config = SettingsConfigDict(
        env_prefix="POLLER_",
        env_nested_delimiter="__",
        env_ignore_empty=True,
        case_sensitive=False,
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
    )

    config: Path | None = None
    secrets_dir: Path | None = Field(default_factory=_default_secrets_dir)
    openai_admin_key: SecretStr | None = None
    openai_base_url: Url = DEFAULT_BASE_URL
    org_defaults: OrgDefaults = OrgDefaults()
    orgs: tuple[OrgSettings, ...] = ()
    elasticsearch: ElasticsearchSettings = ElasticsearchSettings()
    store_path: Path = Field(default_factory=_default_store_path)
    kibana_url: Url | None = None
    metrics: MetricsSettings = MetricsSettings()
    log_format: LogFormat = "auto"
    log_level: LogLevel = "INFO"
    jitter: Duration = timedelta(seconds=10)
    shutdown_timeout: PositiveDuration = timedelta(seconds=30)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            _LazySource(settings_cls, lambda _: _interface_environment()),
            env_settings,
            _LazySource(settings_cls, _config_file),
            _LazySource(settings_cls, _secrets_directory),
        )

    @model_validator(mode="before")
    @classmethod
    def _expand_orgs(cls, data: Any) -> Any:
        """Build the implicit "default" org, and give every org the shared `org_defaults`."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        orgs = data.get("orgs")
        if not orgs:
            key = data.get("openai_admin_key")
            orgs = [] if key is None else [{"name": "default", "admin_key": key}]
        if isinstance(orgs, list | tuple):
            template = _as_dict(data.get("org_defaults"))
            base_url = data.get("openai_base_url")
            secrets_dir = data.get("secrets_dir") or _default_secrets_dir()
            data["orgs"] = [
                _expand_org(i, org, template, base_url, secrets_dir) for i, org in enumerate(orgs)
            ]
        return data

    @field_validator("orgs")
    @classmethod
    def _unique_org_names(cls, orgs: tuple[OrgSettings, ...]) -> tuple[OrgSettings, ...]:
        seen: set[str] = set()
        for org in orgs:
            if org.name in seen:
                raise ValueError(f"duplicate org name {org.name!r}")
            seen.add(org.name)
        return orgs

    def org(self, name: str) -> OrgSettings:
        """The org called `name`; a ConfigError names the configured ones."""
        for org in self.orgs:
            if org.name == name:
                return org
        names = ", ".join(org.name for org in self.orgs) or "none"
        raise ConfigError(f"config: unknown org {name!r} (configured: {names})")


# --- sources -----------------------------------------------------------------------------------


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
        {path: value for name, path in _INTERFACE_NAMES.items() if (value := os.environ.get(name))}
    )


def _config_file(state: dict[str, Any]) -> dict[str, Any]:
    path = state.get("config")
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
    if "config" in data:
        raise ConfigError(f"config: {path}: 'config' cannot be set inside the config file")
    return data


def _secrets_directory(state: dict[str, Any]) -> dict[str, Any]:
    directory = state.get("secrets_dir") or _default_secrets_dir()
    if not directory:
        return {}
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(f"config: secrets_dir: {directory} is not a directory")
    found: dict[tuple[str, ...], str] = {}
    for name, path in _INTERFACE_NAMES.items():
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
        raise ConfigError(f"{where}: {name!r} must be a file name, not a path")
    value = _read_secret(Path(secrets_dir), name)
    if value is None:
        raise ConfigError(f"{where}: no non-empty file {name!r} in {secrets_dir}")
    return value


# --- loading -----------------------------------------------------------------------------------


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
    """Settings from every source, `overrides` first; any problem is one `ConfigError` line.

    `require_orgs=False` lets commands that never call OpenAI (setup, status, report) run
    without an admin key.
    """
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    except SettingsError as exc:
        raise ConfigError(f"config: {exc}") from None
    if require_orgs and not settings.orgs:
        raise ConfigError(
            "config: orgs: no organization configured "
            "(set OPENAI_ADMIN_KEY, or list orgs in the POLLER_CONFIG file)"
        )
    return settings


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
    """Every non-empty secret in `settings`, longest first: for log redaction and secret scans."""
    return tuple(sorted({s for s in _walk_secrets(settings) if s}, key=len, reverse=True))
