"""The simulator against the official spec: every path, many parameter combinations, faults.

Responses are validated with openapi-core against `openapi.subset.json`. Statuses an operation
does not declare (400/401/404/405/5xx mostly) are validated against `ErrorResponse`, the
envelope the reference says to expect everywhere. Also: `python -m poller simulate` as a real
process (start, answer, stats, SIGTERM/SIGINT → 0, bad flags → 2 with one line).
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

import httpx
import pytest
from loopback import free_port
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_schema_validator import OAS31Validator, validate
from openapi_spec import SPEC_PATH
from werkzeug.datastructures import Headers, ImmutableMultiDict

from poller.simulator.app import SimulatorApp
from poller.simulator.faults import FaultPlan
from poller.simulator.model import JSON, SimOrganization
from poller.simulator.organization import build_organization
from poller.simulator.server import SimulatorServer
from poller.streams import USAGE_ENDPOINTS

ROOT = Path(__file__).resolve().parents[2]
ADMIN_KEY = "sk-admin-conformance-0123456789"
DAY, HOUR = 86_400, 3600
NOW = 1_730_000_000 + 12_345  # 2024-10-27: months of history behind it
BASE = "http://sim/v1"


# --- the spec as a validator ----------------------------------------------------------------------


def load_spec() -> dict[str, Any]:
    """The spec, with one repair: the usage results' discriminator gets its `mapping`.

    `UsageTimeBucket.results` is `oneOf` eleven schemas with `discriminator: {propertyName:
    object}` and no mapping. OpenAPI then reads an `object` value as a *schema name*, so every
    real response (`"object": "organization.usage.completions.result"`) fails to resolve. The
    mapping added here says what the spec means: each value of `object` (every member declares
    a one-value enum) selects the member that declares it.
    """
    spec: dict[str, Any] = json.loads(SPEC_PATH.read_text("utf-8"))
    schemas = spec["components"]["schemas"]
    items = schemas["UsageTimeBucket"]["properties"]["results"]["items"]
    mapping = {}
    for member in items["oneOf"]:
        (value,) = schemas[member["$ref"].rsplit("/", 1)[1]]["properties"]["object"]["enum"]
        mapping[value] = member["$ref"]
    items["discriminator"]["mapping"] = mapping
    return spec


SPEC = load_spec()
OPENAPI = OpenAPI.from_dict(copy.deepcopy(SPEC))
ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorResponse", "components": SPEC["components"]}


class _Request:
    """openapi-core's Request protocol over an httpx request, as if sent to the spec's server
    (`https://api.openai.com/v1`): the simulator serves the same paths under its own `/v1`."""

    def __init__(self, request: httpx.Request) -> None:
        self.host_url = SPEC["servers"][0]["url"].removesuffix("/v1")
        self.path = request.url.path
        self.method = request.method.lower()
        self.body: bytes | None = None
        self.content_type = "application/json"
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(request.url.params.multi_items())),
            header=Headers(dict(request.headers)),
        )


class _Response:
    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.data = response.content
        self.headers = Headers(dict(response.headers))
        self.content_type = response.headers["content-type"]


def schema_errors(response: httpx.Response) -> list[tuple[tuple[Any, ...], str]]:
    """(path in the body, JSON-schema keyword) of every spec violation of `response`."""
    found: list[tuple[tuple[Any, ...], str]] = []
    for error in OPENAPI.iter_response_errors(_Request(response.request), _Response(response)):
        if isinstance(error, PathNotFound | OperationNotFound | ResponseNotFound):
            # outside what the spec declares (a status, a method, a path): the envelope only
            assert response.status_code >= 400, error
            validate(response.json(), ERROR_SCHEMA, cls=OAS31Validator)
            continue
        cause = error.__cause__
        details = getattr(cause, "schema_errors", None)
        if not details:
            raise AssertionError(f"{response.request.url}: {error!r}") from error
        found.extend((tuple(d.absolute_path), str(d.validator)) for d in details)
    return found


def conforms(response: httpx.Response) -> httpx.Response:
    errors = schema_errors(response)
    assert not errors, f"{response.request.url} → {response.status_code}: {errors}"
    return response


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def org() -> SimOrganization:
    return build_organization(seed=5, size="small", settle_seconds=600)


def make_client(org: SimOrganization, faults: str = "", **kwargs: Any) -> httpx.Client:
    app = SimulatorApp(
        org,
        admin_key=ADMIN_KEY,
        faults=FaultPlan.parse(faults),
        clock=lambda: NOW,
        sleep=lambda _: None,
        **kwargs,
    )
    return httpx.Client(
        transport=httpx.WSGITransport(app=app),
        base_url=BASE,
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    )


@pytest.fixture(scope="module")
def client(org: SimOrganization) -> Iterator[httpx.Client]:
    with make_client(org) as client:
        yield client


def every_path(org: SimOrganization) -> dict[str, str]:
    """One concrete URL per spec path template, with ids from the organization."""
    directory = org.directory
    live = [p["id"] for p in directory.projects if p.get("status") != "archived"]

    def first(lists: Mapping[str, Sequence[JSON]]) -> tuple[str, str]:
        """A live project with something in `lists`, and that thing's id."""
        project = next(p for p in live if lists.get(p))
        return project, lists[project][0]["id"]

    project = live[0]
    member_project, member = first(directory.project_users)
    key_project, key = first(directory.project_api_keys)
    account_project, account = first(directory.project_service_accounts)
    start = NOW - 3 * DAY
    urls = {
        endpoint.path: f"{endpoint.path}?start_time={start}"
        for endpoint in USAGE_ENDPOINTS.values()
    }
    urls.update(
        {
            "/organization/audit_logs": "/organization/audit_logs",
            "/organization/projects": "/organization/projects?include_archived=true",
            "/organization/projects/{project_id}": f"/organization/projects/{project}",
            "/organization/users": "/organization/users",
            "/organization/users/{user_id}": f"/organization/users/{directory.users[0]['id']}",
            "/organization/projects/{project_id}/users": (
                f"/organization/projects/{member_project}/users"
            ),
            "/organization/projects/{project_id}/users/{user_id}": (
                f"/organization/projects/{member_project}/users/{member}"
            ),
            "/organization/projects/{project_id}/api_keys": (
                f"/organization/projects/{key_project}/api_keys?owner_project_access=any"
            ),
            "/organization/projects/{project_id}/api_keys/{api_key_id}": (
                f"/organization/projects/{key_project}/api_keys/{key}"
            ),
            "/organization/projects/{project_id}/service_accounts": (
                f"/organization/projects/{account_project}/service_accounts"
            ),
            "/organization/projects/{project_id}/service_accounts/{service_account_id}": (
                f"/organization/projects/{account_project}/service_accounts/{account}"
            ),
            "/organization/projects/{project_id}/rate_limits": (
                f"/organization/projects/{project}/rate_limits"
            ),
            "/organization/admin_api_keys": "/organization/admin_api_keys",
            "/organization/admin_api_keys/{key_id}": (
                f"/organization/admin_api_keys/{directory.admin_api_keys[0]['id']}"
            ),
        }
    )
    urls.update(controls_paths(org, project))
    return urls


