"""Section 5: freshness in `run` mode, from a bucket settling to its documents being searchable.

The daemon is the real thing: `python -m poller run` in its own process, configured by a YAML
file (1m buckets, a short interval, no jitter, `settlement_grace` equal to the simulator's
settle time, so a bucket is fetched as soon as it is final). The simulator runs on the wall
clock with a settle time chosen at start so that the bucket that just ended settles a few
seconds after the daemon is up, and every later one 60 s after the one before; so the section
lasts as long as the number of minutes it samples, and no longer.

A bucket [b, b+60) settles at b + 60 + settle. A watcher counts its documents in Elasticsearch
(a plain `_count`, no refresh forced) every 0.25 s; freshness is the first time the count is
non-zero minus the settle moment. Target: every sample <= interval + 10 s.
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from bench.common import PYTHON, ROOT, es_client, keyword_template, simulator
from bench.simserver import KEY
from tests.loopback import stop_group

NAMESPACE = "benchfresh"
SLACK = 10.0


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def run(
    es_url: str, workdir: Path, *, size: str, seed: int, streams: list[str], interval: int,
    minutes: int, lead: float,
) -> dict[str, Any]:
    client = es_client(es_url)
    keyword_template(client, "bench")  # covers benchfresh
    t0 = time.time()
    boundary = math.floor(t0 / 60) * 60
    settle = math.ceil(t0 + lead - boundary)  # the bucket ending at `boundary` settles at ~t0+lead
    targets = [boundary - 60 + 60 * k for k in range(minutes)]  # bucket starts
    samples: list[dict[str, Any]] = []
    with simulator(size, seed, now=None, settle=settle) as sim:
        config = {
            "orgs": [{
                "name": "bench", "admin_key": KEY, "base_url": sim.base_url,
                "namespace": NAMESPACE, "streams": streams,
                "defaults": {"bucket_width": "1m", "interval": f"{interval}s",
                             "initial_interval": "3m", "settlement_grace": f"{settle}s",
                             "settlement_window": "0s"},
            }],
            "elasticsearch": {"url": es_url,
                              "state_index": f"openai-poller-state-{NAMESPACE}",
                              "deadletter_index": f"openai-poller-deadletter-{NAMESPACE}"},
            "jitter": "0s",
            "auto_setup": True,  # a fresh cluster: install the templates before writing
            "metrics": {"enabled": False},
            "log_format": "json",
        }
        path = workdir / "freshness.yaml"
        path.write_text(yaml.safe_dump(config))
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("POLLER_", "OPENAI_", "ELASTICSEARCH_"))}
        env["POLLER_CONFIG"] = str(path)
        with (workdir / "freshness-daemon.log").open("wb") as log:
            daemon = subprocess.Popen(
                [PYTHON, "-m", "poller", "run"], cwd=ROOT.parent, env=env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                pending = {(s, b) for s in streams for b in targets}
                deadline = targets[-1] + 60 + settle + interval + 3 * SLACK
                while pending and time.time() < deadline:
                    if daemon.poll() is not None:
                        raise RuntimeError(f"the daemon exited with {daemon.returncode}; "
                                           f"see {workdir / 'freshness-daemon.log'}")
                    for stream, start in sorted(pending):
                        settled_at = start + 60 + settle
                        if time.time() < settled_at:
                            continue
                        index = f"logs-openai.{stream}-{NAMESPACE}"
                        if not client.indices.exists(index=index):
                            continue
                        query = {"range": {"@timestamp": {"gte": _iso(start),
                                                          "lt": _iso(start + 60)}}}
                        count = client.count(index=index, query=query)["count"]
                        if count:
                            seen = time.time()
                            samples.append({"stream": stream, "bucket_start": start,
                                            "documents": count,
                                            "seconds": seen - settled_at})
                            pending.discard((stream, start))
                    time.sleep(0.25)
            finally:
                stop_group(daemon, grace=20)
    client.close()
    if not samples:
        raise RuntimeError("no bucket became searchable: see freshness-daemon.log")
    worst = max(s["seconds"] for s in samples)
    limit = interval + SLACK
    return {
        "mode": "run (python -m poller run, a real subprocess) into Elasticsearch",
        "streams": streams, "interval_seconds": interval, "settle_seconds": settle,
        "samples": samples,
        "missing": sorted(f"{s}@{b}" for s, b in pending),
        "median_seconds": statistics.median(s["seconds"] for s in samples),
        "max_seconds": worst,
        "target": f"max freshness <= interval + {SLACK:g} s = {limit:g} s",
        "met": worst <= limit and not pending,
    }
