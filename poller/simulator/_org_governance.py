"""Governance settings: mTLS certificates, data retention, model and hosted-tool permissions.

Settings agree with the traffic: a project with a model allow list allows every model its
current traffic calls, and a deny list never names one; every hosted tool its current traffic
uses (file search, web search, code interpreter, image generation) is enabled. The first
certificates are the ones the audit log names, with the same ids. A project's certificate list
holds every organization certificate, `active` saying whether it is activated for the project.

Settings change over time, deterministically (`Governance.changes`, served by
`governance_at`): from 30 days before the horizon on, one change every `CHANGE_EVERY_DAYS`
days, at a random hour: a project's data retention, its allow or deny list gaining or losing
a costly model it does not use, a hosted tool it does not use switched, or the organization's data
retention. Each keeps the agreement with the traffic above.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Final

from poller.simulator.model import JSON, Governance, GovernanceChange
from poller.simulator.org_audit_payloads import Fixtures
from poller.simulator.org_combos import OPEN_END, Plan
from poller.simulator.org_rng import random_token
from poller.simulator.org_roster import HORIZON_DAY, ORG_CREATED_DAY, Roster
from poller.simulator.org_time import DAY, HOUR, day_start
from poller.streams import USAGE_ENDPOINTS

__all__ = ["CHANGE_EVERY_DAYS", "build_governance", "governance_at"]

_EXTRA_CERTIFICATES: Final = ("partner-gateway", "mtls-eu-west", "ci-runners", "mtls-legacy")
_PEM_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_ORG_RETENTION: Final = {
    "zero_data_retention": 3,
    "modified_abuse_monitoring": 4,
    "enhanced_zero_data_retention": 1,
    "enhanced_modified_abuse_monitoring": 1,
}
_PROJECT_RETENTION: Final = ("none", "zero_data_retention", "modified_abuse_monitoring")
_COSTLY_MODELS: Final = ("o1-pro", "o3-pro", "gpt-4.5-preview", "gpt-5-pro", "gpt-realtime")
_TOOL_STREAMS: Final = {
    "file_search": "file_search_calls",
    "web_search": "web_search_calls",
    "image_generation": "images",
    "code_interpreter": "code_interpreter_sessions",
}
_TOOLS: Final = ("file_search", "web_search", "image_generation", "mcp", "code_interpreter")
CHANGE_EVERY_DAYS: Final = 3
_CHANGE_DAYS: Final = range(HORIZON_DAY - 30, HORIZON_DAY + 400, CHANGE_EVERY_DAYS)


@dataclass
class _Current:
    """What a project's traffic uses now: the lines that never end."""

    models: set[str] = field(default_factory=set)
    streams: set[str] = field(default_factory=set)


def build_governance(
    rng: random.Random, roster: Roster, plan: Plan, fixtures: Fixtures, certificates: int
) -> Governance:
    current = _current_use(plan)
    made = _certificates(rng, fixtures, certificates)
    projects = roster.projects
    default = projects[0].id  # the oldest project: the one every organization starts with
    base = Governance(
        certificates=[_listed(cert, "organization.certificate", cert.active) for cert in made],
        certificate_pems={cert.id: cert.pem for cert in made},
        project_certificates={
            p.id: [
                _listed(cert, "organization.project.certificate", rng.random() < 0.3)
                for cert in made
            ]
            for p in projects
        },
        data_retention={
            "object": "organization.data_retention",
            "type": rng.choices(list(_ORG_RETENTION), list(_ORG_RETENTION.values()))[0],
        },
        project_data_retention={
            p.id: {"object": "project.data_retention", "type": _project_retention(rng)}
            for p in projects
        },
        model_permissions={
            p.id: _model_permissions(rng, current.get(p.id, _Current()), default=p.id == default)
            for p in projects
        },
        hosted_tool_permissions={
            p.id: _tool_permissions(rng, current.get(p.id, _Current())) for p in projects
        },
    )
    others = [p.id for p in projects if p.id != default and p.archived_at is None]
    return replace(base, changes=_changes(rng, base, others, current))


def governance_at(governance: Governance, now: float) -> Governance:
    """The settings in force at `now`: every change at or before it applied."""
    settings: dict[str, dict[str | None, JSON]] = {}
    for change in governance.changes:
        if change.at > now:
            break
        settings.setdefault(change.setting, {})[change.project_id] = change.value
    if not settings:
        return governance
    return replace(
        governance,
        data_retention=settings.get("data_retention", {}).get(None, governance.data_retention),
        project_data_retention=_updated(governance.project_data_retention, settings, "project"),
        model_permissions=_updated(governance.model_permissions, settings, "model"),
        hosted_tool_permissions=_updated(governance.hosted_tool_permissions, settings, "tools"),
    )


_FIELDS: Final = {
    "project": "project_data_retention",
    "model": "model_permissions",
    "tools": "hosted_tool_permissions",
}


def _updated(
    items: Mapping[str, JSON], settings: Mapping[str, Mapping[str | None, JSON]], name: str
) -> Mapping[str, JSON]:
    values = settings.get(_FIELDS[name])
    if not values:
        return items
    return {**items, **{str(key): value for key, value in values.items()}}


