"""Secret scans for every shape a credential can take on the way out.

Every command an operator runs (`setup --dry-run`, `backfill`, `run` with `/metrics`,
`/healthz` and `/readyz` scraped, `status`, `status --json`, `report`, `doctor`) runs as a real
process against the simulator and the test Elasticsearch, with an admin key and Elasticsearch
credentials of each kind: a username and password, and an API key given as `id:key`. Then the
servers turn hostile and echo the `Authorization` header they were sent: an Elasticsearch (a
proxy in front of the test cluster) that puts it into every error answer and into bulk item
errors (which the sink dead-letters), and an OpenAI proxy that quotes it in its error messages.

Each secret is looked for in every shape it can leak in: as given, base64 (standard, unpadded
and URL-safe), the `Basic <base64(user:password)>` and `ApiKey <base64(id:key)>` header values,
the `user:password` / `id:key` pair, and URL user info (`user:password@`). The places: every
command's stdout and stderr, the logs, the embedded store (its bytes and its decoded
documents), every document of the Elasticsearch namespace (data streams, state and dead
letters) and the daemon's `/metrics`, `/healthz` and `/readyz` answers.

noida-db ignores credentials; against a real test cluster (`POLLER_TEST_ELASTICSEARCH_URL`) the
proxy swaps the poller's made-up credentials for the cluster's own API key, so the drill runs
there unchanged.
"""

from __future__ import annotations

import base64
import http.client
import http.server
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest
from drill_support import (
    ES_PASSWORD,
    KEY,
    Check,
    backfill_cmd,
    http_get,
    metric_total,
    poller_env,
    record,
    scan_for_secrets,
    simulator,
    wait_until,
    window,
)
from elasticsearch import Elasticsearch, helpers
from loopback import free_port

if TYPE_CHECKING:
    from tests.conftest import EsNamespace

pytestmark = pytest.mark.drill

ES_USER = "drill-writer"
ES_USER_PASSWORD = "es-pw-Lk4Jd8Wq2Zr6Tn0"
API_KEY_ID = "VuaCfGcBCdbkQm-e5aOx"
API_KEY_SECRET = "ui2lp2axTNmsyakw9tvNnw"
SETUP_KEY_ID, SETUP_KEY_SECRET = "SetupKeyId7Qm2", "setup-secret-Hx81QzLw"  # --es-api-key-file
STREAMS = ["costs", "audit", "completions"]

Kind = Literal["basic", "api_key"]


def _b64(text: str) -> dict[str, str]:
    standard = base64.b64encode(text.encode()).decode()
    return {
        "base64": standard,
        "base64 unpadded": standard.rstrip("="),
        "base64 url-safe": base64.urlsafe_b64encode(text.encode()).decode().rstrip("="),
    }


def _pair_shapes(what: str, user: str, secret: str, scheme: str) -> dict[str, str]:
    pair = f"{user}:{secret}"
    shapes = {f"{what} secret": secret, f"{what} pair": pair,
              f"{what} header": f"{scheme} {base64.b64encode(pair.encode()).decode()}",
              f"{what} URL user info": f"{pair}@"}
    shapes |= {f"{what} secret {k}": v for k, v in _b64(secret).items()}
    shapes |= {f"{what} pair {k}": v for k, v in _b64(pair).items()}
    return shapes


def shapes(kind: Kind) -> dict[str, str]:
    """Every shape of every secret the poller holds in this drill, by name: the admin key,
    the daemon's Elasticsearch credentials of `kind`, and setup's own API key."""
    found = {"admin key": KEY, "admin key header": f"Bearer {KEY}"}
    found |= {f"admin key {k}": v for k, v in _b64(KEY).items()}
    if kind == "basic":
        found |= _pair_shapes("ES password", ES_USER, ES_USER_PASSWORD, "Basic")
    else:
        found |= _pair_shapes("ES API key", API_KEY_ID, API_KEY_SECRET, "ApiKey")
    found |= _pair_shapes("setup's API key", SETUP_KEY_ID, SETUP_KEY_SECRET, "ApiKey")
    return found


def es_credentials(kind: Kind) -> dict[str, str]:
    if kind == "basic":
        return {"ELASTICSEARCH_USERNAME": ES_USER, "ELASTICSEARCH_PASSWORD": ES_USER_PASSWORD}
    return {"ELASTICSEARCH_API_KEY": f"{API_KEY_ID}:{API_KEY_SECRET}"}