def controls_paths(org: SimOrganization, project: str) -> dict[str, str]:
    """URLs of the spend, access and governance paths, at objects that exist."""
    spend, access, governance = org.spend, org.access, org.governance
    limited = next(iter(spend.project_limits))
    alert_project, alert = next((p, a[0]["id"]) for p, a in spend.project_alerts.items() if a)
    group = next(g["id"] for g in access.groups if access.group_users[g["id"]])
    user = org.directory.users[0]["id"]
    group_project, granted = next(
        (p, g[0]["group_id"]) for p, g in access.project_groups.items() if g
    )
    certificate = governance.certificates[0]["id"]
    org_paths = {
        "spend_limit": "spend_limit",
        "spend_alerts": "spend_alerts",
        "spend_alerts/{alert_id}": f"spend_alerts/{spend.alerts[0]['id']}",
        "roles": "roles",
        "roles/{role_id}": f"roles/{access.roles[0]['id']}",
        "groups": "groups",
        "groups/{group_id}": f"groups/{group}",
        "groups/{group_id}/users": f"groups/{group}/users",
        "groups/{group_id}/users/{user_id}": (
            f"groups/{group}/users/{access.group_users[group][0]['id']}"
        ),
        "groups/{group_id}/roles": f"groups/{group}/roles",
        "groups/{group_id}/roles/{role_id}": (
            f"groups/{group}/roles/{access.group_roles[group][0]['id']}"
        ),
        "users/{user_id}/roles": f"users/{user}/roles",
        "users/{user_id}/roles/{role_id}": (
            f"users/{user}/roles/{access.user_roles[user][0]['id']}"
        ),
        "invites": "invites",
        "invites/{invite_id}": f"invites/{access.invites[0]['id']}",
        "certificates": "certificates",
        "certificates/{certificate_id}": f"certificates/{certificate}?include[]=content",
        "data_retention": "data_retention",
    }
    project_paths = {
        "spend_limit": f"{limited}/spend_limit",
        "spend_alerts": f"{alert_project}/spend_alerts",
        "spend_alerts/{alert_id}": f"{alert_project}/spend_alerts/{alert}",
        "groups": f"{group_project}/groups",
        "groups/{group_id}": f"{group_project}/groups/{granted}",
        "certificates": f"{project}/certificates",
        "data_retention": f"{project}/data_retention",
        "model_permissions": f"{project}/model_permissions",
        "hosted_tool_permissions": f"{project}/hosted_tool_permissions",
    }
    urls = {f"/organization/{t}": f"/organization/{u}" for t, u in org_paths.items()}
    for template, url in project_paths.items():
        urls[f"/organization/projects/{{project_id}}/{template}"] = f"/organization/projects/{url}"
    return urls


