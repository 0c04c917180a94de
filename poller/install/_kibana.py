"""Imports the saved objects and creates or updates the rules over Kibana's HTTP API.

Kibana accepts the same API keys and users as Elasticsearch. Every error message is scrubbed of
the credentials, including a password in the URL.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from poller.assets import RuleAsset
from poller.errors import PollerError, SinkRejectedError, SinkUnavailableError
from poller.install._compare import contains, parse_json_strings
from poller.install._report import Recorder
from poller.sinks.elasticsearch import redact_url

_SPACE: Final = re.compile(r"[a-z0-9_-]+")


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
            raise ValueError("give Kibana either an API key or a username and password")
        if (self.username is None) != (self.password is None):
            raise ValueError("a Kibana username needs a password, and a password a username")

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


class KibanaSetup:
    """Imports the saved objects and creates or updates the rules over Kibana's HTTP API."""

    def __init__(
        self,
        url: str,
        auth: KibanaAuth | None,
        space: str | None,
        record: Recorder,
        *,
        timeout: float,
    ) -> None:
        try:
            parts = httpx.URL(url)
        except httpx.InvalidURL:
            parts = httpx.URL("invalid:")
        if parts.scheme not in ("http", "https") or not parts.host:
            raise ValueError(f"KIBANA_URL must be an http(s) URL, not {redact_url(url)!r}")
        if space is not None and not _SPACE.fullmatch(space):
            raise ValueError(f"invalid Kibana space id {space!r}")
        auth = auth or KibanaAuth()
        base = url.rstrip("/")
        if space and space != "default":
            base += f"/s/{space}"
        verify: ssl.SSLContext | bool = True
        if auth.ca_certs:
            try:
                verify = ssl.create_default_context(cafile=auth.ca_certs)
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(
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
            timeout=timeout,
        )
        self._record = record

    def __enter__(self) -> KibanaSetup:
        return self

    def __exit__(self, *exc: object) -> None:
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
                self._record.add(target, "create")
            elif self._same_object(response.json(), obj):
                self._record.add(target, "unchanged")
                continue
            else:
                self._record.add(target, "update")
            pending.append(line)
        if pending and not self._record.dry_run:
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
            parse_json_strings(installed.get("attributes", {})),
            parse_json_strings(ours["attributes"]),
        ):
            return False
        have = {
            (r.get("type"), r.get("id"), r.get("name")) for r in installed.get("references", ())
        }
        return all((r["type"], r["id"], r["name"]) in have for r in ours.get("references", []))

    # -- rules

    def install_rule(
        self, rule: RuleAsset, configured: Mapping[str, float | int], *, reset: bool
    ) -> None:
        """Create the rule, or bring an existing one up to date. An existing rule keeps the
        parameters it holds in Kibana (thresholds an operator tuned there) unless `reset`; the
        rest (name, schedule, query) is ours."""
        target = f"kibana rule {rule.slug}"
        path = f"/api/alerting/rule/{rule.rule_id}"
        response = self._request("GET", path, f"reading rule {rule.slug}", allow_missing=True)
        if response is None:
            if not self._record.dry_run:
                body = rule.render(configured)
                self._request("POST", path, f"creating rule {rule.slug}", json=body)
            self._record.add(target, "create")
            return
        installed = response.json()
        kept = {} if reset else rule.parameters_in(installed)
        body = rule.render({**configured, **kept})
        note = _kept_note(kept, {**rule.parameters, **configured})
        if (installed.get("rule_type_id"), installed.get("consumer")) != (
            body["rule_type_id"],
            body["consumer"],
        ):
            if not self._record.dry_run:
                self._request("DELETE", path, f"deleting rule {rule.slug}")
                self._request("POST", path, f"creating rule {rule.slug}", json=body)
            reason = "its rule type or consumer changed"
            self._record.add(target, "replace", f"{reason}; {note}" if note else reason)
            return
        update = self._update_body(installed, body)
        if contains(installed, update):
            self._record.add(target, "unchanged", note)
            return
        if not self._record.dry_run:
            self._request("PUT", path, f"updating rule {rule.slug}", json=update)
        self._record.add(target, "update", note)

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


def _number(value: float | int) -> str:
    return repr(int(value)) if isinstance(value, float) and value.is_integer() else repr(value)


def _kept_note(kept: Mapping[str, float | int], configured: Mapping[str, float | int]) -> str:
    """Says which parameters set in Kibana were kept over other configured values."""
    differ = sorted(name for name, value in kept.items() if value != configured[name])
    if not differ:
        return ""
    held = ", ".join(f"{name}={_number(kept[name])}" for name in differ)
    wanted = ", ".join(f"{name}={_number(configured[name])}" for name in differ)
    return f"kept {held} set in Kibana; configured {wanted}: setup --reset-rules applies it"
