"""`AdminClient`: typed, retrying access to every OpenAI admin endpoint the poller reads.

Usage, costs and audit logs come as generators of *pages*: the caller stores each page and
commits its cursor before asking for the next, so a crash never skips data. Each HTTP request is
retried on its own (see `poller.client.retry`); a generator is never retried as a whole, since
that would refetch pages the caller has already committed. Directory lists (`list_*`) iterate
over every item of every page; `get_*` retrieve one object.

Errors are those of `poller.errors`; their messages quote OpenAI and never contain the key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Literal, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, SecretStr

from poller import __version__
from poller.client._budget import PROCESS_BUDGET
from poller.client._exchange import Exchange
from poller.client._page_size import PageSizer
from poller.client._usage_page import RawUsagePage
from poller.client._usage_paging import usage_pages
from poller.client.audit import AuditLogPage
from poller.client.directory import (
    AdminApiKey,
    Project,
    ProjectApiKey,
    ProjectRateLimit,
    ProjectRateLimitPage,
    ProjectServiceAccount,
    ProjectUser,
    User,
)
from poller.client.models import APIModel, ListPage
from poller.client.observer import ClientObserver
from poller.client.options import ResponseLimits, Timeouts
from poller.client.params import LIST_LIMIT, audit_params, usage_params
from poller.client.query import QueryValue, encode_query
from poller.client.retry import AttemptFailed, RetryPolicy
from poller.defaults import DEFAULT_BASE_URL
from poller.redaction import Redactor
from poller.streams import BucketWidth

__all__ = ["DEFAULT_BASE_URL", "AdminClient"]

logger = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel | RawUsagePage)
ItemT = TypeVar("ItemT", bound=APIModel)
PageT = TypeVar("PageT", bound=ListPage[Any])

_AUDIT_LOGS: Final = "/organization/audit_logs"
_PROJECTS: Final = "/organization/projects"
_PROJECT: Final = "/organization/projects/{project_id}"
_USERS: Final = "/organization/users"
_USER: Final = "/organization/users/{user_id}"
_PROJECT_USERS: Final = "/organization/projects/{project_id}/users"
_PROJECT_USER: Final = "/organization/projects/{project_id}/users/{user_id}"
_PROJECT_API_KEYS: Final = "/organization/projects/{project_id}/api_keys"
_PROJECT_API_KEY: Final = "/organization/projects/{project_id}/api_keys/{api_key_id}"
_SERVICE_ACCOUNTS: Final = "/organization/projects/{project_id}/service_accounts"
_SERVICE_ACCOUNT: Final = (
    "/organization/projects/{project_id}/service_accounts/{service_account_id}"
)
_RATE_LIMITS: Final = "/organization/projects/{project_id}/rate_limits"
_ADMIN_API_KEYS: Final = "/organization/admin_api_keys"
_ADMIN_API_KEY: Final = "/organization/admin_api_keys/{key_id}"

OwnerProjectAccess = Literal["active", "inactive", "any"]
_DEFAULT_TIMEOUTS: Final = Timeouts()
_DEFAULT_RETRY: Final = RetryPolicy()
_DEFAULT_LIMITS: Final = ResponseLimits()


class AdminClient:
    """One organization's admin API, over one `httpx.Client`. Close it, or use it as a context
    manager. `retry` carries the sleep, clocks and jitter, injectable so tests take no time;
    `limits` bounds one response and sizes usage pages."""

    def __init__(
        self,
        *,
        admin_key: str | SecretStr,
        base_url: str = DEFAULT_BASE_URL,
        timeouts: Timeouts = _DEFAULT_TIMEOUTS,
        retry: RetryPolicy = _DEFAULT_RETRY,
        limits: ResponseLimits = _DEFAULT_LIMITS,
        transport: httpx.BaseTransport | None = None,
        observer: ClientObserver | None = None,
        user_agent: str = f"openai-poller/{__version__}",
    ) -> None:
        key = admin_key.get_secret_value() if isinstance(admin_key, SecretStr) else admin_key
        if not isinstance(key, str) or not key.strip():
            raise ValueError("the OpenAI admin key is empty")
        self._policy = retry
        self._observer = observer
        self._sizer = PageSizer(limits.max_results_per_page)
        self._budget = PROCESS_BUDGET
        self._http = httpx.Client(
            base_url=base_url,
            headers={
                "Authorization": f"Bearer {key}",
                "Accept": "application/json",
                "User-Agent": user_agent,
            },
            timeout=timeouts.as_httpx(),
            transport=transport,
            follow_redirects=False,  # a redirect would be a wrong base URL: say so, don't follow
        )
        self._exchange = Exchange(
            self._http,
            policy=retry,
            timeouts=timeouts,
            limits=limits,
            observer=observer,
            redact=Redactor([key]),
        )

    def __repr__(self) -> str:
        return f"AdminClient(base_url={str(self._http.base_url)!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- usage, costs, audit logs: one page at a time ------------------------------------------

    def usage_pages(
        self,
        stream: str,
        *,
        start_time: int,
        end_time: int | None = None,
        bucket_width: BucketWidth | str = BucketWidth.DAY,
        group_by: Sequence[str] = (),
        limit: int | None = None,
        filters: Mapping[str, Sequence[str] | bool] | None = None,
    ) -> Generator[RawUsagePage, None, None]:
        """Pages of a usage stream or of costs, following `next_page` while `has_more`.

        Arguments are checked against `poller.streams` now, not at the first page: a bad one
        raises `ValueError` from this call. A page's results become models as its buckets are
        taken (`RawUsagePage.take`); one that fails its schema is in the taken part's `invalid`.
        `limit` is the most buckets a page may hold: each page asks for as many of them as fit
        `ResponseLimits.max_results_per_page`, judged by the results per bucket of the pages
        before it (None: the server's default page size).
        """
        endpoint, params = usage_params(
            stream,
            start_time=start_time,
            end_time=end_time,
            bucket_width=bucket_width,
            group_by=group_by,
            limit=limit,
            filters=filters,
        )

        def fetch(query: Mapping[str, QueryValue]) -> RawUsagePage:
            return self._get(endpoint.path, RawUsagePage, params=query, subject=stream)

        shape = (endpoint.path, params["bucket_width"], tuple(group_by))
        return usage_pages(
            fetch, endpoint.path, params, shape=shape, sizer=self._sizer, budget=self._budget
        )

    def audit_log_pages(
        self,
        *,
        effective_at: Mapping[str, int] | None = None,
        event_types: Sequence[str] = (),
        actor_ids: Sequence[str] = (),
        actor_emails: Sequence[str] = (),
        project_ids: Sequence[str] = (),
        resource_ids: Sequence[str] = (),
        tenant_only: bool | None = None,
        limit: int = 100,
    ) -> Iterator[AuditLogPage]:
        """Pages of audit logs, following `after=last_id` while `has_more`.

        `effective_at` takes `gt`, `gte`, `lt`, `lte` in Unix seconds. The order of events is
        undocumented: resume from an `effective_at` high-water mark, not from a cursor. A log
        that fails its schema is in the page's `invalid`, not in its `data`.
        """
        params = audit_params(
            effective_at=effective_at,
            project_ids=project_ids,
            event_types=event_types,
            actor_ids=actor_ids,
            actor_emails=actor_emails,
            resource_ids=resource_ids,
            tenant_only=tenant_only,
            limit=limit,
        )
        return self._list_pages(_AUDIT_LOGS, AuditLogPage, params=params)

    # --- directory ------------------------------------------------------------------------------

    def list_projects(self, *, include_archived: bool = True) -> Iterator[Project]:
        """Every project; archived ones too by default, since their usage still needs names."""
        params: dict[str, QueryValue] = {"include_archived": include_archived, "limit": LIST_LIMIT}
        return self._items(_PROJECTS, ListPage[Project], params=params)

    def get_project(self, project_id: str) -> Project:
        return self._get(_PROJECT, Project, path={"project_id": project_id})

    def list_users(self, *, emails: Sequence[str] = ()) -> Iterator[User]:
        if isinstance(emails, str):
            raise ValueError("emails takes a list of strings")
        params: dict[str, QueryValue] = {"emails": list(emails), "limit": LIST_LIMIT}
        return self._items(_USERS, ListPage[User], params=params)

    def get_user(self, user_id: str) -> User:
        return self._get(_USER, User, path={"user_id": user_id})

    def list_project_users(self, project_id: str) -> Iterator[ProjectUser]:
        """Raises `RequestRejectedError` (HTTP 400) for an archived project."""
        path = {"project_id": project_id}
        return self._items(
            _PROJECT_USERS, ListPage[ProjectUser], path=path, params={"limit": LIST_LIMIT}
        )

    def get_project_user(self, project_id: str, user_id: str) -> ProjectUser:
        path = {"project_id": project_id, "user_id": user_id}
        return self._get(_PROJECT_USER, ProjectUser, path=path)

    def list_project_api_keys(
        self, project_id: str, *, owner_project_access: OwnerProjectAccess | None = "any"
    ) -> Iterator[ProjectApiKey]:
        """A project's API keys. `"any"` lists every enabled key, so each `api_key_id` seen in
        usage resolves; None applies the endpoint's membership-based visibility instead."""
        if owner_project_access not in ("active", "inactive", "any", None):
            raise ValueError(
                f"owner_project_access must be active, inactive or any, got "
                f"{owner_project_access!r}"
            )
        params: dict[str, QueryValue] = {
            "owner_project_access": owner_project_access,
            "limit": LIST_LIMIT,
        }
        path = {"project_id": project_id}
        return self._items(_PROJECT_API_KEYS, ListPage[ProjectApiKey], path=path, params=params)

    def get_project_api_key(self, project_id: str, api_key_id: str) -> ProjectApiKey:
        path = {"project_id": project_id, "api_key_id": api_key_id}
        return self._get(_PROJECT_API_KEY, ProjectApiKey, path=path)

    def list_project_service_accounts(self, project_id: str) -> Iterator[ProjectServiceAccount]:
        """Raises `RequestRejectedError` (HTTP 400) for an archived project."""
        path = {"project_id": project_id}
        return self._items(
            _SERVICE_ACCOUNTS,
            ListPage[ProjectServiceAccount],
            path=path,
            params={"limit": LIST_LIMIT},
        )

    def get_project_service_account(
        self, project_id: str, service_account_id: str
    ) -> ProjectServiceAccount:
        path = {"project_id": project_id, "service_account_id": service_account_id}
        return self._get(_SERVICE_ACCOUNT, ProjectServiceAccount, path=path)

    def list_project_rate_limits(self, project_id: str) -> Iterator[ProjectRateLimit]:
        path = {"project_id": project_id}
        return self._items(
            _RATE_LIMITS, ListPage[ProjectRateLimit], path=path, params={"limit": LIST_LIMIT}
        )

    def project_rate_limit_pages(self, project_id: str) -> Iterator[ProjectRateLimitPage]:
        """A project's rate limits page by page, for collecting them as a stream: a limit that
        fails its schema is in the page's `invalid` instead of failing the page."""
        path = {"project_id": project_id}
        _format_path(_RATE_LIMITS, path)  # reject a bad id now, not at the first page
        params = {"limit": LIST_LIMIT}
        return self._list_pages(_RATE_LIMITS, ProjectRateLimitPage, path=path, params=params)

    def list_admin_api_keys(
        self, *, order: Literal["asc", "desc"] = "asc"
    ) -> Iterator[AdminApiKey]:
        """Admin keys page with `after` = the last item's id (the SDK's `SyncCursorPage`). No
        maximum `limit` is documented, so the server's default page size is kept."""
        if order not in ("asc", "desc"):
            raise ValueError(f"order must be asc or desc, got {order!r}")
        return self._items(
            _ADMIN_API_KEYS, ListPage[AdminApiKey], params={"order": order}, cursor=_last_item_id
        )

    def get_admin_api_key(self, key_id: str) -> AdminApiKey:
        return self._get(_ADMIN_API_KEY, AdminApiKey, path={"key_id": key_id})

    # --- paging ---------------------------------------------------------------------------------

    def _list_pages(
        self,
        endpoint: str,
        model: type[PageT],
        *,
        path: Mapping[str, str] | None = None,
        params: Mapping[str, QueryValue],
        cursor: Callable[[PageT], str | None] = lambda page: page.last_id,
    ) -> Iterator[PageT]:
        after: str | None = None
        while True:
            page = self._get(endpoint, model, path=path, params={**params, "after": after})
            yield page
            if not page.has_more:
                return
            after = cursor(page)
            if not after:
                logger.warning("%s: has_more without a cursor; stopping here", endpoint)
                return

    def _items(
        self,
        endpoint: str,
        model: type[ListPage[ItemT]],
        *,
        path: Mapping[str, str] | None = None,
        params: Mapping[str, QueryValue],
        cursor: Callable[[ListPage[ItemT]], str | None] = lambda page: page.last_id,
    ) -> Iterator[ItemT]:
        if path is not None:
            _format_path(endpoint, path)  # reject a bad id now, not at the first item
        pages = self._list_pages(endpoint, model, path=path, params=params, cursor=cursor)
        return (item for page in pages for item in page.data)

    # --- one request ----------------------------------------------------------------------------

    def _get(
        self,
        endpoint: str,
        model: type[ModelT],
        *,
        path: Mapping[str, str] | None = None,
        params: Mapping[str, QueryValue] | None = None,
        subject: str | None = None,
    ) -> ModelT:
        """GET `endpoint` (a path template) and parse it as `model`, retrying per the policy.
        `subject` names what is fetched in errors (a stream; by default the endpoint)."""
        url = _format_path(endpoint, path) if path else endpoint
        request = self._http.build_request("GET", url, params=encode_query(params or {}))

        def on_retry(failed: AttemptFailed, wait: float, attempt: int) -> None:
            logger.warning(
                "GET %s: attempt %d of %d failed (%s), retrying in %.3f s: %s",
                endpoint,
                attempt,
                self._policy.max_attempts,
                failed.reason,
                wait,
                failed.error,
            )
            if self._observer is not None:
                self._observer.on_retry(endpoint, failed.reason, wait)

        attempts = self._exchange.attempts(endpoint, request, model, subject or endpoint)
        return self._policy.run(attempts, on_retry)


def _format_path(template: str, values: Mapping[str, str]) -> str:
    for name, value in values.items():
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return template.format_map({name: quote(value, safe="") for name, value in values.items()})


def _last_item_id(page: ListPage[AdminApiKey]) -> str | None:
    return page.data[-1].id if page.data else None
