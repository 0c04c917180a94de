"""Credentials sent over plain `http://`: allowed, since a test cluster or a proxy on a trusted
network is common, but warned about unless the host is this machine or `allow_insecure_http`
says the network is trusted."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from poller.settings._model import Settings

__all__ = ["plain_http_warnings"]


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: it may resolve anywhere
        return False


def _exposed(url: str | None) -> bool:
    if url is None:
        return False
    parts = urlsplit(url)
    return parts.scheme == "http" and not _loopback(parts.hostname or "")


def plain_http_warnings(settings: Settings) -> tuple[str, ...]:
    """One warning per setting whose `http://` URL would carry credentials off this machine."""
    if settings.allow_insecure_http:
        return ()
    exposed: dict[str, str] = {}  # the setting, and what it would expose
    for index, org in enumerate(settings.orgs):
        inherited = org.base_url == settings.openai_base_url
        if _exposed(org.base_url):
            where = "openai_base_url" if inherited else f"orgs[{index}].base_url"
            exposed[where] = "the admin key"
    es, setup = settings.elasticsearch, settings.setup
    daemon = es.api_key is not None or es.username is not None
    own = setup.elasticsearch_api_key is not None or setup.elasticsearch_username is not None
    if daemon or own:
        for where, url in (("elasticsearch.url", es.url), ("kibana_url", settings.kibana_url)):
            if _exposed(url):
                exposed[where] = "the Elasticsearch credentials"
    return tuple(
        f"config: {where}: use https://, or set POLLER_ALLOW_INSECURE_HTTP=true on a trusted "
        f"network: plain http:// sends {what} unencrypted"
        for where, what in exposed.items()
    )