# --- every path -----------------------------------------------------------------------------------


def test_every_spec_path_is_served_and_conforms(client: httpx.Client, org: SimOrganization) -> None:
    urls = every_path(org)
    assert set(urls) == set(SPEC["paths"])
    for url in urls.values():
        response = conforms(client.get(url))
        assert response.status_code == 200, (url, response.text)
        body = response.json()
        if body.get("object") in ("page", "list"):
            assert body["data"], f"{url} served nothing: the conformance check would be vacuous"


def test_every_path_conforms_under_drift_except_costs_string_amounts(org: SimOrganization) -> None:
    """Drift adds unknown fields (the schemas allow them) and sends `amount.value` as a string,
    which the spec types `number`: that, and only that, must be the violation."""
    with make_client(org, faults="drift=1") as client:
        for template, url in every_path(org).items():
            response = client.get(url)
            assert response.status_code == 200
            errors = schema_errors(response)
            if template != "/organization/costs":
                assert not errors, (url, errors)
                continue
            assert errors, "drifted costs must carry string amounts"
            for path, keyword in errors:
                assert (path[-2:], keyword) == (("amount", "value"), "type"), (path, keyword)


# --- usage and costs ------------------------------------------------------------------------------


def group_by_choices(dimensions: tuple[str, ...]) -> list[tuple[str, ...]]:
    """No grouping, each dimension alone, every pair, and all of them."""
    choices: list[tuple[str, ...]] = [(), dimensions]
    choices += [(d,) for d in dimensions]
    choices += list(combinations(dimensions, 2))
    return list(dict.fromkeys(choices))


@pytest.mark.parametrize("stream", list(USAGE_ENDPOINTS))
def test_usage_and_costs_conform_for_every_width_and_grouping(
    client: httpx.Client, stream: str
) -> None:
    endpoint = USAGE_ENDPOINTS[stream]
    for width in endpoint.widths:
        seconds = {"1m": 60, "1h": HOUR, "1d": DAY}[width.value]
        start = NOW // seconds * seconds - 4 * seconds + 17  # clipped first bucket; partial last
        for grouped in group_by_choices(endpoint.dimensions):
            params = {"start_time": start, "bucket_width": width.value, "group_by[]": list(grouped)}
            body = conforms(client.get(endpoint.path, params=params)).json()
            assert len(body["data"]) == 5
            for result in (r for bucket in body["data"] for r in bucket["results"]):
                assert set(endpoint.dimensions) <= set(result)
                assert all(result[d] is None for d in endpoint.dimensions if d not in grouped)


