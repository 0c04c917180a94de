"""`setup [--dry-run]`: install templates and lifecycle, and Kibana objects with KIBANA_URL."""

from __future__ import annotations

from poller.errors import ConfigError
from poller.install import KibanaAuth, run_setup
from poller.runtime import open_elasticsearch
from poller.settings import Settings

__all__ = ["setup"]


def setup(settings: Settings, *, dry_run: bool) -> int:
    es = settings.elasticsearch
    if es.url is None:
        raise ConfigError(
            "setup: ELASTICSEARCH_URL is not set (the embedded store needs no templates)"
        )
    auth = None
    if settings.kibana_url:
        try:
            auth = KibanaAuth(
                api_key=es.api_key.get_secret_value() if es.api_key else None,
                username=es.username,
                password=es.password.get_secret_value() if es.password else None,
                ca_certs=str(settings.kibana_ca_certs) if settings.kibana_ca_certs else None,
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    with open_elasticsearch(settings) as sink:
        try:
            report = run_setup(
                es=sink.client,
                kibana_url=settings.kibana_url,
                kibana_auth=auth,
                dry_run=dry_run,
                namespaces={org.namespace for org in settings.orgs} or None,
            )
        except (ValueError, FileNotFoundError) as exc:
            raise ConfigError(str(exc)) from None
    for line in report.lines():
        print(line)
    return 0
