"""`doctor`: each check passes or fails with the fix to apply."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from poller.errors import AuthenticationError, PollerError, SinkRejectedError
from poller.install import (
    check_privileges,
    live_conflicts,
    missing_templates,
    run_setup,
    writer_role,
)
from poller.redaction import redact
from poller.runtime import open_elasticsearch, org_runtime
from poller.settings import Settings
from poller.sinks.elasticsearch import ClusterDiagnostics, ElasticsearchSink
from poller.sinks.sqlite import SqliteSink
from poller.streams import get_stream

from .setup import setup_options

__all__ = ["doctor"]

_ROLE_FIX = (
    "fix: grant them, e.g. as one more role of these credentials (PUT "
    "_security/role/openai-poller-writer-extra) or in a new API key's role_descriptors; the "
    "whole writer role is in docs/elasticsearch-privileges.md"
)


class Check(Protocol):
    """Runs one check and prints its line; False when it failed or was skipped."""

    def __call__(
        self, name: str, probe: Callable[[], str], *, needs: str | None = None
    ) -> bool: ...


def doctor(settings: Settings) -> int:
    """One line per check; a check that depends on a failed one is skipped, not failed again,
    so each problem is reported once, with its fix."""
    failed = 0

    def check(name: str, probe: Callable[[], str], *, needs: str | None = None) -> bool:
        nonlocal failed
        if needs is not None:
            print(f"skip  {name}: needs {needs}")
            return False
        try:
            detail = probe()
        except (PollerError, OSError) as exc:
            failed += 1
            print(f"FAIL  {name}: {redact(str(exc))}")
            return False
        print(f"ok    {name}: {detail}")
        return True

    for org in settings.orgs:
        with org_runtime(org, fail_fast=True) as rt:

            def key() -> str:
                try:
                    projects = list(rt.client.list_projects(include_archived=True))
                except AuthenticationError as exc:
                    raise AuthenticationError(
                        f"{exc} -- fix: use an organization admin key (sk-admin-...) from "
                        "platform.openai.com/settings/organization/admin-keys",
                        method=exc.method, url=exc.url, status=exc.status or 401,
                    ) from None
                return f"admin key works ({len(projects)} projects visible)"

            def audit() -> str:
                page = next(iter(rt.client.audit_log_pages(limit=1)), None)
                if page is None or not page.data:
                    return ("no audit events yet -- hint: activate audit logging in the "
                            "organization settings (it cannot be deactivated afterwards)")
                return "audit logging returns events"

            key_ok = check(f"{org.name}: admin key", key)
            check(f"{org.name}: audit logging", audit,
                  needs=None if key_ok else "a working admin key")

    if settings.elasticsearch.url is None:
        check("embedded store", lambda: _store(settings.store_path.absolute()))
    else:
        with open_elasticsearch(settings) as sink:
            _check_elasticsearch(sink, check, settings)
    return 1 if failed else 0


def _store(path: Path) -> str:
    """Whether `run` and `backfill` can write the store, without creating it (doctor changes
    nothing): an existing one is opened read-only, a missing one needs a writable directory."""
    if path.exists():
        SqliteSink(str(path), read_only=True).close()  # a store, and readable
        if not os.access(path, os.W_OK):
            raise OSError(f"the embedded store {path} is read-only -- fix: make it writable")
        return f"writable at {path}"
    parent = next(p for p in path.parents if p.exists())
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise OSError(
            f"cannot create the embedded store {path}: {parent} is not a writable directory "
            "-- fix: point POLLER_STORE_PATH at a writable directory"
        )
    return f"none yet at {path}; backfill or run creates it"


def _check_elasticsearch(sink: ElasticsearchSink, check: Check, settings: Settings) -> None:
    """The cluster's checks: what needs the cluster is skipped when it cannot be reached, so
    that problem is reported once."""
    diagnostics = ClusterDiagnostics(sink.cluster, sink.indices)

    def reachable() -> str:
        info = diagnostics.info()
        if not info.supported:
            raise OSError(f"Elasticsearch {info.version} is not 8.x/9.x")
        return f"Elasticsearch {info.version}"

    def privileges() -> str:
        role = writer_role(
            state_index=sink.indices.state, deadletter_index=sink.indices.deadletter
        )
        report = check_privileges(sink.client, role)
        if not report.checked:
            return f"not checked ({report.note})"
        if not report.ok:
            names = report.missing_names()
            shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
            raise OSError(
                f"the credentials lack {len(names)} privileges of the writer role ({shown}) "
                f"-- {_ROLE_FIX}:\n{report.fix()}"
            )
        return "privileges ok"

    def templates() -> str:
        streams = {stream for org in settings.orgs for stream in org.streams}
        missing = missing_templates(sink.client, streams or None)
        if missing:
            shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
            raise OSError(f"templates missing ({shown}) -- fix: run openai-poller setup")
        options = setup_options(settings)
        try:
            report = run_setup(
                es=sink.client,
                kibana_url=None,
                dry_run=True,
                namespaces={org.namespace for org in settings.orgs} or None,
                options=options,
            )
        except SinkRejectedError as exc:
            return f"templates installed (not compared: {exc})"
        if report.changed:
            outdated = [c.target for c in report.changes if c.action in ("create", "update")]
            raise OSError(
                f"templates outdated ({', '.join(outdated[:3])}"
                + (", ...)" if len(outdated) > 3 else ")")
                + " -- fix: run openai-poller setup"
            )
        return "templates installed"

    def mappings() -> str:
        targets = sorted({
            (stream, get_stream(stream).data_stream(org.namespace))
            for org in settings.orgs for stream in org.streams
        })
        found = live_conflicts(sink.client, targets)
        conflicts = found.conflicts
        if conflicts:
            raise OSError(
                f"{len(conflicts)} field(s) of existing data streams mapped with another type "
                "than the templates:\n" + "\n".join(f"  {c.describe()}" for c in conflicts)
            )
        if not found.existing:
            return "no data stream of the configured streams exists yet"
        return f"{len(found.existing)} existing data streams map every field as the templates do"

    needs = None if check("elasticsearch: reachable", reachable) else (
        "a reachable cluster that accepts the credentials"
    )
    check("elasticsearch: privileges", privileges, needs=needs)
    check("elasticsearch: templates", templates, needs=needs)
    check("elasticsearch: mappings", mappings, needs=needs)