def _changes(
    rng: random.Random, base: Governance, projects: list[str], current: dict[str, _Current]
) -> list[GovernanceChange]:
    """The schedule of changes, each from the settings the previous ones left."""
    state: dict[str, dict[str | None, JSON]] = {
        "data_retention": {None: base.data_retention},
        "project_data_retention": _by_project(base.project_data_retention),
        "model_permissions": _by_project(base.model_permissions),
        "hosted_tool_permissions": _by_project(base.hosted_tool_permissions),
    }
    made = []
    for day in _CHANGE_DAYS:
        at = day_start(day) + rng.randrange(8 * HOUR, 20 * HOUR)
        project = rng.choice(projects) if projects and rng.random() < 0.9 else None
        use = current.get(project or "", _Current())
        setting, value = _next_value(rng, state, project, use)
        state[setting][project] = value
        made.append(GovernanceChange(at, setting, project, value))
    return made


def _by_project(items: Mapping[str, JSON]) -> dict[str | None, JSON]:
    return {project: value for project, value in items.items()}


def _next_value(
    rng: random.Random, state: dict[str, dict[str | None, JSON]], project: str | None, use: _Current
) -> tuple[str, JSON]:
    if project is None:
        now = state["data_retention"][None]["type"]
        kind = rng.choice([t for t in _ORG_RETENTION if t != now])
        return "data_retention", {"object": "organization.data_retention", "type": kind}
    draw = rng.random()
    permissions = state["model_permissions"][project]
    unused = [m for m in _COSTLY_MODELS if m not in use.models]
    if draw < 0.4 and unused:
        model = rng.choice(unused)
        denied = set(permissions["model_ids"]) ^ {model}
        value = {**permissions, "model_ids": sorted(denied)}
        return "model_permissions", value
    spare = [t for t, s in _TOOL_STREAMS.items() if s not in use.streams] + ["mcp"]
    if draw < 0.7:
        tool = rng.choice(spare)
        tools = state["hosted_tool_permissions"][project]
        return "hosted_tool_permissions", {
            **tools, tool: {"enabled": not tools[tool]["enabled"]}
        }
    now = state["project_data_retention"][project]["type"]
    kinds = ["organization_default", *_PROJECT_RETENTION]
    kind = rng.choice([t for t in kinds if t != now])
    return "project_data_retention", {"object": "project.data_retention", "type": kind}


def _current_use(plan: Plan) -> dict[str, _Current]:
    uses: dict[str, _Current] = {}
    for stream, combos in plan.combos.items():
        dimensions = USAGE_ENDPOINTS[stream].dimensions
        for combo in combos:
            if combo.end_day != OPEN_END:
                continue
            dims = dict(zip(dimensions, combo.dims, strict=True))
            use = uses.setdefault(str(dims["project_id"]), _Current())
            use.streams.add(stream)
            if dims.get("model"):
                use.models.add(str(dims["model"]))
    return uses


@dataclass(frozen=True)
class _Certificate:
    id: str
    name: str
    created_at: int
    valid_at: int
    expires_at: int
    active: bool
    pem: str


def _certificates(rng: random.Random, fixtures: Fixtures, count: int) -> list[_Certificate]:
    names = [(c.id, c.name, True) for c in fixtures.certificates]
    names += [
        ("cert_" + random_token(rng, 20), name, rng.random() < 0.5)
        for name in _EXTRA_CERTIFICATES[: max(0, count - len(names))]
    ]
    made = []
    for cert_id, name, active in names:
        created = day_start(rng.randint(ORG_CREATED_DAY + 90, HORIZON_DAY - 90))
        created += rng.randrange(8 * HOUR, 18 * HOUR)
        valid = created - rng.randrange(0, 3 * DAY)
        made.append(
            _Certificate(
                id=cert_id,
                name=name,
                created_at=created,
                valid_at=valid,
                expires_at=valid + rng.choice((365, 398, 730)) * DAY,
                active=active,
                pem=_pem(rng),
            )
        )
    return sorted(made, key=lambda cert: cert.created_at)


def _pem(rng: random.Random) -> str:
    """A PEM-armoured blob shaped like a certificate (DER starts `MII`); not a real one."""
    body = "MII" + random_token(rng, 790, _PEM_ALPHABET)
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def _listed(cert: _Certificate, kind: str, active: bool) -> JSON:
    return {
        "object": kind,
        "id": cert.id,
        "name": cert.name,
        "created_at": cert.created_at,
        "certificate_details": {"valid_at": cert.valid_at, "expires_at": cert.expires_at},
        "active": active,
    }


def _project_retention(rng: random.Random) -> str:
    return "organization_default" if rng.random() < 0.7 else rng.choice(_PROJECT_RETENTION)


def _model_permissions(rng: random.Random, current: _Current, *, default: bool) -> JSON:
    """The default project is unrestricted; others allow what they use or deny costly models."""
    draw = rng.random()
    if default:
        mode, models = "deny_list", []
    elif draw < 0.3 and current.models:
        mode, models = "allow_list", sorted(current.models)
    elif draw < 0.6:
        unused = [model for model in _COSTLY_MODELS if model not in current.models]
        mode, models = "deny_list", rng.sample(unused, rng.randint(1, min(3, len(unused))))
    else:
        mode, models = "deny_list", []
    return {"object": "project.model_permissions", "mode": mode, "model_ids": models}


def _tool_permissions(rng: random.Random, current: _Current) -> JSON:
    used = {tool for tool, stream in _TOOL_STREAMS.items() if stream in current.streams}
    return {tool: {"enabled": tool in used or rng.random() < 0.6} for tool in _TOOLS}
