"""`openai-poller setup`: install the Elasticsearch templates and the Kibana objects and rules.

Every step reads what is installed first and writes only what differs, so a second run reports
every line "unchanged", and `dry_run` (reads only) reports what a real run would change.

"Equal" means: everything we would send is present in the installed body with the same values
(servers add defaults such as `lifecycle.enabled`, Kibana adds migration fields), and, for
Elasticsearch, the installed `_meta.content_hash` is the hash of our body, so a field we dropped
from a newer template is noticed too. Kibana objects carry no hash; they are compared by content,
so a Kibana whose migrations rewrite an object gets it re-imported on every run, which is harmless.

Existing data streams keep the mapping of their current backing index until a rollover; setup adds
the missing fields to them in place (only those, so `constant_keyword` values stay untouched) and,
where a field changed type (e.g. a data stream Elastic's integration created), says a rollover is
needed instead of guessing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import ssl
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
from elasticsearch import BadRequestError, Elasticsearch, NotFoundError

from poller.assets import (
    RETENTION,
    Assets,
    Template,
    composed_mapping,
    flatten_mapping,
    load_assets,
    retention_class,
)
from poller.errors import ConfigError, PollerError, SinkRejectedError, SinkUnavailableError
from poller.sinks.elasticsearch import ErrorTranslator, describe_error, redact_url
from poller.streams import STREAM_NAMES

__all__ = ["Change", "KibanaAuth", "SetupReport", "run_setup"]

MIN_VERSION: Final = (8, 7)  # ignore_missing_component_templates
LIFECYCLE_VERSION: Final = (8, 11)  # data stream lifecycle in templates
REQUEST_TIMEOUT: Final = 30.0  # seconds, per Kibana request (and in Elasticsearch messages)
_SPACE: Final = re.compile(r"[a-z0-9_-]+")
_CHANGES: Final = frozenset({"create", "update", "replace"})
_VERBS: Final = {
    "create": ("created", "would create"),
    "update": ("updated", "would update"),
    "replace": ("replaced", "would replace"),
    "unchanged": ("unchanged", "unchanged"),
    "rollover": ("needs a rollover", "needs a rollover"),
    "skip": ("skipped", "skipped"),
    "note": ("left in place", "left in place"),
}


# ---- the report ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One thing setup looked at: what (`target`), what it did (`action`), and why (`detail`)."""

    target: str
    action: str  # a key of _VERBS
    detail: str = ""

    def line(self, dry_run: bool) -> str:
        verb = _VERBS[self.action][1 if dry_run else 0]
        return f"{self.target}: {verb}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class SetupReport:
    """What `run_setup` changed (or would change, with `dry_run`); `lines()` is for people."""

    dry_run: bool
    changes: tuple[Change, ...]

    def lines(self) -> list[str]:
        return [change.line(self.dry_run) for change in self.changes]

    @property
    def changed(self) -> bool:
        """Whether anything was (or would be) written."""
        return any(change.action in _CHANGES for change in self.changes)


@dataclass(frozen=True)
class KibanaAuth:
    """Kibana credentials: an API key (`id:key` or its base64 form) or a username and password.

    Kibana accepts the same Elasticsearch API keys and users. Secrets never appear in `repr`.
    """

    api_key: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_certs: str | None = None

    def __post_init__(self) -> None:
        if self.api_key and (self.username or self.password):
            raise ConfigError("give Kibana either an API key or a username and password")
        if (self.username is None) != (self.password is None):
            raise ConfigError("a Kibana username needs a password, and a password a username")

    def secrets(self) -> list[str]:
        return [s for s in (self.api_key, self.password) if s]

    def headers(self) -> dict[str, str]:
        if not self.api_key:
            return {}
        key = self.api_key
        if ":" in key:
            key = base64.b64encode(key.encode()).decode()
        return {"Authorization": f"ApiKey {key}"}

    def httpx_auth(self) -> httpx.BasicAuth | None:
        if self.username is not None and self.password is not None:
            return httpx.BasicAuth(self.username, self.password)
        return None


# ---- comparing installed bodies with ours ------------------------------------------------------


