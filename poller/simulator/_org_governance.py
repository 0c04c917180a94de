"""Governance settings: mTLS certificates, data retention, model and hosted-tool permissions.

Settings agree with the traffic: a project with a model allow list allows every model its
current traffic calls, and a deny list never names one; every hosted tool its current traffic
uses (file search, web search, code interpreter, image generation) is enabled. The first
certificates are the ones the audit log names, with the same ids. A project's certificate list
holds every organization certificate, `active` saying whether it is activated for the project.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Final

from poller.simulator.model import JSON, Governance
from poller.simulator.org_audit_payloads import Fixtures
from poller.simulator.org_combos import OPEN_END, Plan
from poller.simulator.org_rng import random_token
from poller.simulator.org_roster import HORIZON_DAY, ORG_CREATED_DAY, Roster
from poller.simulator.org_time import DAY, HOUR, day_start
from poller.streams import USAGE_ENDPOINTS

__all__ = ["build_governance"]

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
    return Governance(
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