@pytest.mark.parametrize("stream", list(USAGE_ENDPOINTS))
def test_usage_filters_and_paging_conform(
    client: httpx.Client, org: SimOrganization, stream: str
) -> None:
    endpoint = USAGE_ENDPOINTS[stream]
    start = NOW - 9 * DAY
    grouped = {"group_by": ",".join(endpoint.dimensions)}
    seen = conforms(client.get(endpoint.path, params={"start_time": start, **grouped})).json()
    values: dict[str, set[Any]] = {d: set() for d in endpoint.dimensions}
    for result in (r for bucket in seen["data"] for r in bucket["results"]):
        for dimension in endpoint.dimensions:
            values[dimension].add(result[dimension])
    for param, dimension in endpoint.filters:
        present = sorted(v for v in values[dimension] if v is not None)
        if not present:
            continue
        value = str(present[0]).lower() if param == "batch" else present[0]
        body = conforms(
            client.get(endpoint.path, params={"start_time": start, **grouped, f"{param}[]": value})
        ).json()
        kept = {r[dimension] for bucket in body["data"] for r in bucket["results"]}
        assert kept <= {present[0]}, (param, kept)
    token: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"start_time": start, "limit": 2, **grouped}
        if token:
            params["page"] = token
        body = conforms(client.get(endpoint.path, params=params)).json()
        pages += 1
        if not body["has_more"]:
            break
        token = body["next_page"]
    assert pages == 5  # 10 daily buckets, 2 per page


# --- audit logs and lists -------------------------------------------------------------------------


def test_audit_logs_conform_under_every_filter_and_cursor(client: httpx.Client) -> None:
    path = "/organization/audit_logs"
    everything = conforms(client.get(path, params={"limit": 100})).json()["data"]
    assert len(everything) == 100
    sample = everything[50]

    def actor(event: JSON, kind: str) -> JSON:
        return dict((event.get("actor") or {}).get(kind) or {})

    def user(event: JSON) -> JSON:
        return dict(
            actor(event, "session").get("user") or actor(event, "api_key").get("user") or {}
        )

    def having(field: Callable[[JSON], Any]) -> Any:
        """`field` of the first event that has one: each filter gets a value that matches."""
        return next(value for value in map(field, everything) if value)

    filters: list[dict[str, Any]] = [
        {
            "effective_at[gte]": sample["effective_at"] - DAY,
            "effective_at[lt]": sample["effective_at"] + 1,
        },
        {
            "effective_at[gt]": sample["effective_at"] - DAY,
            "effective_at[lte]": sample["effective_at"],
        },
        {"event_types[]": [sample["type"], everything[0]["type"]]},
        {"project_ids[]": having(lambda e: (e.get("project") or {}).get("id"))},
        {"resource_ids[]": having(lambda e: (e.get(e["type"]) or {}).get("id"))},
        {"actor_ids[]": having(lambda e: actor(e, "api_key").get("id") or user(e).get("id"))},
        {"actor_emails[]": having(lambda e: user(e).get("email"))},
    ]
    for params in filters:
        assert conforms(client.get(path, params=params)).json()["data"], params
    for params in (
        {"tenant_only": "true"},
        {"after": sample["id"], "limit": 5},
        {"before": sample["id"], "limit": 5},
    ):
        conforms(client.get(path, params=params))


def test_lists_conform_with_their_options(client: httpx.Client, org: SimOrganization) -> None:
    directory = org.directory
    archived = [p["id"] for p in directory.projects if p.get("status") == "archived"]
    live = next(p for p in directory.projects if p.get("status") != "archived")["id"]
    emails = [u["email"] for u in directory.users[:2] if u.get("email")]
    cases: list[tuple[str, dict[str, Any]]] = [
        ("/organization/projects", {"limit": 1}),
        ("/organization/projects", {"include_archived": "true", "limit": 2}),
        ("/organization/users", {"emails[]": emails}),
        ("/organization/admin_api_keys", {"order": "desc", "limit": 1}),
        (f"/organization/projects/{live}/api_keys", {"owner_project_access": "inactive"}),
        (f"/organization/projects/{live}/rate_limits", {"limit": 1}),
        (f"/organization/projects/{live}/users", {"limit": 1}),
    ]
    for url, params in cases:
        body = conforms(client.get(url, params=params)).json()
        assert body["object"] == "list"
    assert archived, "the small org keeps an archived project"
    for kind in ("users", "service_accounts"):
        response = conforms(client.get(f"/organization/projects/{archived[0]}/{kind}"))
        assert response.status_code == 400