def _scalar(value: Any) -> Any:
    """Servers echo `false` as "false" and 1 as "1" in settings and mappings: compare as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return None
    return str(value)


def contains(installed: Any, desired: Any) -> bool:
    """Whether `installed` holds everything in `desired` (extra keys allowed, lists exact)."""
    if isinstance(desired, Mapping):
        return isinstance(installed, Mapping) and all(
            key in installed and contains(installed[key], value) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(installed, list)
            and len(installed) == len(desired)
            and all(contains(a, b) for a, b in zip(installed, desired, strict=True))
        )
    return bool(_scalar(installed) == _scalar(desired))


def _expand_dots(node: Any) -> Any:
    """`{"index.lifecycle.name": x}` as nested objects, the way our files write settings."""
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        *parents, leaf = key.split(".")
        target = out
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = _expand_dots(value)
    return out


def _parse_json_strings(node: Any) -> Any:
    """Kibana keeps nested JSON as strings (panelsJSON, searchSourceJSON): compare them parsed."""
    if isinstance(node, str) and node[:1] in ("{", "["):
        try:
            return _parse_json_strings(json.loads(node))
        except ValueError:
            return node
    if isinstance(node, Mapping):
        return {key: _parse_json_strings(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_parse_json_strings(item) for item in node]
    return node


def content_hash(body: Mapping[str, Any]) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _meta_holder(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return body.setdefault("policy", {}) if kind == "ilm_policy" else body


def with_hash(template: Template) -> dict[str, Any]:
    """The body to PUT: ours, with `_meta.content_hash` of it."""
    body: dict[str, Any] = json.loads(json.dumps(template.body))
    holder = _meta_holder(template.kind, body)
    holder["_meta"] = {**holder.get("_meta", {}), "content_hash": content_hash(template.body)}
    return body


def _matches(kind: str, installed: Mapping[str, Any], desired: dict[str, Any]) -> bool:
    if kind != "ilm_policy":
        installed = dict(installed)
        template = installed.get("template")
        if isinstance(template, Mapping) and "settings" in template:
            installed["template"] = {**template, "settings": _expand_dots(template["settings"])}
    return contains(installed, desired)


# ---- Elasticsearch ------------------------------------------------------------------------------


def _fields(n: int) -> str:
    return f"{n} field" if n == 1 else f"{n} fields"


def _version(number: str) -> tuple[int, int]:
    major, minor, *_ = [*(int(p) if p.isdigit() else 0 for p in number.split(".")[:2]), 0, 0]
    return major, minor


def _lifecycle_free(template: Template) -> Template:
    inner = {k: v for k, v in template.body.get("template", {}).items() if k != "lifecycle"}
    return Template(template.kind, template.name, {**template.body, "template": inner})


@dataclass(frozen=True)
class _DataStream:
    name: str
    stream: str
    write_index: str
    lifecycle: Mapping[str, Any] | None  # None when the cluster has no data stream API


@dataclass(frozen=True)
class _MappingDiff:
    """How a write index's mapping differs from ours."""

    addable: Mapping[str, Any]  # path → leaf: absent, or the same type with other parameters
    conflicting: tuple[str, ...]  # paths mapped with another type: only a rollover fixes them
    dynamic: Any = None  # our `dynamic`, when the index has another

    @property
    def empty(self) -> bool:
        return not (self.addable or self.conflicting or self.dynamic is not None)


