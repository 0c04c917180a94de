"""Bad input drill: the one table of bad input to the command line, and what each must give.

Every case ends with the documented exit code (2 for usage or configuration, 1 for a runtime
failure after start-up), exactly one clear line on stderr starting "error: " (log records at
info level aside), no traceback, nothing written (no store created, or for the full disk only
acknowledged batches; no write request reaching a fake Elasticsearch) and no secret in stdout
or stderr. `doctor` reports on stdout instead: exactly one FAIL line.

Pure argument and configuration errors run in process (fast); a few of them also as real
processes, as do the cases that need one: a project key against the simulator, the daemon
refusing to start against an Elasticsearch it can never use, and a full disk (the file size
limit of the child process), after which the same backfill, run again with room, leaves exactly
the simulator's truth in the store: nothing lost, nothing duplicated.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from drill_support import (
    ES_PASSWORD,
    KEY,
    Check,
    Simulator,
    SqliteStore,
    backfill_cmd,
    compare,
    poller_env,
    record,
    scan_for_secrets,
    simulator,
    window,
)
from own_env import clear_own, foreign_environ

from poller.cli import main

pytestmark = pytest.mark.drill

PROJECT_KEY = "sk-proj-drill-not-an-admin-key-55e0"
CONFIG_SECRET = "sk-admin-SECRET-in-config-91c2"

BAD_YAML = "orgs: [a\n"
BAD_TOML = "orgs = [\n"
UNKNOWN_SETTING = "bogus_setting: 1\n"
BAD_TYPE = "metrics:\n  port: high\n"
UNKNOWN_STREAM = "org_defaults:\n  streams: [completions, bogus]\n"
BAD_DURATION = "org_defaults:\n  defaults:\n    interval: five minutes\n"
DUPLICATE_ORG = (
    "orgs:\n  - {name: a, admin_key: sk-admin-1}\n  - {name: a, admin_key: sk-admin-2}\n"
)
SECRET_IN_BAD_ORG = f"orgs:\n  - {{name: 'bad name!', admin_key: {CONFIG_SECRET}}}\n"
ES_BOTH = {
    "ELASTICSEARCH_URL": "http://127.0.0.1:9",
    "ELASTICSEARCH_API_KEY": "drill-es-api-key-7c1e",
    "ELASTICSEARCH_USERNAME": "elastic",
    "ELASTICSEARCH_PASSWORD": ES_PASSWORD,
}


@dataclass(frozen=True)
class Case:
    argv: list[str]
    expect: str  # a piece of the one "error: " line
    env: dict[str, str] = field(default_factory=dict)  # "" removes the variable
    config: str | None = None  # written to a config file named by POLLER_CONFIG
    config_name: str = "config.yaml"
    secrets: tuple[str, ...] = ()  # besides KEY and ES_PASSWORD, never to be printed


# Usage and configuration errors: exit 2 before anything is opened or fetched.
CASES = {
    "unknown command": Case(["frobnicate"], "invalid choice: 'frobnicate'"),
    "backfill without --since": Case(["backfill"], "the following arguments are required: --since"),
    "--since nonsense": Case(["backfill", "--since", "nonsense"], "'nonsense' is neither"),
    "--until nonsense": Case(
        ["backfill", "--since", "2d", "--until", "yesterday-ish"], "--until: 'yesterday-ish'"
    ),
    "--since in the future": Case(["backfill", "--since", "2999-01-01"], "in the future"),
    "--since after --until": Case(
        ["backfill", "--since", "2d", "--until", "3d"], "--since must be before --until"
    ),
    "--since equals --until": Case(
        ["backfill", "--since", "2026-01-01", "--until", "2026-01-01T00:00:00"],
        "--since must be before --until",
    ),
    "unknown stream": Case(
        ["backfill", "--since", "2d", "--streams", "completions,nope"], "unknown stream 'nope'"
    ),
    "empty --streams": Case(
        ["backfill", "--since", "2d", "--streams", ", ,"], "--streams: ', ,' names no stream"
    ),
    "bad bucket width": Case(["backfill", "--since", "2d", "--bucket-width", "5m"], "'5m'"),
    "unknown org": Case(["backfill", "--since", "2d", "--org", "nope"], "unknown org 'nope'"),
    "no admin key": Case(
        ["backfill", "--since", "2d"], "no organization configured", {"OPENAI_ADMIN_KEY": ""}
    ),
    "malformed yaml": Case(["backfill", "--since", "2d"], "invalid YAML", config=BAD_YAML),
    "malformed toml": Case(
        ["backfill", "--since", "2d"], "invalid TOML", config=BAD_TOML, config_name="c.toml"
    ),
    "config file of unknown kind": Case(
        ["status"], "must end in .yaml, .yml or .toml", config="{}", config_name="c.json"
    ),
    "config unknown setting": Case(
        ["status"], "bogus_setting: unknown setting", config=UNKNOWN_SETTING
    ),
    "config bad type": Case(["status"], "metrics.port:", config=BAD_TYPE),
    "environment bad type": Case(
        ["status"], "metrics.port:", {"POLLER_METRICS__PORT": "99999"}
    ),
    "config unknown stream": Case(
        ["backfill", "--since", "2d"], "unknown stream 'bogus'", config=UNKNOWN_STREAM
    ),
    "config bad duration": Case(
        ["backfill", "--since", "2d"], "bad duration 'five minutes'", config=BAD_DURATION
    ),
    "duplicate org": Case(
        ["backfill", "--since", "2d"], "duplicate org name 'a'", config=DUPLICATE_ORG
    ),
    "secret in an invalid org": Case(
        ["backfill", "--since", "2d"], "invalid org name", config=SECRET_IN_BAD_ORG,
        secrets=(CONFIG_SECRET,),
    ),
    "missing config file": Case(
        ["status"], "cannot read", {"POLLER_CONFIG": "/nonexistent/poller.yaml"}
    ),
    "malformed ELASTICSEARCH_URL": Case(
        ["status"], "elasticsearch.url: malformed URL", {"ELASTICSEARCH_URL": "not-a-url"}
    ),
    "ES API key and username/password": Case(
        ["backfill", "--since", "2d"], "set either api_key or username and password", ES_BOTH,
        secrets=(ES_BOTH["ELASTICSEARCH_API_KEY"],),
    ),
    "ES username without password": Case(
        ["status"], "set both username and password, or neither",
        {"ELASTICSEARCH_URL": "http://127.0.0.1:9", "ELASTICSEARCH_USERNAME": "elastic"},
    ),
    "ES CA certs file missing": Case(
        ["backfill", "--since", "2d"], "elasticsearch.ca_certs: no such file",
        {"ELASTICSEARCH_URL": "https://127.0.0.1:9",
         "ELASTICSEARCH_CA_CERTS": "/nonexistent/ca.pem"},
    ),
    "simulate bad fault probability": Case(
        ["simulate", "--port", "0", "--faults", "429=lots"], "--faults"
    ),
    "simulate unknown fault": Case(
        ["simulate", "--port", "0", "--faults", "bogus=0.5"], "unknown fault kind 'bogus'"
    ),
    "setup without ELASTICSEARCH_URL": Case(["setup"], "ELASTICSEARCH_URL is not set"),
    "report --since nonsense": Case(["report", "--since", "junk"], "'junk' is neither"),
    "report --since after --until": Case(
        ["report", "--since", "1d", "--until", "2d"], "--since must be before --until"
    ),
}

# These also run as real processes: argparse, settings and the entry point end to end.
SUBPROCESS_CASES = [
    "unknown command",
    "--since nonsense",
    "malformed yaml",
    "malformed ELASTICSEARCH_URL",
    "simulate unknown fault",
    "ES API key and username/password",
]


@dataclass(frozen=True)
class EsCase:
    """A runtime failure against an Elasticsearch that cannot be used: exit 1."""

    argv: list[str]
    server: str  # closed | refusing (401) | https-to-plain | self-signed
    expect: str
    in_process: bool = True


ES_CASES = {
    "ES unreachable: backfill": EsCase(
        ["backfill", "--since", "2d"], "closed", "is unreachable (reading state"
    ),
    "ES unreachable: status": EsCase(["status"], "closed", "is unreachable ("),
    "ES unreachable: doctor": EsCase(["doctor"], "closed", "is unreachable (reading cluster info)"),
    "ES wrong credentials: backfill": EsCase(
        ["backfill", "--since", "2d"], "refusing", "HTTP 401 (authentication failed"
    ),
    "ES wrong credentials: status": EsCase(["status"], "refusing", "HTTP 401 (authentication"),
    "ES wrong credentials: setup": EsCase(["setup"], "refusing", "HTTP 401 (authentication"),
    "ES unreachable: report": EsCase(["report"], "closed", "is unreachable"),
    "ES wrong credentials: doctor": EsCase(["doctor"], "refusing", "HTTP 401 (authentication"),
    "ES wrong credentials: run": EsCase(
        ["run"], "refusing", "HTTP 401 (authentication failed", in_process=False
    ),
    "ES https to a plain HTTP port: backfill": EsCase(
        ["backfill", "--since", "2d"], "https-to-plain", "check ELASTICSEARCH_CA_CERTS"
    ),
    "ES self-signed TLS without CA certs: status": EsCase(
        ["status"], "self-signed", "certificate verify failed"
    ),
    "ES self-signed TLS without CA certs: run": EsCase(
        ["run"], "self-signed", "certificate verify failed", in_process=False
    ),
}

RUNTIME_CASES = ["project key instead of an admin key", "store path is a directory",
                 "full disk during backfill"]
PROCESS_ONLY = [*(n for n, c in ES_CASES.items() if not c.in_process),
                "project key instead of an admin key", "full disk during backfill"]
ALL_CASES = [*CASES, *ES_CASES, *RUNTIME_CASES]
BEHAVED: set[str] = set()
PROCESS_BEHAVED: set[str] = set()
NOTES: list[str] = []


# --- fixtures ---------------------------------------------------------------------------------

# A self-signed certificate for 127.0.0.1 (EC P-256, valid until 2126), so no test needs openssl.
SELF_SIGNED_CERT = """-----BEGIN CERTIFICATE-----
MIIBkDCCATagAwIBAgIUaSIlF+hm2qpmMMOeCEGVZvbHEPkwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTEzMDIxMDY0NloYDzIxMjYxMTA2
MjEwNjQ2WjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAARPlAn9V837RbVCGYOSULWyHCfQXvEkvH9/Q5OWDAwNf2pEHAJ0YN2J
nodfy4SpYq2ZsSvD+UliW8kHRWtcA9kBo2QwYjAdBgNVHQ4EFgQUIUcq6lJhz14L
stepzetHvYy/K8EwHwYDVR0jBBgwFoAUIUcq6lJhz14LstepzetHvYy/K8EwDwYD
VR0TAQH/BAUwAwEB/zAPBgNVHREECDAGhwR/AAABMAoGCCqGSM49BAMCA0gAMEUC
IBG2jU4rZQSYL7bggd2GAF1KVMUJ2LcBtsaEHf54lN28AiEAkiuRGUjZnqYhemT3
V9T6yW2Tj+3yjjmk9OknaLQVOYE=
-----END CERTIFICATE-----
"""
SELF_SIGNED_KEY = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgHJKjxpacQ9gpzFRc
L2O08MVmup3DupwUnPcIG1HMeLuhRANCAARPlAn9V837RbVCGYOSULWyHCfQXvEk
vH9/Q5OWDAwNf2pEHAJ0YN2Jnodfy4SpYq2ZsSvD+UliW8kHRWtcA9kB
-----END PRIVATE KEY-----
"""

