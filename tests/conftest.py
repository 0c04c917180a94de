"""Shared fixtures: a real Elasticsearch-wire server for integration tests.

`elasticsearch_url` starts `noida-db` (an Elasticsearch-compatible server, reporting 8.15.3) once
per session on a free port, or uses the cluster named by `POLLER_TEST_ELASTICSEARCH_URL` (with
`POLLER_TEST_ELASTICSEARCH_API_KEY` and `POLLER_TEST_ELASTICSEARCH_CA_CERTS` when set) and starts
nothing. Each test gets its own `es_namespace`, so data streams and indices never overlap between
tests; everything created under it is deleted afterwards.

noida-db gaps (probed with 0.2.3): no `_data_stream`, `_ilm`, `_security` or `_resolve` APIs, no
`composite` aggregation, no `missing` option on `terms`, no rollover, and a data stream name is
created as a plain index (so `_index` in answers is the data stream name itself). Paths that need
those are covered by unit tests against recorded responses instead.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import ApiError, Elasticsearch, ElasticsearchWarning

from poller.sinks.es_client import Compat8Transport

_STARTUP_SECONDS = 30.0
_STOP_SECONDS = 10.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 (our own http URL)
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _noida_binary() -> str:
    """The native server itself: the `noida-db` console script only wraps it in a Python
    process that would not pass our SIGTERM on."""
    try:
        native = importlib.resources.files("noida_db").joinpath("noida-db")
    except ModuleNotFoundError:
        native = None
    if native is not None and native.is_file() and os.access(str(native), os.X_OK):
        return str(native)
    found = shutil.which("noida-db", path=str(Path(sys.executable).parent)) or shutil.which(
        "noida-db"
    )
    if not found:
        pytest.fail("noida-db is not installed (pip install noida-db==0.2.3)")
    return found


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, SIGKILL it if it lingers, and reap the leader."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        deadline = time.monotonic() + _STOP_SECONDS
        while time.monotonic() < deadline:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.1)
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return  # the whole group is gone
    proc.wait()


@pytest.fixture(scope="session")
def elasticsearch_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of the test Elasticsearch: POLLER_TEST_ELASTICSEARCH_URL, or a fresh noida-db."""
    external = os.environ.get("POLLER_TEST_ELASTICSEARCH_URL")
    if external:
        yield external
        return
    port = _free_port()
    data_dir = tmp_path_factory.mktemp("noida")
    url = f"http://127.0.0.1:{port}"
    with (data_dir / "noida.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                _noida_binary(),
                "start",
                "--only",
                "elasticsearch",
                "--elasticsearch-port",
                str(port),
                "--data-dir",
                str(data_dir / "data"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,  # a harmless GLIBC warning lands here
            start_new_session=True,  # its own process group, stopped as a whole
        )
        try:
            deadline = time.monotonic() + _STARTUP_SECONDS
            while not _answers(url):
                if proc.poll() is not None:
                    output = (data_dir / "noida.log").read_text(errors="replace")
                    pytest.fail(f"noida-db exited with {proc.returncode}:\n{output}")
                if time.monotonic() > deadline:
                    pytest.fail(f"noida-db did not answer on {url} within {_STARTUP_SECONDS}s")
                time.sleep(0.1)
            yield url
        finally:
            _stop_group(proc)


@pytest.fixture(scope="session")
def elasticsearch_api_key() -> str | None:
    return os.environ.get("POLLER_TEST_ELASTICSEARCH_API_KEY") or None


@pytest.fixture(scope="session")
def elasticsearch_ca_certs() -> str | None:
    return os.environ.get("POLLER_TEST_ELASTICSEARCH_CA_CERTS") or None


@pytest.fixture
def es_client(
    elasticsearch_url: str, elasticsearch_api_key: str | None, elasticsearch_ca_certs: str | None
) -> Iterator[Elasticsearch]:
    """An `elasticsearch.Elasticsearch` client on the test cluster, closed afterwards. It speaks
    REST compatibility version 8, like the sink, so it works with 8.x and 9.x clusters."""
    kwargs: dict[str, Any] = {"request_timeout": 30, "transport_class": Compat8Transport}
    if elasticsearch_api_key:
        kwargs["api_key"] = elasticsearch_api_key
    if elasticsearch_ca_certs:
        kwargs["ca_certs"] = elasticsearch_ca_certs
    client = Elasticsearch(elasticsearch_url, **kwargs)
    try:
        yield client
    finally:
        client.close()


@dataclass(frozen=True)
class EsNamespace:
    """One test's corner of the cluster: data streams `logs-openai.<stream>-<name>` and its own
    state and dead-letter indices."""

    name: str

    def data_stream(self, stream: str) -> str:
        return f"logs-openai.{stream}-{self.name}"

    @property
    def state_index(self) -> str:
        return f"openai-poller-state-{self.name}"

    @property
    def deadletter_index(self) -> str:
        return f"openai-poller-deadletter-{self.name}"


@pytest.fixture
def es_namespace(es_client: Elasticsearch) -> Iterator[EsNamespace]:
    """A unique namespace, with an index template making `logs-openai.*-<ns>` data streams with
    exact numeric types (long/double) and keyword strings; all of it is deleted afterwards."""
    ns = EsNamespace("t" + uuid.uuid4().hex[:12])
    template = f"openai-poller-test-{ns.name}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ElasticsearchWarning)
        es_client.indices.put_index_template(
            name=template,
            index_patterns=[f"logs-openai.*-{ns.name}"],
            data_stream={},
            priority=500,
            template={
                "mappings": {
                    "dynamic_templates": [
                        {
                            "strings": {
                                "match_mapping_type": "string",
                                "mapping": {"type": "keyword"},
                            }
                        },
                        {"longs": {"match_mapping_type": "long", "mapping": {"type": "long"}}},
                        {
                            "doubles": {
                                "match_mapping_type": "double",
                                "mapping": {"type": "double"},
                            }
                        },
                    ],
                    "properties": {"@timestamp": {"type": "date"}},
                }
            },
        )
    try:
        yield ns
    finally:
        _cleanup(es_client, ns.name, template)


def _cleanup(client: Elasticsearch, ns: str, template: str) -> None:
    """Best effort: data streams (real Elasticsearch), then plain indices, then the template."""
    try:
        streams = client.indices.get_data_stream(name=f"*-{ns}").body.get("data_streams", [])
        if streams:
            client.indices.delete_data_stream(name=[s["name"] for s in streams])
    except ApiError:
        pass  # noida-db has no data stream API: its data streams are plain indices
    try:
        names = [
            name
            for name in client.indices.get(
                index=f"*{ns}*",
                expand_wildcards="all",
                ignore_unavailable=True,
                allow_no_indices=True,
            ).body
            if not name.startswith(".ds-")
        ]
        if names:
            client.indices.delete(index=names)
    except ApiError:
        pass
    with contextlib.suppress(ApiError):
        client.indices.delete_index_template(name=template)