# --- hostile servers ------------------------------------------------------------------------------

EsMode = Literal["pass", "echo", "echo-items", "echo-all-items"]
ES_HEADERS = {"Content-Type": "application/vnd.elasticsearch+json;compatible-with=8",
              "X-Elastic-Product": "Elasticsearch"}


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


@dataclass
class EchoingElasticsearch:
    """A loopback HTTP proxy in front of the test Elasticsearch that echoes credentials.

    - `pass`: forwards every request (with the cluster's own credentials when it checks them);
    - `echo`: answers every request itself with HTTP `echo_status` and an error whose reason
      quotes the `Authorization` header it was sent, as a misconfigured proxy might;
    - `echo-items`: forwards, then turns the first `create` of a `logs-openai.costs-*` item of
      each bulk answer into a mapping error quoting the header: a lone refusal, so the sink
      dead-letters it (it is stored as well, which a secret scan does not mind);
    - `echo-all-items`: the same for every such item: a systemic refusal, so the stream fails
      with the reason in its error, and nothing is dead-lettered.
    """

    upstream: str
    upstream_auth: str | None = None
    ca_certs: str | None = None
    mode: EsMode = "pass"
    echo_status: int = 401
    requests: int = 0
    _server: _Server = field(init=False)

    def __post_init__(self) -> None:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def handle_one(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy.requests += 1
                auth = self.headers.get("Authorization", "")
                if proxy.mode == "echo":
                    self.answer(proxy.echo_status, ES_HEADERS, json.dumps({
                        "error": {"type": "security_exception",
                                  "reason": f"unable to authenticate: Authorization: {auth}",
                                  "header": {"Authorization": auth}},
                        "status": proxy.echo_status,
                        "statusCode": proxy.echo_status,  # and as Kibana says it
                        "message": f"[security_exception] for Authorization: {auth}",
                    }).encode())
                    return
                status, headers, answer = proxy.forward(self.command, self.path, self.headers,
                                                        body)
                bulk = self.path.split("?")[0].endswith("/_bulk")
                if proxy.mode in ("echo-items", "echo-all-items") and bulk:
                    answer = _echo_items(answer, auth, every=proxy.mode == "echo-all-items")
                self.answer(status, headers, answer)

            def answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_one

        self._server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def forward(self, method: str, path: str, headers: Any,
                body: bytes) -> tuple[int, dict[str, str], bytes]:
        parts = urllib.parse.urlsplit(self.upstream)
        connection = (
            http.client.HTTPSConnection(parts.netloc, timeout=60,
                                        context=ssl.create_default_context(cafile=self.ca_certs))
            if parts.scheme == "https" else http.client.HTTPConnection(parts.netloc, timeout=60)
        )
        sent = {k: v for k, v in headers.items()
                if k.lower() not in ("host", "authorization", "content-length", "connection")}
        if self.upstream_auth:
            sent["Authorization"] = self.upstream_auth
        try:
            connection.request(method, path, body=body or None, headers=sent)
            response = connection.getresponse()
            answer = response.read()
            kept = {k: v for k, v in response.getheaders()
                    if k.lower() in ("content-type", "x-elastic-product", "warning")}
            return response.status, kept, answer
        finally:
            connection.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _echo_items(answer: bytes, auth: str, *, every: bool) -> bytes:
    body = json.loads(answer)
    for item in body.get("items", []):
        ((op, result),) = item.items()
        if op == "create" and str(result.get("_index", "")).startswith("logs-openai.costs-"):
            if not every and body.get("errors"):
                break
            result["status"] = 400
            result["error"] = {"type": "mapper_parsing_exception",
                               "reason": f"failed to parse; request had Authorization: {auth}"}
            body["errors"] = True
    return json.dumps(body).encode()


@contextmanager
def echoing_elasticsearch(elasticsearch_url: str) -> Iterator[EchoingElasticsearch]:
    key = os.environ.get("POLLER_TEST_ELASTICSEARCH_API_KEY")
    real = bool(os.environ.get("POLLER_TEST_ELASTICSEARCH_URL"))
    proxy = EchoingElasticsearch(
        elasticsearch_url,
        upstream_auth=f"ApiKey {key}" if real and key else None,
        ca_certs=os.environ.get("POLLER_TEST_ELASTICSEARCH_CA_CERTS") or None,
    )
    try:
        yield proxy
    finally:
        proxy.close()


@contextmanager
def echoing_openai() -> Iterator[str]:
    """An OpenAI base URL whose every answer is an error quoting the request's headers:
    HTTP 400 in OpenAI's error shape, and 401 and 500 as plain text."""
    statuses = iter([400, 401, 500] * 1000)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            auth = self.headers.get("Authorization", "")
            status = next(statuses)
            if status == 400:
                body = json.dumps({"error": {"message": f"bad request with Authorization: {auth}",
                                             "type": "invalid_request_error",
                                             "param": auth, "code": None}}).encode()
            else:
                body = f"proxy error; headers were {dict(self.headers)}".encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if status == 400 else "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = _Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


# --- running the poller ---------------------------------------------------------------------------


@dataclass
class Poller:
    """Runs commands as real processes in `workdir`; keeps every output for the scan."""

    env: dict[str, str]
    workdir: Path
    outputs: dict[str, str] = field(default_factory=dict)

    def __call__(self, label: str, *args: str, timeout: float = 60) -> int:
        done = subprocess.run([sys.executable, "-m", "poller", *args], env=self.env,
                              cwd=self.workdir, capture_output=True, timeout=timeout, check=False)
        self.outputs[f"{label} stdout"] = done.stdout.decode(errors="replace")
        self.outputs[f"{label} stderr"] = done.stderr.decode(errors="replace")
        return done.returncode

    def backfill(self, label: str, streams: list[str], days: int = 2) -> int:
        since, until = window(days)
        return self(label, *backfill_cmd(since, until, streams)[3:])

    def run(self, label: str, streams: list[str], *, failing: bool) -> int:
        """`run` until every stream finished a cycle (or failed one, when `failing`), its three
        endpoints scraped; then SIGTERM. Returns the exit code."""
        port = free_port()
        log = self.workdir / f"{label}.log"
        env = {**self.env, "POLLER_METRICS__PORT": str(port), "POLLER_LOG_FORMAT": "json",
               "POLLER_LOG_LEVEL": "debug",
               "POLLER_JITTER": "0", "POLLER_ORG_DEFAULTS__STREAMS": ",".join(streams),
               "POLLER_ORG_DEFAULTS__DEFAULTS__INITIAL_INTERVAL": "6h"}
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "poller", "run"], env=env,
                                    cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT)
        name = ("openai_poller_errors_total" if failing
                else "openai_poller_last_success_timestamp_seconds")

        def cycled() -> bool:
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            _, metrics = http_get(f"http://127.0.0.1:{port}/metrics")
            self.outputs[f"{label} /metrics"] = metrics
            return all(metric_total(metrics, name, stream=s) > 0 for s in streams)

        try:
            wait_until(f"a cycle of {streams}", cycled, 90, 0.3)
            for path in ("/metrics", "/healthz", "/readyz"):
                self.outputs[f"{label} {path}"] = http_get(f"http://127.0.0.1:{port}{path}")[1]
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for line in log.read_text().splitlines():  # redaction kept every JSON line whole
            json.loads(line)
        return code