_SECURITY_EXCEPTION = {
    "error": {
        "root_cause": [{"type": "security_exception",
                        "reason": "unable to authenticate user [elastic] for REST request [/]"}],
        "type": "security_exception",
        "reason": "unable to authenticate user [elastic] for REST request [/]",
        "header": {"WWW-Authenticate": ["Basic realm=\"security\"", "ApiKey"]},
    },
    "status": 401,
}
_READS = ("/_search", "/_has_privileges", "/_count", "/_mget")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    requests: list[tuple[str, str]]
    tls: ssl.SSLContext | None = None

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        if self.tls is not None:  # the handshake happens in the handler's thread, on first read
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A refused handshake is the point of some cases, not a test failure."""

    def writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.requests
                if m in ("PUT", "POST", "DELETE") and not p.split("?")[0].endswith(_READS)]


class _Refusing(BaseHTTPRequestHandler):
    """Elasticsearch with security on, refusing every credential: 401 security_exception."""

    server: _Server
    protocol_version = "HTTP/1.1"

    def _refuse(self) -> None:
        self.server.requests.append((self.command, self.path))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps(_SECURITY_EXCEPTION).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("WWW-Authenticate", 'Basic realm="security", charset="UTF-8"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _refuse

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@dataclass
class EsServers:
    closed_port: int
    refusing: _Server
    self_signed: _Server

    def url(self, kind: str) -> str:
        if kind == "closed":
            return f"http://127.0.0.1:{self.closed_port}"
        if kind == "refusing":
            return f"http://127.0.0.1:{self.refusing.server_address[1]}"
        if kind == "https-to-plain":
            return f"https://127.0.0.1:{self.refusing.server_address[1]}"
        return f"https://127.0.0.1:{self.self_signed.server_address[1]}"

    def reset(self) -> None:
        self.refusing.requests.clear()
        self.self_signed.requests.clear()


def _serve(tls: ssl.SSLContext | None) -> _Server:
    server = _Server(("127.0.0.1", 0), _Refusing)
    server.requests = []
    server.tls = tls
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def es_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EsServers]:
    certs = tmp_path_factory.mktemp("tls")
    (certs / "cert.pem").write_text(SELF_SIGNED_CERT)
    (certs / "key.pem").write_text(SELF_SIGNED_KEY)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs / "cert.pem", certs / "key.pem")
    # Bound but never listening: connections to it are refused, and no one else can take it.
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refusing, self_signed = _serve(None), _serve(context)
    try:
        yield EsServers(closed.getsockname()[1], refusing, self_signed)
    finally:
        for server in (refusing, self_signed):
            server.shutdown()
            server.server_close()
        closed.close()


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with simulator() as running:
        yield running


@pytest.fixture(scope="module", autouse=True)
def closing_row() -> Iterator[None]:
    """One row in the drills' closing table: how many bad-input cases behaved."""
    yield
    behaved = [name for name in ALL_CASES if name in BEHAVED
               and (name not in SUBPROCESS_CASES or name in PROCESS_BEHAVED)]
    record(f"bad input ({len(ALL_CASES)} cases)", len(ALL_CASES),
           Check(expected=len(ALL_CASES), found=len(behaved)),
           f"{len(SUBPROCESS_CASES) + len(PROCESS_ONLY)} as processes", *NOTES)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No poller settings from the developer's environment; an empty working directory (which
    must stay empty: nothing written); logging restored afterwards, since the CLI points the
    root logger at the (captured) stderr of the test."""
    clear_own(monkeypatch)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield work
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


# --- checks -----------------------------------------------------------------------------------


def _error_lines(stderr: str) -> list[str]:
    """stderr without the info-level log records a process may print before it fails."""
    lines = []
    for line in stderr.splitlines():
        try:
            record_ = json.loads(line)
        except ValueError:
            lines.append(line)
            continue
        if not (isinstance(record_, dict) and record_.get("log.level") in ("info", "debug")):
            lines.append(line)
    return lines


def _assert_one_error(stderr: str, expect: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = _error_lines(stderr)
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    assert expect in lines[0], stderr
    return lines[0]


def _assert_no_secret(stdout: str, stderr: str, *secrets: str) -> None:
    assert scan_for_secrets(texts=(stdout, stderr), secrets=secrets) == []


def _base_env(work: Path) -> dict[str, str]:
    return {
        "OPENAI_ADMIN_KEY": KEY,
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",  # never reached: every case fails earlier
        "POLLER_STORE_PATH": str(work / "store.sqlite3"),
    }


def _case_env(case: Case, work: Path) -> dict[str, str]:
    env = _base_env(work)
    if case.config is not None:
        config = work.parent / case.config_name
        config.write_text(case.config, encoding="utf-8")
        env["POLLER_CONFIG"] = str(config)
    env.update(case.env)
    return {k: v for k, v in env.items() if v}



def _run_process(argv: list[str], env: dict[str, str], cwd: Path,
                 timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "poller", *argv], cwd=cwd, env=foreign_environ(**env),
        capture_output=True, text=True, timeout=timeout, check=False,
    )


# --- usage and configuration: exit 2 --------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_in_process(
    name: str, clean_env: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    case = CASES[name]
    for key, value in _case_env(case, clean_env).items():
        monkeypatch.setenv(key, value)
    assert main(case.argv) == 2
    captured = capsys.readouterr()
    _assert_one_error(captured.err, case.expect)
    assert captured.out == ""
    assert list(clean_env.iterdir()) == []  # no store, nothing else
    _assert_no_secret(captured.out, captured.err, *case.secrets)
    BEHAVED.add(name)


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_bad_input_as_a_process(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    work = tmp_path / "work"
    work.mkdir()
    result = _run_process(case.argv, _case_env(case, work), work)
    assert result.returncode == 2, result.stderr
    _assert_one_error(result.stderr, case.expect)
    assert result.stdout == ""
    assert list(work.iterdir()) == []
    _assert_no_secret(result.stdout, result.stderr, *case.secrets)
    PROCESS_BEHAVED.add(name)


# --- an Elasticsearch that cannot be used: exit 1 -------------------------------------------


def _es_env(case: EsCase, servers: EsServers, sim: Simulator, work: Path) -> dict[str, str]:
    return {
        **_base_env(work),
        "OPENAI_BASE_URL": sim.base_url,  # doctor checks the key first; the others never call
        "ELASTICSEARCH_URL": servers.url(case.server),
        "ELASTICSEARCH_USERNAME": "elastic",
        "ELASTICSEARCH_PASSWORD": ES_PASSWORD,
        "POLLER_ELASTICSEARCH__TIMEOUT": "5s",
        "POLLER_METRICS__ENABLED": "false",
    }


def _assert_es_outcome(case: EsCase, servers: EsServers, work: Path, *, code: int, out: str,
                       err: str) -> None:
    assert code == 1, err + out
    if case.argv == ["doctor"]:
        # doctor's report is on stdout: the key checks pass, the cluster fails once (the checks
        # that need it are skipped, not failed again).
        assert "Traceback" not in err + out
        assert _error_lines(err) == [], err
        fails = [line for line in out.splitlines() if line.startswith("FAIL")]
        assert len(fails) == 1, out
        assert fails[0].startswith("FAIL  elasticsearch: reachable: "), out
        assert case.expect in fails[0], out
        assert [line.split(":")[0] for line in out.splitlines()] == [
            "ok    default", "ok    default", "FAIL  elasticsearch", "skip  elasticsearch",
            "skip  elasticsearch", "skip  elasticsearch",
        ], out
    else:
        _assert_one_error(err, case.expect)
        assert out == ""
    assert servers.refusing.writes() == [] and servers.self_signed.writes() == []
    if case.server == "refusing":
        assert servers.refusing.requests != []  # it was asked, and said no
    if case.server in ("https-to-plain", "self-signed"):  # no request got through
        assert servers.refusing.requests == [] and servers.self_signed.requests == []
    assert list(work.iterdir()) == []  # the embedded store is not used either
    _assert_no_secret(out, err)


@pytest.mark.parametrize("name", [n for n, c in ES_CASES.items() if c.in_process])
def test_unusable_elasticsearch_in_process(
    name: str, clean_env: Path, es_servers: EsServers, sim: Simulator, *,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    case = ES_CASES[name]
    for key, value in _es_env(case, es_servers, sim, clean_env).items():
        monkeypatch.setenv(key, value)
    es_servers.reset()
    code = main(case.argv)
    captured = capsys.readouterr()
    _assert_es_outcome(case, es_servers, clean_env, code=code, out=captured.out,
                       err=captured.err)
    BEHAVED.add(name)


@pytest.mark.parametrize("name", [n for n, c in ES_CASES.items() if not c.in_process])
def test_unusable_elasticsearch_as_a_process(
    name: str, tmp_path: Path, es_servers: EsServers, sim: Simulator
) -> None:
    """The daemon does not start against an Elasticsearch no cycle could ever use."""
    case = ES_CASES[name]
    work = tmp_path / "work"
    work.mkdir()
    es_servers.reset()
    result = _run_process(case.argv, _es_env(case, es_servers, sim, work), work)
    _assert_es_outcome(case, es_servers, work, code=result.returncode, out=result.stdout,
                       err=result.stderr)
    BEHAVED.add(name)


# --- other runtime failures: exit 1 ---------------------------------------------------------


def test_project_key_is_one_line_runtime_failure(tmp_path: Path, sim: Simulator) -> None:
    """A project key passes start-up, then OpenAI refuses it: exit 1 with one line naming the
    fix, not one error per stream; no document and no cursor written, the key never echoed."""
    store = tmp_path / "store.sqlite3"
    result = _run_process(
        ["backfill", "--since", "2d", "--streams", "completions,costs,audit"],
        {"OPENAI_ADMIN_KEY": PROJECT_KEY, "OPENAI_BASE_URL": sim.base_url,
         "POLLER_STORE_PATH": str(store), "POLLER_LOG_FORMAT": "json"},
        tmp_path,
    )
    assert result.returncode == 1, result.stderr
    line = _assert_one_error(result.stderr, "insufficient permissions")
    assert "OpenAI refused the key (HTTP 401)" in line
    assert line.startswith("error: use an organization admin key (sk-admin-...) from "
                           "platform.openai.com/settings/organization/admin-keys \N{EM DASH} ")
    assert result.stdout == ""
    _assert_no_secret(result.stdout, result.stderr, PROJECT_KEY)
    assert scan_for_secrets(paths=(store,), secrets=(PROJECT_KEY,)) == []
    view = SqliteStore(store)
    for stream in ("completions", "costs", "audit"):
        assert view.documents(stream) == []
        assert view.state(stream).position is None
    BEHAVED.add("project key instead of an admin key")


def test_store_path_that_is_a_directory(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", KEY)
    monkeypatch.setenv("POLLER_STORE_PATH", str(clean_env))
    assert main(["status"]) == 1
    captured = capsys.readouterr()
    _assert_one_error(captured.err, f"the embedded store {clean_env} cannot be used")
    assert captured.out == ""
    assert list(clean_env.iterdir()) == []
    _assert_no_secret(captured.out, captured.err)
    BEHAVED.add("store path is a directory")


# A launcher that gives the poller a file size limit: writes beyond it fail with EFBIG (SIGXFSZ
# ignored, as a disk that is full fails them with ENOSPC), without root and without threads
# in a preexec_fn.
_LIMITED = (
    "import resource, runpy, signal, sys; "
    "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
    "limit = int(sys.argv.pop(1)); "
    "resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)); "
    "sys.argv[0] = 'poller'; "
    "runpy.run_module('poller', run_name='__main__', alter_sys=True)"
)
FILE_LIMIT = 500_000  # room for the first batch of completions (compact store), not the rest
DISK_STREAMS = ["completions", "embeddings", "costs"]


def test_full_disk_is_one_line_and_loses_nothing(tmp_path: Path, sim: Simulator) -> None:
    store = tmp_path / "store.sqlite3"
    since, until = window(2)
    cmd = backfill_cmd(since, until, DISK_STREAMS)
    env = poller_env(sim.base_url, store)
    full = subprocess.run(
        [sys.executable, "-c", _LIMITED, str(FILE_LIMIT), *cmd[3:]], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert full.returncode == 1, full.stderr
    # The fix first; the rest as far as 200 characters go (debug logs keep the whole text).
    _assert_one_error(full.stderr, "error: free space (or raise the limit) and run "
                                f"again \N{EM DASH} cannot write the embedded store "
                                f"{store}: disk full")
    assert full.stdout == ""
    _assert_no_secret(full.stdout, full.stderr)
    # What was acknowledged before the disk filled is stored whole, and the cursor stands at
    # the last acknowledged batch: the covered part equals the truth, the rest is not covered.
    before = compare(store, sim.org, ["completions"], since, until)
    assert before.found > 0
    assert before.found == before.expected
    assert before.duplicates == 0
    assert len(before.mismatches) == 1, before.mismatches
    assert before.mismatches[0].startswith("completions: coverage"), before.mismatches
    assert before.mismatches[0].endswith("does not span the window"), before.mismatches

    again = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=60, check=False)
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr
    after = compare(store, sim.org, DISK_STREAMS, since, until)
    assert after.mismatches == []
    assert after.lost == 0 and after.duplicates == 0
    assert after.found == after.expected
    assert after.expected > before.found
    assert scan_for_secrets(texts=(again.stdout, again.stderr), paths=(store,)) == []
    NOTES.append(f"full disk: {before.found} docs kept, rerun {after.found}/{after.expected}, "
                 f"lost {after.lost}, dups {after.duplicates}")
    BEHAVED.add("full disk during backfill")