class _ElasticsearchSetup:
    """Installs templates and policies, and brings existing data streams up to date."""

    def __init__(self, es: Elasticsearch, dry_run: bool, changes: list[Change]) -> None:
        urls = [node.base_url for node in es.transport.node_pool.all()]
        where = ", ".join(redact_url(u) for u in urls) or "the configured cluster"
        self._es = es
        self._errors = ErrorTranslator(where, [], REQUEST_TIMEOUT)
        self._dry_run = dry_run
        self._changes = changes

    def run(
        self,
        assets: Assets,
        *,
        ilm: bool,
        namespaces: Collection[str] | None,
    ) -> None:
        with self._errors("reading cluster info"):
            version = self._es.info().body.get("version", {})
        number, flavor = str(version.get("number", "")), version.get("build_flavor")
        if _version(number) < MIN_VERSION:
            raise SinkRejectedError(
                f"Elasticsearch {number} at {self._errors.where} is too old: openai-poller's "
                "templates need 8.7 or later"
            )
        if ilm and flavor == "serverless":
            raise ConfigError("Elasticsearch serverless has no ILM: run setup without ILM")
        components = list(assets.component_templates)
        if _version(number) < LIFECYCLE_VERSION:
            components = [_lifecycle_free(t) for t in components]
            self._changes.append(
                Change(
                    "data stream lifecycle",
                    "skip",
                    f"Elasticsearch {number} has none before 8.11; pass ILM to enforce retention",
                )
            )
        if ilm:
            components[:0] = list(assets.ilm_component_templates)
            for policy in assets.ilm_policies:
                self._install(policy)
        for template in components:
            self._install(template)
        if not ilm:
            self._note_leftover_ilm(assets)
        for template in assets.index_templates:
            self._install(template)
        by_name = {t.name: t.body for t in components}
        for data_stream in self._data_streams(namespaces):
            self._update_data_stream(data_stream, by_name, lifecycle=not ilm)

    # -- templates and policies

    def _get(self, template: Template) -> Mapping[str, Any] | None:
        with self._errors(f"reading {template.kind.replace('_', ' ')} {template.name}"):
            try:
                if template.kind == "component_template":
                    body = self._es.cluster.get_component_template(name=template.name).body
                    found = body.get("component_templates", [])
                    return found[0]["component_template"] if found else None
                if template.kind == "index_template":
                    body = self._es.indices.get_index_template(name=template.name).body
                    found = body.get("index_templates", [])
                    return found[0]["index_template"] if found else None
                body = self._es.ilm.get_lifecycle(name=template.name).body
                entry = body.get(template.name)
                return {"policy": entry["policy"]} if entry else None
            except NotFoundError:
                return None

    def _put(self, template: Template, body: dict[str, Any]) -> None:
        with self._errors(f"installing {template.kind.replace('_', ' ')} {template.name}"):
            if template.kind == "component_template":
                self._es.cluster.put_component_template(name=template.name, body=body)
            elif template.kind == "index_template":
                self._es.indices.put_index_template(name=template.name, body=body)
            else:
                self._es.ilm.put_lifecycle(name=template.name, body=body)

    def _install(self, template: Template) -> None:
        target = f"{template.kind.replace('_', ' ')} {template.name}"
        desired = with_hash(template)
        installed = self._get(template)
        if installed is not None and _matches(template.kind, installed, desired):
            self._changes.append(Change(target, "unchanged"))
            return
        if not self._dry_run:
            self._put(template, desired)
        self._changes.append(Change(target, "create" if installed is None else "update"))

    def _note_leftover_ilm(self, assets: Assets) -> None:
        for template in assets.ilm_component_templates:
            if self._get(template) is not None:
                self._changes.append(
                    Change(
                        f"component template {template.name}",
                        "note",
                        "installed earlier with ILM: ILM keeps managing new backing indices "
                        "until you delete it",
                    )
                )

    # -- existing data streams

    def _data_streams(self, namespaces: Collection[str] | None) -> list[_DataStream]:
        found: list[tuple[str, str, Mapping[str, Any] | None]] = []
        with self._errors("listing data streams logs-openai.*"):
            try:
                body = self._es.indices.get_data_stream(name="logs-openai.*").body
                for ds in body.get("data_streams", []):
                    indices = ds.get("indices") or [{"index_name": ds["name"]}]
                    found.append((ds["name"], indices[-1]["index_name"], ds.get("lifecycle") or {}))
            except NotFoundError:
                found = []
            except BadRequestError:
                # No data stream API (noida-db): data streams are plain indices there.
                names = self._es.indices.get(
                    index="logs-openai.*", ignore_unavailable=True, allow_no_indices=True
                ).body
                found = [(name, name, None) for name in names]
        streams: list[_DataStream] = []
        for name, write_index, lifecycle in sorted(found, key=lambda item: item[0]):
            stream, _, namespace = name.removeprefix("logs-openai.").rpartition("-")
            if stream in STREAM_NAMES and (namespaces is None or namespace in namespaces):
                streams.append(_DataStream(name, stream, write_index, lifecycle))
        return streams

    def _diff(self, index: str, desired: Mapping[str, Any]) -> _MappingDiff:
        with self._errors(f"reading the mapping of {index}"):
            body = self._es.indices.get_mapping(index=index).body
        indices: list[Mapping[str, Any]] = list(body.values())
        mappings: Mapping[str, Any] = indices[0].get("mappings", {}) if indices else {}
        have = flatten_mapping(mappings)
        addable: dict[str, Any] = {}
        conflicting: list[str] = []
        for path, leaf in flatten_mapping(desired).items():
            current = have.get(path)
            if current is None or (
                current.get("type") == leaf.get("type") and not contains(current, leaf)
            ):
                addable[path] = leaf
            elif not contains(current, leaf):
                conflicting.append(path)
        dynamic = desired.get("dynamic")
        if dynamic is not None and contains(mappings.get("dynamic", True), dynamic):
            dynamic = None
        return _MappingDiff(addable, tuple(conflicting), dynamic)

    def _update_data_stream(
        self, ds: _DataStream, components: Mapping[str, Mapping[str, Any]], *, lifecycle: bool
    ) -> None:
        target = f"data stream {ds.name} mapping"
        diff = self._diff(ds.write_index, composed_mapping(ds.stream, components))
        if diff.empty:
            self._changes.append(Change(target, "unchanged"))
        if diff.addable or diff.dynamic is not None:
            refused = None if self._dry_run else self._put_mapping(ds.write_index, diff)
            if refused is None:
                detail = (
                    _fields(len(diff.addable))
                    + " added"
                    + (", dynamic: false" if diff.dynamic is not None else "")
                )
                self._changes.append(Change(target, "update", detail))
            else:
                self._changes.append(Change(target, "rollover", self._rollover_hint(ds, refused)))
        if diff.conflicting:
            shown = ", ".join(diff.conflicting[:5]) + (", ..." if len(diff.conflicting) > 5 else "")
            reason = f"{_fields(len(diff.conflicting))} mapped with another type ({shown})"
            self._changes.append(Change(target, "rollover", self._rollover_hint(ds, reason)))
        if lifecycle and ds.lifecycle is not None:
            self._update_retention(ds)

    @staticmethod
    def _rollover_hint(ds: _DataStream, reason: str) -> str:
        return f"{reason}; new backing indices get our mapping: POST {ds.name}/_rollover"

    def _update_retention(self, ds: _DataStream) -> None:
        target = f"data stream {ds.name} retention"
        retention = RETENTION[retention_class(ds.stream)]
        if ds.lifecycle is not None and ds.lifecycle.get("data_retention") == retention:
            self._changes.append(Change(target, "unchanged"))
            return
        if not self._dry_run:
            with self._errors(f"setting the retention of {ds.name}"):
                self._es.indices.put_data_lifecycle(name=ds.name, data_retention=retention)
        self._changes.append(Change(target, "update", retention))

    def _put_mapping(self, index: str, diff: _MappingDiff) -> str | None:
        """None when done, else why Elasticsearch refused (a parameter it cannot change)."""
        properties: dict[str, Any] = {}
        for path in sorted(diff.addable):
            *parents, leaf = path.split(".")
            node = properties
            for part in parents:
                node = node.setdefault(part, {"properties": {}})["properties"]
            node[leaf] = dict(diff.addable[path])
        body: dict[str, Any] = {"properties": properties}
        if diff.dynamic is not None:
            body["dynamic"] = diff.dynamic
        with self._errors(f"updating the mapping of {index}"):
            try:
                self._es.indices.put_mapping(index=index, body=body)
            except BadRequestError as exc:
                return describe_error(exc.body, "HTTP 400")
        return None