def _es_env(base_url: str, workdir: Path, ns: EsNamespace, url: str,
            kind: Kind) -> dict[str, str]:
    env = {k: v for k, v in poller_env(base_url, workdir / "unused.sqlite3").items()
           if not k.startswith(("ELASTICSEARCH_", "KIBANA_"))}
    env.update(ELASTICSEARCH_URL=url, POLLER_ORG_DEFAULTS__NAMESPACE=ns.name,
               POLLER_ELASTICSEARCH__STATE_INDEX=ns.state_index,
               POLLER_ELASTICSEARCH__DEADLETTER_INDEX=ns.deadletter_index,
               POLLER_ELASTICSEARCH__TIMEOUT="5s", POLLER_LOG_FORMAT="text",
               POLLER_AUTO_SETUP="true")  # run and backfill need the templates
    env.update(es_credentials(kind))
    return env


def _namespace_documents(es_client: Elasticsearch, ns: EsNamespace) -> str:
    """Every document of the namespace (data streams, state, dead letters) as one JSON text."""
    found = es_client.indices.get(index=f"*{ns.name}*", ignore_unavailable=True,
                                  allow_no_indices=True, expand_wildcards="all").body
    docs: dict[str, list[Any]] = {}
    for index in found:
        es_client.indices.refresh(index=index)
        docs[index] = [hit["_source"] for hit in helpers.scan(
            es_client, index=index, query={"query": {"match_all": {}}}, size=2000)]
    return json.dumps(docs, sort_keys=True)


