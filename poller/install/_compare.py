"""Whether an installed body already holds ours.

"Equal" means: everything we would send is present in the installed body with the same values
(servers add defaults such as `lifecycle.enabled`, Kibana adds migration fields), and, for
Elasticsearch, the installed `_meta.content_hash` is the hash of our body, so a field we dropped
from a newer template is noticed too. Kibana objects carry no hash; they are compared by content,
so a Kibana whose migrations rewrite an object gets it re-imported on every run, which is harmless.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from poller.assets import Template


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


def parse_json_strings(node: Any) -> Any:
    """Kibana keeps nested JSON as strings (panelsJSON, searchSourceJSON): compare them parsed."""
    if isinstance(node, str) and node[:1] in ("{", "["):
        try:
            return parse_json_strings(json.loads(node))
        except ValueError:
            return node
    if isinstance(node, Mapping):
        return {key: parse_json_strings(value) for key, value in node.items()}
    if isinstance(node, list):
        return [parse_json_strings(item) for item in node]
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


def matches(kind: str, installed: Mapping[str, Any], desired: dict[str, Any]) -> bool:
    if kind != "ilm_policy":
        installed = dict(installed)
        template = installed.get("template")
        if isinstance(template, Mapping) and "settings" in template:
            installed["template"] = {**template, "settings": _expand_dots(template["settings"])}
    return contains(installed, desired)
