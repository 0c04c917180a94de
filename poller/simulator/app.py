"""The simulator's HTTP layer: a WSGI application serving a `SimOrganization` under OpenAI's paths.

Pure request → response: the organization supplies the numbers and the directory, the HTTP
layer everything request-shaped. This module holds the request's way through it: routing, auth,
throttling, faults and stats, in the order below; the operations themselves live in
`_usage_endpoints` (buckets, `group_by` projection, filters), `_audit_endpoint`,
`_directory_endpoints` (cursor paging, `_cursor_lists`), `_spend_endpoints`,
`_access_endpoints` (`next` paging, `_next_lists`) and `_governance_endpoints`, the checks in
`_auth` and `params`.
Clock and sleep are injected, so tests run it in-process (`httpx.WSGITransport`) with exact times
and no real waiting; `server.py` puts it on a socket.

Where the spec is silent the simulator chooses, and says so here:
- unknown query parameters, and filters an endpoint does not take, are ignored;
- a scalar parameter given twice takes its last value; a blank value counts as absent;
- `event_types[]` values are not checked against the 145-value enum: unknown types match nothing;
- tenant-scoped audit events (`tenant.*`, `role.bound_to_resource`, `role.unbound_from_resource`)
  are listed only with `tenant_only=true`, which then rejects other event types with a 400;
- an `after`/`before` id that names no object answers 400 (param `after`/`before`);
- `limit` is 1..100 on every list, rate limits and admin keys included (the spec gives no max),
  except where the spec says otherwise (spend alerts 0..100; groups, roles and their
  assignments up to 1000, from 0);
- project API keys without `owner_project_access` list only keys whose owner has access;
- the last bucket of a usage page is clipped at `end_time` like the first at `start_time`;
- a `next_page` token carries the query's fingerprint without `limit`: pages may be resized;
- order of checks: path (404), method (405), key (401), `--rate-limit` (429), then one fault
  draw; `drift` and `malformed` only ever alter a 200, `timeout` stalls and then answers;
- a missing key is a 401 with code `invalid_api_key` too; a project key's is code null.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final
from wsgiref.types import StartResponse, WSGIEnvironment

from poller.simulator._access_endpoints import AccessEndpoints
from poller.simulator._audit_endpoint import (
    TENANT_SCOPED_ROLE_EVENTS,
    AuditEndpoint,
    is_tenant_scoped,
)
from poller.simulator._auth import authenticate, bearer_key, redact
from poller.simulator._directory_endpoints import DirectoryEndpoints
from poller.simulator._governance_endpoints import GovernanceEndpoints
from poller.simulator._routing import Call, Handler, Route, match_route
from poller.simulator._spend_endpoints import SpendEndpoints
from poller.simulator._usage_endpoints import UsageEndpoints
from poller.simulator.faults import FAULT_KINDS, FaultInjector, FaultPlan, drift, truncate
from poller.simulator.model import JSON, SimOrganization
from poller.simulator.params import ApiError, Query
from poller.simulator.ratelimit import TokenBuckets
from poller.simulator.stats import Stats
from poller.streams import USAGE_ENDPOINTS

__all__ = [
    "TENANT_SCOPED_ROLE_EVENTS",
    "UNMATCHED",
    "Call",
    "SimulatorApp",
    "is_tenant_scoped",
    "redact",
]

log = logging.getLogger(__name__)

UNMATCHED: Final = "<unmatched>"  # the stats key of every path outside the spec
USAGE_SCOPE: Final = "api.usage.read"
AUDIT_SCOPE: Final = "api.audit_logs.read"
MANAGEMENT_SCOPE: Final = "api.management.read"

_SERVER_ERRORS: Final = {
    "500": "The server had an error while processing your request. Sorry about that!",
    "502": "Bad gateway.",
    "503": "The server is overloaded or not ready yet.",
}


@dataclass(frozen=True)
class _Response:
    status: int
    payload: bytes
    headers: tuple[tuple[str, str], ...] = ()


class SimulatorApp:
    """The WSGI application. Thread-safe: the server calls it from one thread per request."""

    def __init__(  # noqa: PLR0913 - the simulator's knobs, each a CLI flag, kept flat for its tests
        self,
        org: SimOrganization,
        *,
        admin_key: str,
        faults: FaultPlan | None = None,
        seed: int = 0,
        rate_limit_rpm: float = 0.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        stall_seconds: float = 30.0,
        fault_retry_after_ms: int = 1000,
    ) -> None:
        self._admin_key = admin_key.encode()
        self._clock = clock
        self._sleep = sleep
        self._stall_seconds = stall_seconds
        self._fault_retry_after_ms = fault_retry_after_ms
        self._faults = FaultInjector(faults or FaultPlan(), seed)
        self._buckets = TokenBuckets(rate_limit_rpm) if rate_limit_rpm > 0 else None
        self._rate_limit_rpm = rate_limit_rpm
        self._organization_id = org.organization_id
        self.stats = Stats(FAULT_KINDS)
        self._routes = _routes(org)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        response = self._respond(environ)
        headers = [
            ("content-type", "application/json"),
            ("content-length", str(len(response.payload))),
            ("x-request-id", f"req_{uuid.uuid4().hex}"),
            *response.headers,
        ]
        start_response(f"{response.status} {HTTPStatus(response.status).phrase}", headers)
        return [response.payload]

    def _respond(self, environ: WSGIEnvironment) -> _Response:
        path = environ.get("PATH_INFO") or "/"
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if path == "/_sim" or path.startswith("/_sim/"):
            return self._control(method, path)
        return self._api(environ, method, path)

    # --- /v1 ------------------------------------------------------------------------------------

    def _api(self, environ: WSGIEnvironment, method: str, path: str) -> _Response:
        now = self._clock()
        key = bearer_key(environ)
        client = None if key is None else hashlib.sha256(key.encode()).hexdigest()[:16]
        self.stats.arrived(client, now)
        route, params = match_route(self._routes, path)
        try:
            if route is None:
                raise ApiError(404, f"Invalid URL ({method} {path})")
            if method != "GET":
                raise ApiError(
                    405, f"Invalid method for URL ({method} {path})", headers=[("allow", "GET")]
                )
            authenticate(key, self._admin_key, route.scope)
            response = self._serve(route, params, environ, client, now)
        except ApiError as error:
            response = _Response(error.status, _dumps(error.body), error.headers)
        except Exception:
            log.exception("simulator handler failed for %s", route.template if route else path)
            failure = ApiError(500, _SERVER_ERRORS["500"], error_type="server_error")
            response = _Response(500, _dumps(failure.body))
        self.stats.answered(route.template if route else UNMATCHED, response.status)
        return response

    def _serve(
        self,
        route: Route,
        params: Mapping[str, str],
        environ: WSGIEnvironment,
        client: str | None,
        now: float,
    ) -> _Response:
        if self._buckets is not None and client is not None:
            wait = self._buckets.take(client, now)
            if wait > 0:
                self.stats.rate_limited()
                raise self._too_many_requests(client, now, wait, self._rate_limit_message(wait))
        fault = self._faults.draw()
        if fault is not None:
            self.stats.fault(fault)
            self._fail_or_stall(fault, client, now)
        body = route.handler(Call(Query(environ.get("QUERY_STRING", "")), params, now))
        payload = _dumps(drift(body) if fault == "drift" else body)
        if fault == "malformed":
            payload = truncate(payload)
        return _Response(200, payload)

    def _fail_or_stall(self, fault: str, client: str | None, now: float) -> None:
        """The faults that replace the answer raise it; `timeout` stalls before answering."""
        if fault == "429":
            wait = self._fault_retry_after_ms / 1000
            raise self._too_many_requests(client, now, wait, self._rate_limit_message(wait))
        if fault in _SERVER_ERRORS:
            raise ApiError(int(fault), _SERVER_ERRORS[fault], error_type="server_error")
        if fault == "timeout":
            self._sleep(self._stall_seconds)

    def _too_many_requests(
        self, client: str | None, now: float, wait: float, message: str
    ) -> ApiError:
        milliseconds = max(1, math.ceil(wait * 1000))
        self.stats.told_to_wait(client, now + milliseconds / 1000)
        return ApiError(
            429,
            message,
            error_type="requests",
            code="rate_limit_exceeded",
            headers=[
                ("retry-after", str(max(1, math.ceil(milliseconds / 1000)))),
                ("retry-after-ms", str(milliseconds)),
            ],
        )

    def _rate_limit_message(self, wait: float) -> str:
        limit = f"Limit {self._rate_limit_rpm:g}, " if self._rate_limit_rpm else ""
        return (
            f"Rate limit reached for admin API requests in organization {self._organization_id} "
            f"on requests per min (RPM): {limit}Requested 1. Please try again in {wait:.3g}s."
        )

    # --- /_sim ----------------------------------------------------------------------------------

    def _control(self, method: str, path: str) -> _Response:
        expected = {"/_sim/stats": "GET", "/_sim/reset": "POST"}.get(path)
        if expected is None:
            error = ApiError(404, f"Invalid URL ({method} {path})")
            return _Response(404, _dumps(error.body))
        if method != expected:
            error = ApiError(405, f"Invalid method for URL ({method} {path})")
            return _Response(405, _dumps(error.body), (("allow", expected),))
        if path == "/_sim/reset":
            self.stats.reset()
        return _Response(200, _dumps(self.stats.snapshot()))


def _dumps(body: JSON) -> bytes:
    """Compact JSON; bodies are fresh trees, so the cycle check is skipped (large pages)."""
    return json.dumps(body, separators=(",", ":"), check_circular=False).encode()


def _routes(org: SimOrganization) -> tuple[Route, ...]:
    """Every path the simulator serves, with the scope a key needs for it."""
    usage_api, audit_api = UsageEndpoints(org), AuditEndpoint(org)
    api = DirectoryEndpoints(org.directory)
    spend = SpendEndpoints(org.directory, org.spend)
    access = AccessEndpoints(org.directory, org.access)
    gov = GovernanceEndpoints(org.directory, org.governance)

    def usage(stream: str) -> Handler:
        return lambda call: usage_api.buckets(stream, call)

    routes = [
        Route(f"/v1{endpoint.path}", USAGE_SCOPE, usage(stream))
        for stream, endpoint in USAGE_ENDPOINTS.items()
    ]
    management = {
        "/organization/projects": api.projects,
        "/organization/projects/{project_id}": api.project,
        "/organization/users": api.users,
        "/organization/users/{user_id}": api.user,
        "/organization/projects/{project_id}/users": api.project_users,
        "/organization/projects/{project_id}/users/{user_id}": api.project_user,
        "/organization/projects/{project_id}/api_keys": api.project_api_keys,
        "/organization/projects/{project_id}/api_keys/{api_key_id}": api.project_api_key,
        "/organization/projects/{project_id}/service_accounts": api.service_accounts,
        "/organization/projects/{project_id}/service_accounts/{service_account_id}": (
            api.service_account
        ),
        "/organization/projects/{project_id}/rate_limits": api.rate_limits,
        "/organization/admin_api_keys": api.admin_api_keys,
        "/organization/admin_api_keys/{key_id}": api.admin_api_key,
        "/organization/spend_limit": spend.spend_limit,
        "/organization/projects/{project_id}/spend_limit": spend.project_spend_limit,
        "/organization/spend_alerts": spend.spend_alerts,
        "/organization/spend_alerts/{alert_id}": spend.spend_alert,
        "/organization/projects/{project_id}/spend_alerts": spend.project_spend_alerts,
        "/organization/projects/{project_id}/spend_alerts/{alert_id}": spend.project_spend_alert,
        "/organization/roles": access.roles,
        "/organization/roles/{role_id}": access.role,
        "/organization/groups": access.groups,
        "/organization/groups/{group_id}": access.group,
        "/organization/groups/{group_id}/users": access.group_users,
        "/organization/groups/{group_id}/users/{user_id}": access.group_user,
        "/organization/groups/{group_id}/roles": access.group_roles,
        "/organization/groups/{group_id}/roles/{role_id}": access.group_role,
        "/organization/users/{user_id}/roles": access.user_roles,
        "/organization/users/{user_id}/roles/{role_id}": access.user_role,
        "/organization/projects/{project_id}/groups": access.project_groups,
        "/organization/projects/{project_id}/groups/{group_id}": access.project_group,
        "/organization/invites": access.invites,
        "/organization/invites/{invite_id}": access.invite,
        "/organization/certificates": gov.certificates,
        "/organization/certificates/{certificate_id}": gov.certificate,
        "/organization/projects/{project_id}/certificates": gov.project_certificates,
        "/organization/data_retention": gov.data_retention,
        "/organization/projects/{project_id}/data_retention": gov.project_data_retention,
        "/organization/projects/{project_id}/model_permissions": gov.model_permissions,
        "/organization/projects/{project_id}/hosted_tool_permissions": (
            gov.hosted_tool_permissions
        ),
    }
    routes.append(Route("/v1/organization/audit_logs", AUDIT_SCOPE, audit_api.audit_logs))
    routes.extend(Route(f"/v1{path}", MANAGEMENT_SCOPE, h) for path, h in management.items())
    return tuple(routes)