def test_control_lists_conform_with_their_options(
    client: httpx.Client, org: SimOrganization
) -> None:
    group = org.access.groups[-1]["id"]
    project = next(p for p, alerts in org.spend.project_alerts.items() if alerts)
    cases: list[tuple[str, dict[str, Any]]] = [
        ("/organization/groups", {"limit": 0}),
        ("/organization/groups", {"limit": 1, "order": "desc"}),
        ("/organization/groups", {"after": group}),
        (f"/organization/groups/{group}/users", {"order": "asc", "limit": 1}),
        ("/organization/roles", {"limit": 2}),
        ("/organization/spend_alerts", {"limit": 0}),
        (f"/organization/projects/{project}/spend_alerts", {"order": "desc", "limit": 1}),
        ("/organization/certificates", {"order": "asc", "limit": 1}),
        ("/organization/invites", {"limit": 1}),
    ]
    for url, params in cases:
        response = conforms(client.get(url, params=params))
        assert (response.status_code, response.json()["object"]) == (200, "list"), url
    not_found = [
        f"/organization/projects/{project}/groups/{group}?group_type=tenant_group",
        "/organization/groups/group_missing/users",
        "/organization/certificates/cert_missing",
    ]
    for url in not_found:
        assert conforms(client.get(url)).status_code == 404, url


# --- errors ---------------------------------------------------------------------------------------


def test_error_responses_conform(org: SimOrganization, client: httpx.Client) -> None:
    usage = "/organization/usage/completions"
    responses = [
        client.get(usage),
        client.get(usage, params={"start_time": NOW, "group_by": "colour"}),
        client.get("/organization/audit_logs", params={"limit": 1000}),
        client.get("/organization/projects/proj_missing"),
        client.get("/organization/nowhere"),
        client.post("/organization/projects"),
        client.get("/organization/projects", headers={"Authorization": "Bearer sk-admin-nope"}),
        client.get("/organization/projects", headers={"Authorization": "Bearer sk-proj-abc"}),
    ]
    assert [r.status_code for r in responses] == [400, 400, 400, 404, 404, 405, 401, 401]
    for response in responses:
        conforms(response)
    for status in ("500", "502", "503"):
        with make_client(org, faults=f"{status}=1") as failing:
            assert conforms(failing.get(usage, params={"start_time": NOW})).status_code == int(
                status
            )


def test_429_conforms_to_too_many_requests(org: SimOrganization) -> None:
    with make_client(org, faults="429=1") as throttled:
        for url in ("/organization/costs?start_time=0", "/organization/audit_logs"):
            response = conforms(throttled.get(url))
            assert response.status_code == 429
            assert int(response.headers["retry-after"]) >= 1


# --- over a real socket and as a real process -----------------------------------------------------


def test_the_server_answers_over_loopback(org: SimOrganization) -> None:
    app = SimulatorApp(org, admin_key=ADMIN_KEY)
    with SimulatorServer(app) as server:
        response = httpx.get(
            f"{server.base_url}/organization/projects",
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        )
        conforms(response)
        assert response.status_code == 200


def simulate(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "poller", "simulate", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_simulate_serves_until_signalled_and_exits_0(stop: signal.Signals) -> None:
    port = free_port()
    with simulate("--port", str(port), "--seed", "3", "--size", "small") as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert (
                line == f"simulator listening on http://127.0.0.1:{port}/v1 (seed 3, size small)\n"
            )
            auth = {"Authorization": "Bearer sk-admin-demo"}
            response = httpx.get(f"http://127.0.0.1:{port}/v1/organization/projects", headers=auth)
            assert response.status_code == 200
            assert response.json()["data"]
            stats = httpx.get(f"http://127.0.0.1:{port}/_sim/stats").json()
            assert stats["requests"] == {"/v1/organization/projects": {"200": 1}}
            assert stats["early_retries"] == 0
            process.send_signal(stop)
            out, err = process.communicate(timeout=15)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0
    # Its key and faults were said on start (stderr); nothing else is printed.
    assert (out, err) == ("", "simulate: admin key sk-admin-demo; faults: none\n")


def test_simulate_with_bad_faults_exits_2_with_one_line() -> None:
    with simulate("--port", "0", "--faults", "429=0.5,oops") as process:
        out, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("error: --faults: invalid item 'oops': expected kind=probability")
    assert "Traceback" not in err
