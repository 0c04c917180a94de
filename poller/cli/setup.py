"""`setup [--dry-run] [--reset-rules] [--es-api-key-file PATH] [--destination-assets DIR]`:
install templates, lifecycle and the audit pipeline, and Kibana objects with KIBANA_URL; when
orgs have destinations, say what their receivers need and write the files for them (Prometheus
rules, the Splunk dashboard) into DIR.

Each line is printed as it happens, so a run that fails half-way has shown what it installed
before its one-line error. setup authenticates with its own credentials (`--es-api-key-file`,
or `setup.elasticsearch_api_key` / `setup.elasticsearch_username`) and falls back to the
daemon's; Kibana rules run as whoever setup is.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from poller.errors import ConfigError
from poller.install import (
    DESTINATION_ASSETS,
    Change,
    KibanaAuth,
    SetupOptions,
    destination_notes,
    plan_setup,
    run_setup,
    write_destination_asset,
)
from poller.redaction import redact
from poller.runtime import open_elasticsearch, retention_texts
from poller.settings import ElasticsearchSettings, Settings

__all__ = ["destination_setup", "setup", "setup_options"]


def setup_options(settings: Settings, *, reset_rules: bool = False) -> SetupOptions:
    """What the settings ask setup to install (doctor compares against the same)."""
    own = settings.setup
    return SetupOptions(
        ilm=own.ilm,
        rule_parameters=settings.alerts.rule_parameters(),
        kibana_space=own.kibana_space,
        retention=retention_texts(settings),
        reset_rules=reset_rules,
    )


def _read_key(path: str) -> str:
    try:
        key = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise ConfigError(f"setup: --es-api-key-file: cannot read {path}: {reason}") from None
    if not key:
        raise ConfigError(f"setup: --es-api-key-file: {path} is empty")
    return key


def _credentials(settings: Settings, api_key_file: str | None) -> ElasticsearchSettings:
    """The Elasticsearch settings with setup's own credentials in place of the daemon's."""
    es, own = settings.elasticsearch, settings.setup
    update: dict[str, object]
    if api_key_file is not None:
        update = {"api_key": SecretStr(_read_key(api_key_file)), "username": None, "password": None}
    elif own.elasticsearch_api_key is not None:
        update = {"api_key": own.elasticsearch_api_key, "username": None, "password": None}
    elif own.elasticsearch_username is not None:
        update = {
            "api_key": None,
            "username": own.elasticsearch_username,
            "password": own.elasticsearch_password,
        }
    else:
        return es  # the report's "run as" line says whose they are
    return es.model_copy(update=update)


def _kibana_auth(settings: Settings, es: ElasticsearchSettings) -> KibanaAuth | None:
    if not settings.kibana_url:
        return None
    try:
        return KibanaAuth(
            api_key=es.api_key.get_secret_value() if es.api_key else None,
            username=es.username,
            password=es.password.get_secret_value() if es.password else None,
            ca_certs=str(settings.kibana_ca_certs) if settings.kibana_ca_certs else None,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def destination_setup(settings: Settings, directory: str | None, *, dry_run: bool) -> None:
    """For the destination types the orgs configure: what each receiver needs, and each file
    it takes, written into `directory` when given."""
    types = {d.type for org in settings.orgs for d in org.destinations}
    if not types:
        return
    print(f"destinations: {', '.join(sorted(types))}", flush=True)
    for kind, note in destination_notes(types):
        print(f"  {kind}: {note}", flush=True)
    for asset in DESTINATION_ASSETS:
        if not asset.types & types:
            continue
        if directory is None:
            print(f"  {asset.file} ({asset.source}): {asset.what}; "
                  "write it with --destination-assets DIR", flush=True)
            continue
        try:
            outcome = write_destination_asset(asset, Path(directory), dry_run=dry_run)
        except OSError as exc:
            raise ConfigError(
                f"setup: --destination-assets: cannot write {directory}: {exc.strerror}"
            ) from None
        verb = {"created": "would create", "updated": "would update"}.get(outcome, outcome)
        print(f"  {verb if dry_run else outcome} {Path(directory) / asset.file}: {asset.what}; "
              f"{asset.where}", flush=True)


def setup(
    settings: Settings,
    *,
    dry_run: bool,
    reset_rules: bool = False,
    api_key_file: str | None = None,
    destination_assets: str | None = None,
) -> int:
    options = setup_options(settings, reset_rules=reset_rules)
    if destination_assets is not None and not any(org.destinations for org in settings.orgs):
        raise ConfigError("setup: --destination-assets: no org has destinations to write them for")

    def show(change: Change) -> None:
        print(redact(change.line(dry_run)), flush=True)  # a server may echo what it was sent

    if settings.elasticsearch.url is None and not dry_run:
        if not any(org.destinations for org in settings.orgs):
            raise ConfigError(
                "setup: ELASTICSEARCH_URL is not set (the embedded store needs no templates)"
            )
        destination_setup(settings, destination_assets, dry_run=dry_run)
        return 0
    if settings.elasticsearch.url is None:
        # Nothing to compare with: the plan, for review before a cluster is configured.
        try:
            plan_setup(kibana=bool(settings.kibana_url), options=options, on_change=show)
        except (ValueError, FileNotFoundError) as exc:
            raise ConfigError(str(exc)) from None
        destination_setup(settings, destination_assets, dry_run=dry_run)
        return 0
    es = _credentials(settings, api_key_file)
    auth = _kibana_auth(settings, es)
    with open_elasticsearch(settings.model_copy(update={"elasticsearch": es})) as sink:
        try:
            run_setup(
                es=sink.client,
                kibana_url=settings.kibana_url,
                kibana_auth=auth,
                dry_run=dry_run,
                namespaces={org.namespace for org in settings.orgs} or None,
                options=options,
                on_change=show,
            )
        except (ValueError, FileNotFoundError) as exc:
            raise ConfigError(str(exc)) from None
    destination_setup(settings, destination_assets, dry_run=dry_run)
    return 0
