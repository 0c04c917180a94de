"""`setup [--dry-run]`: install templates and lifecycle, and Kibana objects with KIBANA_URL."""

from __future__ import annotations

from poller.errors import ConfigError
from poller.install import KibanaAuth, run_setup
from poller.runtime import open_sink
from poller.settings import Settings
from poller.sinks.elasticsearch import ElasticsearchSink

__all__ = ["setup"]


def setup(settings: Settings, *, dry_run: bool) -> int:
    es = settings.elasticsearch
    if es.url is None:
        raise ConfigError(
            "setup: ELASTICSEARCH_URL is not set (the embedded store needs no templates)"
        )
    auth = None
    if settings.kibana_url:
        auth = KibanaAuth(
            api_key=es.api_key.get_secret_value() if es.api_key else None,
            username=es.username,
            password=es.password.get_secret_value() if es.password else None,
        )
    sink = open_sink(settings)
    assert isinstance(sink, ElasticsearchSink)  # noqa: S101 - es.url is set
    with sink:
        report = run_setup(
            es=sink.client,
            kibana_url=settings.kibana_url,
            kibana_auth=auth,
            dry_run=dry_run,
            namespaces={org.namespace for org in settings.orgs} or None,
        )
    for line in report.lines():
        print(line)
    return 0
