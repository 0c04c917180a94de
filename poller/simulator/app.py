"""The simulator's HTTP layer: a WSGI application serving a `SimOrganization` under OpenAI's paths.

Pure request → response: the organization supplies the numbers and the directory, this module
everything request-shaped (routing, auth, parameters, buckets, `group_by` projection, filters,
paging, faults, throttling, stats). Clock and sleep are injected, so tests run it in-process
(`httpx.WSGITransport`) with exact times and no real waiting; `server.py` puts it on a socket.

Where the spec is silent the simulator chooses, and says so here:
- unknown query parameters, and filters an endpoint does not take, are ignored;
- a scalar parameter given twice takes its last value; a blank value counts as absent;
- `event_types[]` values are not checked against the 145-value enum: unknown types match nothing;
- tenant-scoped audit events (`tenant.*`, `role.bound_to_resource`, `role.unbound_from_resource`)
  are listed only with `tenant_only=true`, which then rejects other event types with a 400;
- an `after`/`before` id that names no object answers 400 (param `after`/`before`);
- `limit` is 1..100 on every list, rate limits and admin keys included (the spec gives no max);
- project API keys without `owner_project_access` list only keys whose owner has access;
- the last bucket of a usage page is clipped at `end_time` like the first at `start_time`;
- a `next_page` token carries the query's fingerprint without `limit`: pages may be resized;
- order of checks: path (404), method (405), key (401), `--rate-limit` (429), then one fault
  draw; `drift` and `malformed` only ever alter a 200, `timeout` stalls and then answers;
- a missing key is a 401 with code `invalid_api_key` too; a project key's is code null.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from http import HTTPStatus
from operator import itemgetter
from typing import Final
from wsgiref.types import StartResponse, WSGIEnvironment

from poller.simulator.faults import FAULT_KINDS, FaultInjector, FaultPlan, drift, truncate
from poller.simulator.model import JSON, CostRecord, Dims, SimOrganization
from poller.simulator.params import (
    ApiError,
    AuditQuery,
    ListQuery,
    Query,
    UsageQuery,
    encode_page,
    invalid_value,
    parse_audit,
    parse_list,
    parse_usage,
)
from poller.simulator.ratelimit import TokenBuckets
from poller.simulator.stats import Stats
from poller.streams import USAGE_ENDPOINTS

__all__ = ["UNMATCHED", "Call", "SimulatorApp", "is_tenant_scoped", "redact"]

log = logging.getLogger(__name__)

UNMATCHED: Final = "<unmatched>"  # the stats key of every path outside the spec
USAGE_SCOPE: Final = "api.usage.read"
AUDIT_SCOPE: Final = "api.audit_logs.read"
MANAGEMENT_SCOPE: Final = "api.management.read"
TENANT_SCOPED_ROLE_EVENTS: Final = frozenset(
    {"role.bound_to_resource", "role.unbound_from_resource"}
)

_NO_KEY: Final = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with "
    "blank username) if you're accessing the API from your browser and are prompted for a "
    "username and password. You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)
_MISSING_SCOPE: Final = (
    "You have insufficient permissions for this operation. Missing scopes: {scope}. Check that "
    "you have the correct role in your organization (Reader, Writer, Owner) and project (Member, "
    "Owner), and if you're using a restricted API key, that it has the necessary scopes."
)
_NULL_LAST: Final = "\U0010ffff"  # sorts after every id, model and label
_SERVER_ERRORS: Final = {
    "500": "The server had an error while processing your request. Sorry about that!",
    "502": "Bad gateway.",
    "503": "The server is overloaded or not ready yet.",
}


@dataclass(frozen=True)
class Call:
    """One API request as a handler sees it."""

    query: Query
    path: Mapping[str, str]
    now: float


Handler = Callable[[Call], JSON]


@dataclass(frozen=True)
class _Route:
    template: str  # the spec's path under /v1, e.g. "/v1/organization/projects/{project_id}"
    scope: str
    handler: Handler
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.template))
        object.__setattr__(self, "pattern", re.compile(regex + r"\Z"))


@dataclass(frozen=True)
class _Response:
    status: int
    payload: bytes
    headers: tuple[tuple[str, str], ...] = ()


class SimulatorApp:
    """The WSGI application. Thread-safe: the server calls it from one thread per request."""

    def __init__(
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
        self._routes = _routes(_Endpoints(org))

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
        key = _bearer_key(environ)
        client = None if key is None else hashlib.sha256(key.encode()).hexdigest()[:16]
        self.stats.arrived(client, now)
        route, params = self._match(path)
        try:
            if route is None:
                raise ApiError(404, f"Invalid URL ({method} {path})")
            if method != "GET":
                raise ApiError(
                    405, f"Invalid method for URL ({method} {path})", headers=[("allow", "GET")]
                )
            self._authenticate(key, route.scope)
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
        route: _Route,
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

    def _match(self, path: str) -> tuple[_Route | None, dict[str, str]]:
        for route in self._routes:
            match = route.pattern.match(path)
            if match:
                return route, match.groupdict()
        return None, {}

    def _authenticate(self, key: str | None, scope: str) -> None:
        if key is None:
            raise ApiError(401, _NO_KEY, code="invalid_api_key")
        if hmac.compare_digest(key.encode(), self._admin_key):
            return
        if key.startswith("sk-proj-"):
            raise ApiError(401, _MISSING_SCOPE.format(scope=scope))
        raise ApiError(
            401,
            f"Incorrect API key provided: {redact(key)}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )

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


def redact(key: str) -> str:
    """A key as OpenAI's errors show it: a short head and tail at most, never enough to use."""
    if len(key) >= 20:
        head, tail = key[:6], key[-4:]
    else:
        head, tail = key[: min(3, len(key) // 4)], ""
    return head + "*" * (len(key) - len(head) - len(tail)) + tail


def _bearer_key(environ: WSGIEnvironment) -> str | None:
    scheme, _, key = str(environ.get("HTTP_AUTHORIZATION", "")).strip().partition(" ")
    key = key.strip()
    return key if scheme.lower() == "bearer" and key else None


def _dumps(body: JSON) -> bytes:
    """Compact JSON; bodies are fresh trees, so the cycle check is skipped (large pages)."""
    return json.dumps(body, separators=(",", ":"), check_circular=False).encode()


def _routes(api: _Endpoints) -> tuple[_Route, ...]:
    def usage(stream: str) -> Handler:
        return lambda call: api.buckets(stream, call)

    routes = [
        _Route(f"/v1{endpoint.path}", USAGE_SCOPE, usage(stream))
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
    }
    routes.append(_Route("/v1/organization/audit_logs", AUDIT_SCOPE, api.audit_logs))
    routes.extend(_Route(f"/v1{path}", MANAGEMENT_SCOPE, h) for path, h in management.items())
    return tuple(routes)


# --- endpoints ----------------------------------------------------------------------------------


class _Endpoints:
    """One method per operation of the spec: validated query in, JSON body out."""

    def __init__(self, org: SimOrganization) -> None:
        self._org = org
        self._dir = org.directory

    # usage and costs

    def buckets(self, stream: str, call: Call) -> JSON:
        """A page of time buckets: UTC-aligned, ascending, the first and last clipped, none
        starting after now, empty ones included."""
        endpoint = USAGE_ENDPOINTS[stream]
        query = parse_usage(endpoint, call.query)
        stop = math.inf if query.end is None else query.end
        start = query.start if query.page is None else query.page
        data: list[JSON] = []
        while len(data) < query.limit and start < stop and start <= call.now:
            boundary = (start // query.width.seconds + 1) * query.width.seconds
            end = boundary if query.end is None else min(boundary, query.end)
            results = (
                self._costs(query, start, end, call.now)
                if stream == "costs"
                else self._usage(stream, query, start, end, call.now)
            )
            data.append(
                {"object": "bucket", "start_time": start, "end_time": end, "results": results}
            )
            start = end
        has_more = start < stop and start <= call.now
        return {
            "object": "page",
            "data": data,
            "has_more": has_more,
            "next_page": encode_page(start, query.fingerprint) if has_more else None,
        }

    def _usage(
        self, stream: str, query: UsageQuery, start: int, end: int, now: float
    ) -> list[JSON]:
        endpoint = USAGE_ENDPOINTS[stream]
        keep, project = _selector(endpoint.dimensions, query)
        groups: dict[Dims, list[Mapping[str, int]]] = {}
        for dims, values in self._org.usage(stream, start, end, now).items():
            if keep(dims):
                groups.setdefault(project(dims), []).append(values)
        fields = ("object", *endpoint.metrics, *endpoint.dimensions)
        return [
            dict(
                zip(
                    fields,
                    (endpoint.result_object, *_column_sums(rows, endpoint.metrics), *dims),
                    strict=True,
                )
            )
            for dims, rows in sorted(groups.items(), key=lambda item: _dims_order(item[0]))
        ]

    def _costs(self, query: UsageQuery, start: int, end: int, now: float) -> list[JSON]:
        keep, project = _selector(USAGE_ENDPOINTS["costs"].dimensions, query)
        groups: dict[tuple[Dims, str], list[CostRecord]] = {}
        for dims, record in self._org.costs(start, end, now).items():
            if keep(dims):
                groups.setdefault((project(dims), record.currency), []).append(record)
        ordered = sorted(groups.items(), key=lambda item: (_dims_order(item[0][0]), item[0][1]))
        by_line_item = "line_item" in query.group_by
        return [
            _cost_result(dims, currency, records, by_line_item=by_line_item)
            for (dims, currency), records in ordered
        ]

    # audit logs

    def audit_logs(self, call: Call) -> JSON:
        """Newest first; `after` pages to older events, `before` to newer ones."""
        query = parse_audit(call.query)
        if query.tenant_only:
            others = sorted(t for t in query.event_types if not is_tenant_scoped(t))
            if others:
                raise invalid_value(
                    "event_types[]",
                    f"Invalid 'event_types[]': with tenant_only=true every event type must be "
                    f"tenant-scoped; {', '.join(others)} is not.",
                )
        lower = query.lower
        upper = math.floor(call.now) + 1 if query.upper is None else query.upper
        cursor: tuple[int, str] | None = None
        cursor_id = query.after or query.before
        if cursor_id is not None:
            event = self._org.find_audit_event(cursor_id)
            if event is None:
                param = "after" if query.after else "before"
                raise invalid_value(
                    param, f"Invalid '{param}': no audit log with id '{cursor_id}'."
                )
            cursor = (event["effective_at"], event["id"])
            if query.after:
                upper = min(upper, cursor[0] + 1)
            else:
                lower = max(lower, cursor[0])
        events = self._org.audit_events(lower, upper, call.now) if lower < upper else ()
        matching = [e for e in events if _audit_matches(e, query)]
        if cursor is not None and query.after:
            matching = [e for e in matching if (e["effective_at"], e["id"]) < cursor]
        elif cursor is not None:
            matching = [e for e in matching if (e["effective_at"], e["id"]) > cursor]
        page = matching[-query.limit :] if query.before else matching[: query.limit]
        return _list_body(page, has_more=len(matching) > query.limit)

    # directory

    def projects(self, call: Call) -> JSON:
        include_archived = bool(call.query.boolean("include_archived"))
        return _paginate(
            self._dir.projects,
            parse_list(call.query),
            keep=lambda project: include_archived or not _archived(project),
        )

    def project(self, call: Call) -> JSON:
        return self._project(call)

    def users(self, call: Call) -> JSON:
        emails = {email.lower() for email in call.query.values("emails")}
        return _paginate(
            self._dir.users,
            parse_list(call.query),
            keep=lambda user: not emails or str(user.get("email") or "").lower() in emails,
        )

    def user(self, call: Call) -> JSON:
        return _find(self._dir.users, call.path["user_id"], "user")

    def project_users(self, call: Call) -> JSON:
        members = self._of_project(call, self._dir.project_users, live=True)
        return _paginate(members, parse_list(call.query))

    def project_user(self, call: Call) -> JSON:
        members = self._of_project(call, self._dir.project_users)
        return _find(members, call.path["user_id"], "user in this project")

    def project_api_keys(self, call: Call) -> JSON:
        keys = self._of_project(call, self._dir.project_api_keys)
        access = call.query.choice("owner_project_access", ("active", "inactive", "any"), "active")
        return _paginate(
            keys,
            parse_list(call.query),
            keep=lambda key: access == "any" or key.get("owner_project_access") == access,
        )

    def project_api_key(self, call: Call) -> JSON:
        keys = self._of_project(call, self._dir.project_api_keys)
        return _find(keys, call.path["api_key_id"], "API key in this project")

    def service_accounts(self, call: Call) -> JSON:
        accounts = self._of_project(call, self._dir.project_service_accounts, live=True)
        return _paginate(accounts, parse_list(call.query))

    def service_account(self, call: Call) -> JSON:
        accounts = self._of_project(call, self._dir.project_service_accounts)
        return _find(accounts, call.path["service_account_id"], "service account in this project")

    def rate_limits(self, call: Call) -> JSON:
        limits = self._of_project(call, self._dir.project_rate_limits)
        return _paginate(limits, parse_list(call.query, default_limit=100))

    def admin_api_keys(self, call: Call) -> JSON:
        order = call.query.choice("order", ("asc", "desc"), "asc")
        keys = self._dir.admin_api_keys  # oldest first
        return _paginate(keys if order == "asc" else keys[::-1], parse_list(call.query))

    def admin_api_key(self, call: Call) -> JSON:
        return _find(self._dir.admin_api_keys, call.path["key_id"], "admin API key")

    def _project(self, call: Call) -> JSON:
        return _find(self._dir.projects, call.path["project_id"], "project")

    def _of_project(
        self, call: Call, items: Mapping[str, Sequence[JSON]], *, live: bool = False
    ) -> Sequence[JSON]:
        """What `items` holds for the path's project: 404 when there is no such project, and
        400 when `live` and it is archived (the spec's answer for its users and accounts)."""
        project = self._project(call)
        if live and _archived(project):
            raise ApiError(400, f"Project {project['id']} is archived.", param="project_id")
        return items.get(project["id"], ())


def _selector(
    dimensions: Sequence[str], query: UsageQuery
) -> tuple[Callable[[Dims], bool], Callable[[Dims], Dims]]:
    """(keep, project): the query's filters, and its `group_by` projection of a finest row.

    Both run once per finest row, tens of thousands per large page, so the common cases (no
    filter; every dimension grouped, or none) short-cut.
    """
    index = {dimension: i for i, dimension in enumerate(dimensions)}
    checks = [(index[dimension], allowed) for dimension, allowed in query.filters]
    grouped = [dimension in query.group_by for dimension in dimensions]
    nothing: Dims = (None,) * len(dimensions)

    def keep(dims: Dims) -> bool:
        return all(dims[i] in allowed for i, allowed in checks)

    def project(dims: Dims) -> Dims:
        return tuple([value if g else None for value, g in zip(dims, grouped, strict=True)])

    def ungrouped(dims: Dims) -> Dims:
        return nothing

    if all(grouped):
        project = _same
    elif not any(grouped):
        project = ungrouped
    return (keep if checks else _always), project


def _always(dims: Dims) -> bool:
    return True


def _same(dims: Dims) -> Dims:
    return dims


def _column_sums(rows: Sequence[Mapping[str, int]], metrics: Sequence[str]) -> list[int]:
    """Each metric summed over `rows` (the organization gives every metric of every row)."""
    if len(rows) == 1:
        return list(map(rows[0].__getitem__, metrics))
    return [sum(map(itemgetter(metric), rows)) for metric in metrics]


def _dims_order(dims: Dims) -> tuple[str, ...]:
    """Results in a stable order: by grouped values as text, nulls last."""
    return tuple([_NULL_LAST if value is None else str(value) for value in dims])


def _cost_result(
    dims: Dims, currency: str, records: Sequence[CostRecord], *, by_line_item: bool
) -> JSON:
    """One costs result; `quantity` and its unit only under `group_by=line_item` (the spec)."""
    project_id, line_item, api_key_id = dims
    quantities = [r.quantity for r in records if r.quantity is not None]
    units = {r.quantity_unit for r in records}
    whole = by_line_item and len(quantities) == len(records)
    return {
        "object": USAGE_ENDPOINTS["costs"].result_object,
        "amount": {"value": float(sum(r.amount for r in records)), "currency": currency},
        "line_item": line_item,
        "project_id": project_id,
        "api_key_id": api_key_id,
        "quantity": _number(sum(quantities, Decimal(0))) if whole else None,
        "quantity_unit": units.pop() if by_line_item and len(units) == 1 else None,
    }


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def is_tenant_scoped(event_type: str) -> bool:
    """Events `tenant_only=true` lists, and only it: `tenant.*` and role bindings (spec text)."""
    return event_type.startswith("tenant.") or event_type in TENANT_SCOPED_ROLE_EVENTS


def _actor_ids_and_emails(event: JSON) -> tuple[set[str], set[str]]:
    actor = event.get("actor") or {}
    session = actor.get("session") or {}
    api_key = actor.get("api_key") or {}
    people = [session.get("user") or {}, api_key.get("user") or {}]
    ids = {api_key.get("id"), (api_key.get("service_account") or {}).get("id")}
    ids.update(person.get("id") for person in people)
    emails = {str(person["email"]).lower() for person in people if person.get("email")}
    return {i for i in ids if i}, emails


def _audit_matches(event: JSON, query: AuditQuery) -> bool:
    if is_tenant_scoped(event["type"]) != query.tenant_only:
        return False
    if query.event_types and event["type"] not in query.event_types:
        return False
    if query.project_ids and (event.get("project") or {}).get("id") not in query.project_ids:
        return False
    if query.resource_ids:
        payload = event.get(event["type"])
        if not isinstance(payload, dict) or payload.get("id") not in query.resource_ids:
            return False
    if query.actor_ids or query.actor_emails:
        ids, emails = _actor_ids_and_emails(event)
        if query.actor_ids and not ids & query.actor_ids:
            return False
        if query.actor_emails and not emails & query.actor_emails:
            return False
    return True


def _archived(project: JSON) -> bool:
    return project.get("status") == "archived" or project.get("archived_at") is not None


def _find(items: Sequence[JSON], object_id: str, noun: str) -> JSON:
    for item in items:
        if item["id"] == object_id:
            return item
    raise ApiError(404, f"No {noun} found with id '{object_id}'.")


def _list_body(page: Sequence[JSON], *, has_more: bool) -> JSON:
    return {
        "object": "list",
        "data": list(page),
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": has_more,
    }


def _paginate(
    items: Sequence[JSON], query: ListQuery, keep: Callable[[JSON], bool] | None = None
) -> JSON:
    """A cursor page of `items`: the cursor is found among all items, then `keep` filters."""
    candidates = items
    if query.after is not None:
        candidates = items[_position(items, query.after, "after") + 1 :]
    elif query.before is not None:
        candidates = items[: _position(items, query.before, "before")]
    selected = [item for item in candidates if keep is None or keep(item)]
    page = selected[-query.limit :] if query.before is not None else selected[: query.limit]
    return _list_body(page, has_more=len(selected) > query.limit)


def _position(items: Sequence[JSON], object_id: str, param: str) -> int:
    for i, item in enumerate(items):
        if item["id"] == object_id:
            return i
    raise invalid_value(param, f"Invalid '{param}': no object with id '{object_id}' in this list.")
