"""Fakes for `poller.install`: an in-memory Elasticsearch behind the real client, and a Kibana for
respx. Both answer the way the real servers do where that matters to setup: Elasticsearch 8.15
adds `lifecycle.enabled` and data stream defaults and echoes settings as strings; Kibana adds
migration fields, rule defaults and keeps user-added actions.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import httpx
from elastic_transport import BaseNode
from elastic_transport import ConnectionError as TransportConnectionError
from elasticsearch import Elasticsearch
from fakes.elasticsearch import Reply, Request, fake_client, node_class

KIBANA_URL = "http://kibana.example.internal:5601"


def _stringify(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _stringify(v) for k, v in node.items()}
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node) if isinstance(node, int | float) else node


@dataclass
class FakeCluster:
    """Component/index templates, ILM policies, ingest pipelines, data streams and their write
    indices' mappings and settings, kept in memory."""

    version: str = "8.15.3"
    flavor: str = "default"
    has_data_stream_api: bool = True
    component_templates: dict[str, Any] = field(default_factory=dict)
    index_templates: dict[str, Any] = field(default_factory=dict)
    ilm_policies: dict[str, Any] = field(default_factory=dict)
    ingest_pipelines: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)  # index → {"index.x": value}
    # data stream name → {"indices": [backing names], "lifecycle": {...}}
    data_streams: dict[str, Any] = field(default_factory=dict)
    mappings: dict[str, Any] = field(default_factory=dict)  # index → mappings
    fail: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    down: bool = False  # every request fails to connect
    # The answer of `_security/_authenticate`; None: no security API (noida-db's 400).
    authenticated: dict[str, Any] | None = None
    # The credentials' roles, which `_has_privileges` answers from; None: no security API.
    roles: list[dict[str, Any]] | None = None
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    clients: list[Elasticsearch] = field(default_factory=list)

    @property
    def writes(self) -> list[tuple[str, str, Any]]:
        return [r for r in self.requests if r[0] in ("PUT", "POST", "DELETE")]

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        self.requests.append((method, path, body))
        for (fail_method, pattern), reply in self.fail.items():
            if fail_method == method and re.fullmatch(pattern, path):
                return reply
        parts = [p for p in path.split("/") if p]
        if not parts:
            return 200, {
                "cluster_name": "fake",
                "version": {"number": self.version, "build_flavor": self.flavor},
            }
        head = parts[0]
        if head == "_security":
            answer = self.authenticated if parts[-1] == "_authenticate" else self.roles
            if answer is None:
                return 400, {"error": f"no handler found for uri [{path}] and method [{method}]"}
            if parts[-1] == "_has_privileges":
                return 200, has_privileges(self.roles or [], body)
            return 200, answer
        if head == "_component_template":
            return self._template(method, parts[1], body, self.component_templates, "component")
        if head == "_index_template":
            return self._template(method, parts[1], body, self.index_templates, "index")
        if head == "_ilm":
            return self._ilm(method, parts[2], body)
        if head == "_ingest":
            return self._pipeline(method, parts[2], body)
        if head == "_data_stream":
            return self._data_stream(method, parts, body)
        if len(parts) == 2 and parts[1] == "_mapping":
            return self._mapping(method, parts[0], body)
        if len(parts) == 2 and parts[1] == "_settings":
            return self._settings(method, parts[0], body)
        if len(parts) == 1 and method == "GET":
            names = [n for n in self.mappings if re.fullmatch(parts[0].replace("*", ".*"), n)]
            return 200, {n: {"mappings": self.mappings[n]} for n in names}
        raise AssertionError(f"unexpected request {method} {path}")

    def _template(
        self, method: str, name: str, body: Any, store: dict[str, Any], kind: str
    ) -> tuple[int, Any]:
        if method == "PUT":
            store[name] = copy.deepcopy(body)
            return 200, {"acknowledged": True}
        key = f"{kind}_templates"
        if "*" in name:  # as noida-db: 404 when nothing matches
            found = [
                {"name": n, f"{kind}_template": copy.deepcopy(store[n])}
                for n in sorted(store)
                if fnmatch.fnmatchcase(n, name)
            ]
            return (200 if found else 404), {key: found}
        if name not in store:
            return 404, {"error": {"type": "resource_not_found_exception"}, "status": 404}
        shown = copy.deepcopy(store[name])
        template = shown.get("template", {})
        if "lifecycle" in template:
            template["lifecycle"]["enabled"] = True
        if "settings" in template:
            template["settings"] = _stringify(template["settings"])
        if kind == "index" and "data_stream" in shown:
            shown["data_stream"] = {"hidden": False, "allow_custom_routing": False}
        return 200, {key: [{"name": name, f"{kind}_template": shown}]}

    def _ilm(self, method: str, name: str, body: Any) -> tuple[int, Any]:
        if method == "PUT":
            self.ilm_policies[name] = copy.deepcopy(body["policy"])
            return 200, {"acknowledged": True}
        if name not in self.ilm_policies:
            return 404, {"error": {"type": "resource_not_found_exception"}, "status": 404}
        policy = {"version": 1, "modified_date": "2026-01-01", "policy": self.ilm_policies[name]}
        return 200, {name: policy}

    def _pipeline(self, method: str, name: str, body: Any) -> tuple[int, Any]:
        if method == "PUT":
            self.ingest_pipelines[name] = copy.deepcopy(body)
            return 200, {"acknowledged": True}
        if name not in self.ingest_pipelines:
            return 404, {}
        return 200, {name: copy.deepcopy(self.ingest_pipelines[name])}

    def _settings(self, method: str, index: str, body: Any) -> tuple[int, Any]:
        """Index settings as Elasticsearch shows them with `flat_settings`: values as text."""
        if method == "PUT":
            self.settings.setdefault(index, {}).update(body)
            return 200, {"acknowledged": True}
        shown = {"index.number_of_shards": "1", **self.settings.get(index, {})}
        return 200, {index: {"settings": _stringify(shown)}}

    def _data_stream(self, method: str, parts: list[str], body: Any) -> tuple[int, Any]:
        if not self.has_data_stream_api:
            return 400, {"error": "no handler found for uri [/_data_stream] and method [GET]"}
        if method == "PUT" and parts[-1] == "_lifecycle":
            self.data_streams[parts[1]]["lifecycle"] = {"enabled": True, **body}
            return 200, {"acknowledged": True}
        pattern = parts[1].replace("*", ".*")
        found = [
            {
                "name": name,
                "indices": [{"index_name": index} for index in ds["indices"]],
                **({"lifecycle": ds["lifecycle"]} if "lifecycle" in ds else {}),
            }
            for name, ds in self.data_streams.items()
            if re.fullmatch(pattern, name)
        ]
        return 200, {"data_streams": found}

    def _mapping(self, method: str, index: str, body: Any) -> tuple[int, Any]:
        if method == "GET":
            return 200, {index: {"mappings": self.mappings[index]}}
        mapping = self.mappings.setdefault(index, {})
        if "dynamic" in body:
            mapping["dynamic"] = str(body["dynamic"]).lower()
        _merge(mapping.setdefault("properties", {}), body["properties"])
        return 200, {"acknowledged": True}

    def answer(self, request: Request) -> Reply:
        if self.down:
            raise TransportConnectionError("Connection refused")
        status, payload = self.handle(request.method, unquote(request.path), request.body)
        return Reply(status, payload)

    def client(self) -> Elasticsearch:
        client = fake_client(self.answer)
        self.clients.append(client)
        return client

    def node_class(self) -> type[BaseNode]:
        """For clients the code under test builds itself (`ElasticsearchSink(node_class=)`)."""
        return node_class(self.answer)


