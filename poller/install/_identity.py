"""Who setup is, as Elasticsearch sees its credentials: Kibana runs each rule's queries with an
API key of whoever created or last updated the rule, so that identity's privileges decide what
the rules can read."""

from __future__ import annotations

from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch

from poller.sinks.elasticsearch import describe_error


def identity(es: Elasticsearch) -> str:
    """"API key 'name' (id …) of user …", "user …", or what is known when the cluster cannot
    say (security disabled, or no security API)."""
    try:
        body = es.security.authenticate().body
    except ApiError as exc:
        reason = describe_error(exc.body, f"HTTP {exc.meta.status}")
        return f"setup's credentials (Elasticsearch did not say whose: {reason})"
    except TransportError as exc:
        return f"setup's credentials (Elasticsearch did not say whose: {exc})"
    user = body.get("username") or "(unnamed)"
    api_key = body.get("api_key") or {}
    if body.get("authentication_type") != "api_key" and not api_key:
        return f"user {user}"
    name, key_id = api_key.get("name"), api_key.get("id", "?")
    label = f"API key {name!r} (id {key_id})" if name else f"API key {key_id}"
    return f"{label} of user {user}"