# ---- Kibana -------------------------------------------------------------------------------------

_UPDATE_KEYS: Final = ("name", "tags", "schedule", "params")
_ACTION_KEYS: Final = (
    "group",
    "id",
    "params",
    "frequency",
    "uuid",
    "alerts_filter",
    "use_alert_data_for_template",
)


class _KibanaSetup:
    """Imports the saved objects and creates or updates the rules over Kibana's HTTP API."""

    def __init__(
        self,
        url: str,
        auth: KibanaAuth | None,
        space: str | None,
        dry_run: bool,
        changes: list[Change],
    ) -> None:
        try:
            parts = httpx.URL(url)
        except httpx.InvalidURL:
            parts = httpx.URL("invalid:")
        if parts.scheme not in ("http", "https") or not parts.host:
            raise ConfigError(f"KIBANA_URL must be an http(s) URL, not {redact_url(url)!r}")
        if space is not None and not _SPACE.fullmatch(space):
            raise ConfigError(f"invalid Kibana space id {space!r}")
        auth = auth or KibanaAuth()
        base = url.rstrip("/")
        if space and space != "default":
            base += f"/s/{space}"
        verify: ssl.SSLContext | bool = True
        if auth.ca_certs:
            try:
                verify = ssl.create_default_context(cafile=auth.ca_certs)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(
                    f"cannot read the Kibana CA bundle {auth.ca_certs}: {exc}"
                ) from None
        self._where = redact_url(url)
        self._secrets = [*auth.secrets(), *([parts.password] if parts.password else [])]
        self._client = httpx.Client(
            base_url=base,
            auth=auth.httpx_auth(),
            headers={
                "kbn-xsrf": "openai-poller",
                "elastic-api-version": "2023-10-31",
                **auth.headers(),
            },
            verify=verify,
            timeout=REQUEST_TIMEOUT,
        )
        self._dry_run = dry_run
        self._changes = changes

    def close(self) -> None:
        self._client.close()

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            if len(secret) >= 3:
                text = text.replace(secret, "***")
        return text

    def _request(
        self, method: str, path: str, action: str, *, allow_missing: bool = False, **kwargs: Any
    ) -> httpx.Response | None:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise SinkUnavailableError(
                self._scrub(f"Kibana at {self._where} is unreachable ({action}): {exc}")
            ) from None
        if response.status_code == 404 and allow_missing:
            return None
        if response.is_success:
            return response
        raise self._error(action, response)

    def _error(self, action: str, response: httpx.Response) -> PollerError:
        try:
            detail = str(response.json().get("message") or response.reason_phrase)
        except ValueError:
            detail = response.text[:200] or response.reason_phrase
        status = response.status_code
        head = f"Kibana at {self._where} refused {action}: HTTP {status}"
        if status == 401:
            hint = "authentication failed: check the Kibana credentials"
            return SinkRejectedError(self._scrub(f"{head} ({hint}): {detail}"))
        if status == 403:
            hint = "the credentials lack a Kibana privilege"
            return SinkRejectedError(self._scrub(f"{head} ({hint}): {detail}"))
        if status in (408, 429) or status >= 500:
            return SinkUnavailableError(self._scrub(f"{head}: {detail}"))
        return SinkRejectedError(self._scrub(f"{head}: {detail}"))

    # -- saved objects

    def import_saved_objects(self, ndjson: str) -> None:
        lines = [line for line in ndjson.splitlines() if line]
        pending: list[str] = []
        for line in lines:
            obj = json.loads(line)
            kind, object_id = obj["type"], obj["id"]
            target = f"kibana {kind} {object_id}"
            response = self._request(
                "GET",
                f"/api/saved_objects/{kind}/{object_id}",
                f"reading {kind} {object_id}",
                allow_missing=True,
            )
            if response is None:
                self._changes.append(Change(target, "create"))
            elif self._same_object(response.json(), obj):
                self._changes.append(Change(target, "unchanged"))
                continue
            else:
                self._changes.append(Change(target, "update"))
            pending.append(line)
        if pending and not self._dry_run:
            content = "".join(line + "\n" for line in pending)
            response = self._request(
                "POST",
                "/api/saved_objects/_import",
                f"importing {len(pending)} saved objects",
                params={"overwrite": "true"},
                files={"file": ("openai-poller.ndjson", content.encode(), "application/ndjson")},
            )
            result = response.json() if response is not None else {}
            if not result.get("success", False):
                errors = "; ".join(
                    f"{e.get('type')} {e.get('id')}: {e.get('error', {}).get('type', 'error')}"
                    for e in result.get("errors", [])
                )
                raise SinkRejectedError(
                    self._scrub(f"Kibana at {self._where} refused the saved objects: {errors}")
                )

    @staticmethod
    def _same_object(installed: Mapping[str, Any], ours: Mapping[str, Any]) -> bool:
        if not contains(
            _parse_json_strings(installed.get("attributes", {})),
            _parse_json_strings(ours["attributes"]),
        ):
            return False
        have = {
            (r.get("type"), r.get("id"), r.get("name")) for r in installed.get("references", ())
        }
        return all((r["type"], r["id"], r["name"]) in have for r in ours.get("references", []))

    # -- rules

    def install_rule(self, rule_id: str, slug: str, body: Mapping[str, Any]) -> None:
        target = f"kibana rule {slug}"
        path = f"/api/alerting/rule/{rule_id}"
        response = self._request("GET", path, f"reading rule {slug}", allow_missing=True)
        if response is None:
            if not self._dry_run:
                self._request("POST", path, f"creating rule {slug}", json=dict(body))
            self._changes.append(Change(target, "create"))
            return
        installed = response.json()
        if (installed.get("rule_type_id"), installed.get("consumer")) != (
            body["rule_type_id"],
            body["consumer"],
        ):
            if not self._dry_run:
                self._request("DELETE", path, f"deleting rule {slug}")
                self._request("POST", path, f"creating rule {slug}", json=dict(body))
            self._changes.append(Change(target, "replace", "its rule type or consumer changed"))
            return
        update = self._update_body(installed, body)
        if contains(installed, update):
            self._changes.append(Change(target, "unchanged"))
            return
        if not self._dry_run:
            self._request("PUT", path, f"updating rule {slug}", json=update)
        self._changes.append(Change(target, "update"))

    @staticmethod
    def _update_body(installed: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
        """Our name, schedule and params; the user's connectors (actions) and extra tags kept."""
        update = {key: body[key] for key in _UPDATE_KEYS}
        update["tags"] = list(dict.fromkeys([*body["tags"], *installed.get("tags", [])]))
        update["actions"] = [
            {key: action[key] for key in _ACTION_KEYS if key in action}
            for action in installed.get("actions", [])
        ]
        return update


# ---- entry point --------------------------------------------------------------------------------


@contextmanager
def _kibana(
    url: str, auth: KibanaAuth | None, space: str | None, dry_run: bool, changes: list[Change]
) -> Iterator[_KibanaSetup]:
    kibana = _KibanaSetup(url, auth, space, dry_run, changes)
    try:
        yield kibana
    finally:
        kibana.close()


def _rule_bodies(
    assets: Assets, parameters: Mapping[str, Mapping[str, float | int]] | None
) -> list[tuple[str, str, dict[str, Any]]]:
    parameters = parameters or {}
    known = {rule.slug for rule in assets.rules}
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise ConfigError(f"no rule {', '.join(unknown)}; rules are: {', '.join(sorted(known))}")
    return [(r.rule_id, r.slug, r.render(parameters.get(r.slug))) for r in assets.rules]


def run_setup(
    *,
    es: Elasticsearch | None,
    kibana_url: str | None,
    kibana_auth: KibanaAuth | None = None,
    dry_run: bool = False,
    namespaces: Collection[str] | None = None,
    ilm: bool = False,
    rule_parameters: Mapping[str, Mapping[str, float | int]] | None = None,
    kibana_space: str | None = None,
    assets: Assets | None = None,
) -> SetupReport:
    """Install everything openai-poller needs in Elasticsearch and, given `kibana_url`, Kibana.

    - `es`: the cluster (the caller builds and closes the client); None skips Elasticsearch.
    - `namespaces`: whose existing `logs-openai.<stream>-<namespace>` data streams get missing
      fields (and retention) in place; None means every existing one. Templates cover all
      namespaces by pattern either way.
    - `ilm`: also install the ILM policies and hand new backing indices to them (not on
      serverless); by default retention is the data stream lifecycle in the templates.
    - `rule_parameters`: rule slug → parameter → number, e.g.
      `{"monthly-budget": {"budget_usd": 5000}}` (see kibana/README.md).
    - `dry_run`: read only; the report says what a real run would change.

    Raises ConfigError for bad arguments, SinkRejectedError when a server refuses (credentials,
    privileges, a body), SinkUnavailableError when one cannot be reached. Messages never carry
    credentials.
    """
    if es is None and not kibana_url:
        raise ConfigError("setup needs an Elasticsearch cluster, a Kibana URL, or both")
    assets = assets or load_assets()
    rules = _rule_bodies(assets, rule_parameters)
    changes: list[Change] = []
    if es is not None:
        _ElasticsearchSetup(es, dry_run, changes).run(assets, ilm=ilm, namespaces=namespaces)
    if kibana_url:
        with _kibana(kibana_url, kibana_auth, kibana_space, dry_run, changes) as kibana:
            kibana.import_saved_objects(assets.saved_objects_ndjson)
            for rule_id, slug, body in rules:
                kibana.install_rule(rule_id, slug, body)
    return SetupReport(dry_run=dry_run, changes=tuple(changes))