def _granted(roles: list[dict[str, Any]], name: str) -> set[str]:
    """The privileges `roles` grant on index `name`: an entry covers a name it equals or whose
    pattern matches it (`logs-openai.*` covers `logs-openai.audit-*`)."""
    return {
        privilege
        for role in roles
        for entry in role.get("indices", [])
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in entry["names"])
        for privilege in entry["privileges"]
    }


def _application(roles: list[dict[str, Any]], application: str, resource: str) -> set[str]:
    return {
        privilege
        for role in roles
        for entry in role.get("applications", [])
        if entry["application"] == application and resource in entry["resources"]
        for privilege in entry["privileges"]
    }


def has_privileges(roles: list[dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
    """`_security/user/_has_privileges` answered from role bodies, as Elasticsearch shapes it
    (exact privilege names, or `all`)."""
    cluster = {p for role in roles for p in role.get("cluster", [])}
    every: list[bool] = []

    def held(privilege: str, granted: set[str]) -> bool:
        every.append(privilege in granted or "all" in granted)
        return every[-1]

    answer: dict[str, Any] = {
        "cluster": {p: held(p, cluster) for p in body.get("cluster", [])},
        "index": {},
        "application": {},
    }
    for entry in body.get("index", []):
        for name in entry["names"]:
            granted = _granted(roles, name)
            answer["index"][name] = {p: held(p, granted) for p in entry["privileges"]}
    for entry in body.get("application", []):
        app = answer["application"].setdefault(entry["application"], {})
        for resource in entry["resources"]:
            granted = _application(roles, entry["application"], resource)
            app[resource] = {p: held(p, granted) for p in entry["privileges"]}
    answer["has_all_requested"] = all(every)
    return answer


def _merge(into: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict) and "properties" in value:
            _merge(into[key].setdefault("properties", {}), value["properties"])
        else:
            into[key] = copy.deepcopy(value)


def multipart_file(request: httpx.Request) -> tuple[str, bytes]:
    """(filename, content) of the `file` part of a multipart request."""
    boundary = request.headers["content-type"].split("boundary=")[1].encode()
    for part in request.content.split(b"--" + boundary):
        head, _, content = part.partition(b"\r\n\r\n")
        if b'name="file"' in head:
            filename = re.search(rb'filename="([^"]+)"', head)
            assert filename is not None
            return filename.group(1).decode(), content.removesuffix(b"\r\n")
    raise AssertionError("no file part")


@dataclass
class FakeKibana:
    """Saved objects and alerting rules, answering like Kibana 8.x."""

    objects: dict[tuple[str, str], Any] = field(default_factory=dict)
    rules: dict[str, Any] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    imports: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)
    status: int | None = None  # answer every request with this status, when set
    import_errors: list[dict[str, Any]] = field(default_factory=list)  # a refused import

    @property
    def writes(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method != "GET"]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.status is not None:
            return httpx.Response(self.status, json={"message": "nope"})
        path = re.sub(r"^/s/[^/]+", "", request.url.path)
        if path == "/api/saved_objects/_import":
            return self._import(request)
        match = re.fullmatch(r"/api/saved_objects/([^/]+)/([^/]+)", path)
        if match:
            stored = self.objects.get((match.group(1), match.group(2)))
            if stored is None:
                return httpx.Response(404, json={"statusCode": 404, "message": "Not Found"})
            return httpx.Response(200, json=stored)
        match = re.fullmatch(r"/api/alerting/rule/([^/]+)", path)
        if match:
            return self._rule(request, match.group(1))
        raise AssertionError(f"unexpected request {request.method} {request.url}")

    def _import(self, request: httpx.Request) -> httpx.Response:
        name, content = multipart_file(request)
        self.imports.append((name, content, dict(request.url.params)))
        if self.import_errors:
            return httpx.Response(200, json={"success": False, "errors": self.import_errors})
        for line in content.decode().splitlines():
            obj = json.loads(line)
            stored = {
                **obj,
                "namespaces": ["default"],
                "updated_at": "2026-11-22T00:00:00.000Z",
                "version": "WzEsMV0=",
                "typeMigrationVersion": "10.2.0",
            }
            self.objects[(obj["type"], obj["id"])] = stored
        return httpx.Response(200, json={"success": True, "successCount": 1})

    def _rule(self, request: httpx.Request, rule_id: str) -> httpx.Response:
        if request.method == "GET":
            if rule_id not in self.rules:
                return httpx.Response(404, json={"message": f"Saved object [alert/{rule_id}]"})
            return httpx.Response(200, json=self.rules[rule_id])
        if request.method == "DELETE":
            self.rules.pop(rule_id)
            return httpx.Response(204)
        body = json.loads(request.content)
        if request.method == "POST":
            if rule_id in self.rules:
                return httpx.Response(409, json={"message": "conflict"})
            stored = {**body, "id": rule_id, "enabled": True, "mute_all": False}
        else:
            assert "rule_type_id" not in body and "consumer" not in body
            stored = {**self.rules[rule_id], **body}
        stored["params"] = {"excludeHitsFromPreviousRun": True, **stored["params"]}
        stored["actions"] = [
            {"connector_type_id": ".slack", **action} for action in stored.get("actions", [])
        ]
        self.rules[rule_id] = stored
        return httpx.Response(200, json=stored)
