"""Every command against an "Elasticsearch" answering 200 with JSON of the wrong shape (a list
or a string for an object, `items` or `hits` of the wrong type, buckets that are no list): one
line, exit code 1 (docs/interface.md), no traceback; `setup --dry-run` shows its plan
uncompared and says why."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from poller.cli import main
from poller.simulator.app import SimulatorApp
from poller.simulator.organization import build_organization
from poller.simulator.server import SimulatorServer

pytestmark = pytest.mark.integration

KEY = "sk-admin-wrong-shapes"
SHAPES: dict[str, Any] = {
    "a list": [],
    "a string": "Service Unavailable",
    "an empty object": {},
    "items and hits of the wrong type": {"version": {"number": "8.15.0"}, "items": "x",
                                         "errors": False, "hits": [], "count": 0},
    "hits.hits a string": {"version": {"number": "8.15.0"}, "hits": {"hits": "x"}, "count": 0,
                           "items": [], "errors": False},
    "buckets a string": {"version": {"number": "8.15.0"}, "hits": {"hits": []}, "count": 0,
                         "items": [], "errors": False, "aggregations": {"x": {"buckets": "y"}}},
}
COMMANDS = [
    ["doctor"],
    ["backfill", "--since", "1d", "--streams", "costs,completions"],
    ["status"],
    ["status", "--json"],
    ["report", "--since", "3d"],
    ["state", "rebuild", "--streams", "costs"],
    ["setup"],
]


class _Answers(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body: Any = None

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        payload = json.dumps(type(self).body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = answer


@pytest.fixture(scope="module")
def wrong_elasticsearch() -> Iterator[type[_Answers]]:
    handler = type("Answers", (_Answers,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorApp(build_organization(seed=4, size="small"),
                                      admin_key=KEY)) as server:
        yield server


@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_command_answers_a_wrong_shape_in_one_line(
    shape: str,
    wrong_elasticsearch: type[_Answers],
    simulator: SimulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wrong_elasticsearch.body = SHAPES[shape]
    monkeypatch.setenv("OPENAI_ADMIN_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", simulator.base_url)
    monkeypatch.setenv("ELASTICSEARCH_URL", wrong_elasticsearch.url)  # type: ignore[attr-defined]
    monkeypatch.setenv("POLLER_LOG_FORMAT", "text")
    for command in COMMANDS:
        code = main(command)
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err, (command, err)
        assert code == 1, (command, out, err)
        if command[0] == "doctor":  # a FAIL line for the cluster, with its fix
            assert "\nFAIL  elasticsearch" in f"\n{out}", out
            continue
        last = err.splitlines()[-1]
        assert last.startswith("error: ") and "Elasticsearch at " in last, (command, err)
        assert len(last) <= len("error: ") + 200, last
        assert err.count("error:") == 1, (command, err)
    assert main(["setup", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("elasticsearch: not compared (Elasticsearch at ")
