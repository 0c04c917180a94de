"""The process's one redactor: credentials joining it after start-up, text kept well-formed,
and the Elasticsearch errors that leave through dead letters and messages."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from poller.redaction import REDACTED, Redactor, install, redact, remember
from poller.sinks.elasticsearch import ErrorTranslator, describe_error

USER, PASSWORD = "drill-writer", "es-pw-Lk4Jd8Wq2Zr6Tn0"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
API_KEY = "VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw"
APIKEY_HEADER = "ApiKey " + base64.b64encode(API_KEY.encode()).decode()


@pytest.fixture(autouse=True)
def fresh_redactor() -> Iterator[None]:
    install(Redactor())
    yield
    install(Redactor())


def test_a_credential_remembered_later_is_redacted_in_every_shape() -> None:
    encoded = base64.b64encode(API_KEY.encode()).decode()
    assert redact(encoded) == encoded  # unknown: base64 alone is not a credential shape
    remember([API_KEY])
    assert redact(f"key {API_KEY} / {encoded} / {API_KEY.partition(':')[2]}") == (
        f"key {REDACTED} / {REDACTED} / {REDACTED}"
    )


def test_remembering_keeps_what_was_known_and_ignores_short_values() -> None:
    install(Redactor(["first-secret-value"]))
    remember(["second-secret-value", "abc"])
    assert redact("first-secret-value second-secret-value abc") == (
        f"{REDACTED} {REDACTED} abc"
    )


@pytest.mark.parametrize(
    "header", ["Bearer sk-admin-zzzzzzzzzzzzzzzzzzzzzzzz", BASIC, APIKEY_HEADER]
)
def test_redacting_a_json_line_keeps_it_json(header: str) -> None:
    """The JSON log formatter's line is redacted whole: an echoed header right before an
    escaped quote must not take the escaping backslash with it."""
    line = json.dumps({"message": f'request had "Authorization: {header}" (param: {header})'})
    scheme = header.partition(" ")[0]
    assert json.loads(Redactor()(line)) == {
        "message": f'request had "Authorization: {scheme} {REDACTED}" (param: {scheme} {REDACTED})'
    }


def test_elasticsearch_error_bodies_are_redacted_where_they_are_described() -> None:
    """What a bulk item or a refusal carries is kept in dead letters and printed: a cluster
    or proxy echoing the Authorization header must not put the credential there."""
    remember([f"{USER}:{PASSWORD}", API_KEY])
    item = {"error": {"type": "mapper_parsing_exception",
                      "reason": f"bad; Authorization={BASIC.split()[1]}",
                      "caused_by": {"type": "x", "reason": f"id:key {API_KEY}"}}}
    assert describe_error(item, "") == (
        f"mapper_parsing_exception: bad; Authorization={REDACTED} (caused by x: id:key "
        f"{REDACTED})"
    )
    assert describe_error({"error": f"echo {APIKEY_HEADER}"}, "") == f"echo ApiKey {REDACTED}"


def test_the_error_translator_teaches_the_process_its_credentials() -> None:
    errors = ErrorTranslator("http://es:9200", [API_KEY, f"{USER}:{PASSWORD}"], 5)
    encoded_pair = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert errors.scrub(f"x {encoded_pair} y") == f"x {REDACTED} y"
    assert redact(f"dead letter {encoded_pair}") == f"dead letter {REDACTED}"
    refused = errors.api_error("bulk", 401, {"error": {"type": "security_exception",
                                                       "reason": f"header {BASIC}"}})
    assert encoded_pair not in str(refused) and PASSWORD not in str(refused)


def test_setup_credentials_count_as_their_pair_too() -> None:
    from poller.settings import load_settings, secret_values

    settings = load_settings(
        orgs=[{"name": "a", "admin_key": "sk-admin-first-org-key"}],
        setup={"elasticsearch_username": "setup-admin", "elasticsearch_password": "setup-pw-9"},
    )
    assert "setup-admin:setup-pw-9" in secret_values(settings)  # what its Basic header encodes


def test_connecting_with_a_password_teaches_the_redactor_its_basic_header() -> None:
    from poller.sinks.elasticsearch import EsConnection, EsCredentials
    from poller.sinks.elasticsearch._connection import Cluster

    encoded_pair = BASIC.partition(" ")[2]
    assert redact(f"echo {encoded_pair}") == f"echo {encoded_pair}"  # not known yet
    credentials = EsCredentials(username=USER, password=PASSWORD)
    Cluster.connect(EsConnection("http://es.example.internal:9200", credentials)).close()
    assert redact(f"echo {encoded_pair}") == f"echo {REDACTED}"
