"""Whether credentials hold a role's privileges, and the role body that would add what is
missing: `doctor` prints it, ready to paste into `PUT _security/role/<name>` or an API key's
`role_descriptors`.

The roles themselves ship with the assets (`mappings/roles/`, explained in
docs/elasticsearch-privileges.md); the writer's names the default state and dead-letter indices,
which `writer_role` replaces by a deployment's own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from elasticsearch import ApiError, Elasticsearch

from poller.assets import PREFIX, Assets, load_assets
from poller.defaults import DEFAULT_DEADLETTER_INDEX, DEFAULT_STATE_INDEX
from poller.install._cluster import errors_for
from poller.sinks.elasticsearch import describe_error

WRITER_ROLE: Final = f"{PREFIX}-writer"
SETUP_ROLE: Final = f"{PREFIX}-setup"
_GRANTS: Final = ("cluster", "indices", "applications")  # what a role grants; not its metadata


def _role(assets: Assets | None, name: str) -> dict[str, Any]:
    roles = (assets or load_assets()).roles
    if name not in roles:
        raise FileNotFoundError(
            f"the packaged role {name} is missing; reinstall openai-poller, or run "
            "`python -m tools.assets` in a source checkout"
        )
    body: dict[str, Any] = json.loads(json.dumps(roles[name]))
    return body


def writer_role(
    *,
    state_index: str = DEFAULT_STATE_INDEX,
    deadletter_index: str = DEFAULT_DEADLETTER_INDEX,
    assets: Assets | None = None,
) -> dict[str, Any]:
    """The role `run` and `backfill` need, for a deployment with these state and dead-letter
    indices."""
    body = _role(assets, WRITER_ROLE)
    rename = {DEFAULT_STATE_INDEX: state_index, DEFAULT_DEADLETTER_INDEX: deadletter_index}
    for entry in body["indices"]:
        entry["names"] = [rename.get(name, name) for name in entry["names"]]
    return body


def setup_role(assets: Assets | None = None) -> dict[str, Any]:
    """The role `setup` needs: templates, lifecycle, the pipeline, Kibana's saved objects and
    rules, and reading the data streams its rules query."""
    return _role(assets, SETUP_ROLE)


@dataclass(frozen=True)
class PrivilegeReport:
    """What credentials lack of a role. `checked` is False when the cluster could not tell
    (security disabled, or no security API; `note` says why); `missing` is a role body of only
    the privileges not held, empty when none are missing."""

    checked: bool
    missing: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""

    @property
    def ok(self) -> bool:
        return not self.missing

    def missing_names(self) -> list[str]:
        """`cluster:<privilege>`, `<index>:<privilege>`, `<application>:<privilege>`."""
        names = [f"cluster:{p}" for p in self.missing.get("cluster", [])]
        for entry in self.missing.get("indices", []):
            names += [f"{n}:{p}" for n in entry["names"] for p in entry["privileges"]]
        for entry in self.missing.get("applications", []):
            names += [f"{entry['application']}:{p}" for p in entry["privileges"]]
        return names

    def fix(self) -> str:
        """The missing privileges as an indented role body."""
        return json.dumps(self.missing, indent=2)


def _grouped(missing: Mapping[str, tuple[str, ...]]) -> list[tuple[list[str], list[str]]]:
    """Names that lack the same privileges, together: (names, privileges), in first order."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for name, privileges in missing.items():
        groups.setdefault(privileges, []).append(name)
    return [(names, list(privileges)) for privileges, names in groups.items()]


def _missing_role(role: Mapping[str, Any], answer: Mapping[str, Any]) -> dict[str, Any]:
    cluster = answer.get("cluster", {})
    out: dict[str, Any] = {}
    lacking = [p for p in role.get("cluster", []) if not cluster.get(p, False)]
    if lacking:
        out["cluster"] = lacking
    index_answer = answer.get("index", {})
    by_index: dict[str, tuple[str, ...]] = {}
    for entry in role.get("indices", []):
        for name in entry["names"]:
            held = index_answer.get(name, {})
            lack = tuple(p for p in entry["privileges"] if not held.get(p, False))
            if lack:
                by_index[name] = lack
    if by_index:
        out["indices"] = [
            {"names": names, "privileges": privileges}
            for names, privileges in _grouped(by_index)
        ]
    apps = []
    for entry in role.get("applications", []):
        held = answer.get("application", {}).get(entry["application"], {})
        for resource in entry["resources"]:
            absent = [p for p in entry["privileges"] if not held.get(resource, {}).get(p, False)]
            if absent:
                apps.append(
                    {
                        "application": entry["application"],
                        "privileges": absent,
                        "resources": [resource],
                    }
                )
    if apps:
        out["applications"] = apps
    return out


def check_privileges(es: Elasticsearch, role: Mapping[str, Any]) -> PrivilegeReport:
    """Ask the cluster (`_security/user/_has_privileges`) whether the client's credentials hold
    every privilege of `role`.

    SinkRejectedError when the cluster refuses the credentials themselves (401, 403),
    SinkUnavailableError when it cannot be reached; any other refusal of the question (no
    security API, security disabled) is an unchecked report.
    """
    grants = {key: role[key] for key in _GRANTS if role.get(key)}
    errors = errors_for(es)
    with errors("checking privileges"):
        try:
            answer = es.security.has_privileges(
                cluster=grants.get("cluster"),
                index=[
                    {"names": entry["names"], "privileges": entry["privileges"]}
                    for entry in grants.get("indices", [])
                ]
                or None,
                application=[
                    {
                        "application": entry["application"],
                        "privileges": entry["privileges"],
                        "resources": entry["resources"],
                    }
                    for entry in grants.get("applications", [])
                ]
                or None,
            ).body
        except ApiError as exc:
            if exc.meta.status in (401, 403):
                raise
            reason = describe_error(exc.body, f"HTTP {exc.meta.status}")
            return PrivilegeReport(False, note=f"the cluster cannot say: {reason}")
    return PrivilegeReport(True, _missing_role(grants, answer))