def assert_no_secret(kind: Kind, places: dict[str, str], paths: tuple[Path, ...] = ()) -> int:
    """Fails naming each place and shape a secret was found in; returns the shapes scanned."""
    wanted = shapes(kind)
    names = ["admin key", "drill ES password", *wanted]
    labels = list(places)
    hits = scan_for_secrets(paths=paths, texts=tuple(places.values()),
                            secrets=tuple(wanted.values()))
    readable = []
    for hit in hits:
        where, _, what = hit.rpartition(": secret #")
        if where.startswith("text "):
            where = labels[int(where.removeprefix("text "))]
        readable.append(f"{names[int(what)]} in {where}")
    assert readable == []
    assert ES_PASSWORD not in wanted.values()
    return len(wanted)


# --- the drills -----------------------------------------------------------------------------------

KINDS: list[Kind] = ["basic", "api_key"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_command_keeps_every_secret_shape_out_of_every_output(
    kind: Kind, tmp_path: Path, es_client: Elasticsearch, es_namespace: EsNamespace,
    elasticsearch_url: str,
) -> None:
    """Healthy servers, then an Elasticsearch whose bulk item errors quote the header the
    sink sent (dead-lettered), then a Kibana quoting it in its errors to `setup`, then
    `setup --es-api-key-file` against a cluster quoting it: nothing of any credential in any
    output, store or metric."""
    with simulator(seed=41) as sim, echoing_elasticsearch(elasticsearch_url) as es:
        poller = Poller(_es_env(sim.base_url, tmp_path, es_namespace, es.url, kind), tmp_path)
        assert poller("setup", "setup", "--dry-run") == 0
        assert poller.backfill("backfill", STREAMS) == 0
        assert poller.run("run", STREAMS, failing=False) == 0
        assert poller("status", "status") == 0
        assert poller("status --json", "status", "--json") == 0
        assert poller("report", "report", "--since", "3d") == 0
        assert poller("doctor", "doctor") in (0, 1)  # noida-db lacks some template APIs
        es.mode = "echo-items"
        assert poller.backfill("backfill (echoed items)", ["costs"], 4) == 0
        es.mode = "echo-all-items"  # older days, refused whole: the stream fails, reason shown
        assert poller.backfill("backfill (echoed refusal)", ["costs"], 8) == 1
        es.mode = "pass"
        with echoing_elasticsearch(elasticsearch_url) as kibana:
            kibana.mode = "echo"
            poller.env["KIBANA_URL"] = kibana.url
            for status in (401, 400):
                kibana.echo_status = status
                assert poller(f"setup, Kibana {status}", "setup", "--dry-run") == 1
            assert kibana.requests == 2
        key_file = tmp_path / "setup-api-key"
        key_file.write_text(f"{SETUP_KEY_ID}:{SETUP_KEY_SECRET}\n")
        es.mode = "echo"
        assert poller("setup with its own key", "setup", "--dry-run",
                      "--es-api-key-file", str(key_file)) == 1
        key_file.unlink()  # the file holds the key as given; everything else is scanned
    letters = es_client.count(index=es_namespace.deadletter_index)["count"]
    assert letters > 0  # the echoed item errors were dead-lettered, so they were scanned
    places = {**poller.outputs, "Elasticsearch": _namespace_documents(es_client, es_namespace)}
    scanned = assert_no_secret(kind, places, (tmp_path,))
    record(f"secrets: healthy + echoed bulk items ({kind})", 0, Check(),
           f"{len(places)} outputs, {letters} dead letters, {scanned} shapes")


@pytest.mark.parametrize("kind", KINDS)
def test_an_elasticsearch_echoing_the_authorization_header_leaks_nothing(
    kind: Kind, tmp_path: Path, es_client: Elasticsearch, es_namespace: EsNamespace,
    elasticsearch_url: str,
) -> None:
    """Every answer of the cluster (and of Kibana, for setup) is an error quoting the
    `Authorization` header (401, then 400, then 503): each command fails in one line, and no
    shape of a secret is printed, logged or stored."""
    with simulator(seed=43) as sim, echoing_elasticsearch(elasticsearch_url) as es:
        poller = Poller(_es_env(sim.base_url, tmp_path, es_namespace, es.url, kind), tmp_path)
        assert poller.backfill("backfill (healthy)", ["costs"]) == 0
        es.mode = "echo"
        poller.env["KIBANA_URL"] = es.url  # setup asks Kibana too: it echoes the same way
        for status in (401, 400, 503):
            es.echo_status = status
            # An unavailable cluster (503) gets the plan uncompared, saying why; exit 0.
            assert poller(f"setup {status}", "setup", "--dry-run") == (status != 503)
            assert poller.backfill(f"backfill {status}", ["costs"]) == 1
            assert poller(f"status {status}", "status") == 1
            assert poller(f"report {status}", "report", "--since", "3d") == 1
            assert poller(f"doctor {status}", "doctor") == 1
        assert poller.run("run", ["completions"], failing=True) == 0
    for label, text in poller.outputs.items():
        if label.endswith("stderr") and not label.endswith("(healthy) stderr"):
            assert text.count("\n") <= 1 or label.startswith("doctor"), (label, text)
            assert "Traceback" not in text, (label, text)
    places = {**poller.outputs, "Elasticsearch": _namespace_documents(es_client, es_namespace)}
    scanned = assert_no_secret(kind, places, (tmp_path,))
    record(f"secrets: Elasticsearch echoes the header ({kind})", es.requests, Check(),
           f"{len(places)} outputs, {scanned} shapes")


@pytest.mark.parametrize("sink", ["sqlite", "elasticsearch"])
def test_an_openai_proxy_echoing_the_key_leaks_nothing(
    sink: str, tmp_path: Path, es_client: Elasticsearch, es_namespace: EsNamespace,
    elasticsearch_url: str,
) -> None:
    """Every OpenAI answer quotes the request's `Authorization: Bearer` header (in a 400's
    message and param, a 401's and a 500's plain body): the stored `last_error` (SQLite
    and the Elasticsearch state index), `status`, `doctor`, the logs and `/metrics` stay
    clean."""
    kind: Kind = "basic"
    with echoing_openai() as base_url, echoing_elasticsearch(elasticsearch_url) as es:
        if sink == "sqlite":
            env = poller_env(base_url, tmp_path / "store.sqlite3")
            env["POLLER_LOG_FORMAT"] = "text"
        else:
            env = _es_env(base_url, tmp_path, es_namespace, es.url, kind)
        env["POLLER_ORG_DEFAULTS__RETRY__MAX_ATTEMPTS"] = "1"
        poller = Poller(env, tmp_path)
        assert poller.backfill("backfill", ["costs", "completions"]) == 1
        assert poller("status", "status") == 0
        assert poller("status --json", "status", "--json") == 0
        assert poller("doctor", "doctor") == 1
        assert poller.run("run", ["completions", "audit"], failing=True) == 0
        assert poller("status after run", "status", "--json") == 0
    stored = json.loads(poller.outputs["status after run stdout"])
    assert {row["stream"] for row in stored if row.get("last_error")} >= {
        "costs", "completions", "audit"}
    places = dict(poller.outputs)
    if sink == "elasticsearch":
        places["Elasticsearch"] = _namespace_documents(es_client, es_namespace)
    scanned = assert_no_secret(kind, places, (tmp_path,))
    record(f"secrets: OpenAI proxy echoes the key ({sink})", 0, Check(),
           f"{len(places)} outputs, {scanned} shapes")


def test_credentials_in_a_url_are_refused_without_being_echoed(tmp_path: Path) -> None:
    """User info in `ELASTICSEARCH_URL`, `KIBANA_URL` or `OPENAI_BASE_URL`: one line, exit 2,
    the password in no shape."""
    user_info = f"{ES_USER}:{ES_USER_PASSWORD}@127.0.0.1:9"
    env = poller_env("http://127.0.0.1:9/v1", tmp_path / "store.sqlite3")
    poller = Poller(env, tmp_path)
    for name, url in (("ELASTICSEARCH_URL", f"http://{user_info}"),
                      ("KIBANA_URL", f"http://{user_info}"),
                      ("OPENAI_BASE_URL", f"http://{user_info}/v1")):
        poller.env = {**env, name: url}
        for command in ("status", "doctor", "backfill"):
            args = backfill_cmd(*window(1), ["costs"])[3:] if command == "backfill" else [command]
            assert poller(f"{command} {name}", *args) == 2
            stderr = poller.outputs[f"{command} {name} stderr"]
            assert stderr.count("\n") == 1 and "not in the URL" in stderr, stderr
    assert not (tmp_path / "store.sqlite3").exists()
    assert_no_secret("basic", poller.outputs, (tmp_path,))
