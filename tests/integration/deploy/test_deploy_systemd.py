"""deploy/systemd/: the unit is hardened, verifies, and keeps its sandbox score; the environment
example names only real settings.

Checks that need `systemd-analyze` use `tool(...)`: they skip where it is missing, but not in CI.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from deploy_files import SHUTDOWN_TIMEOUT, UNIT, unit_entries, unit_to_analyze
from needs import tool

from poller.settings import load_settings

ENV_EXAMPLE = UNIT.parent / "openai-poller.env.example"

VALID_DIRECTIVES = {
    "Unit": {
        "Description",
        "Documentation",
        "Wants",
        "Requires",
        "Requisite",
        "BindsTo",
        "PartOf",
        "Upholds",
        "Conflicts",
        "Before",
        "After",
        "OnFailure",
        "OnSuccess",
        "StartLimitIntervalSec",
        "StartLimitBurst",
        "StartLimitAction",
        "ConditionPathExists",
        "AssertPathExists",
        "DefaultDependencies",
    },
    "Service": {
        # the service itself
        "Type",
        "ExitType",
        "RemainAfterExit",
        "PIDFile",
        "BusName",
        "ExecStart",
        "ExecStartPre",
        "ExecStartPost",
        "ExecCondition",
        "ExecReload",
        "ExecStop",
        "ExecStopPost",
        "RestartSec",
        "TimeoutStartSec",
        "TimeoutStopSec",
        "TimeoutAbortSec",
        "TimeoutSec",
        "RuntimeMaxSec",
        "WatchdogSec",
        "Restart",
        "RestartPreventExitStatus",
        "RestartForceExitStatus",
        "SuccessExitStatus",
        "NotifyAccess",
        "KillMode",
        "KillSignal",
        "FinalKillSignal",
        "SendSIGKILL",
        # identity, paths, environment and credentials
        "User",
        "Group",
        "DynamicUser",
        "SupplementaryGroups",
        "WorkingDirectory",
        "RootDirectory",
        "Environment",
        "EnvironmentFile",
        "PassEnvironment",
        "UMask",
        "StateDirectory",
        "StateDirectoryMode",
        "CacheDirectory",
        "LogsDirectory",
        "RuntimeDirectory",
        "ConfigurationDirectory",
        "LoadCredential",
        "LoadCredentialEncrypted",
        "SetCredential",
        "SetCredentialEncrypted",
        "StandardOutput",
        "StandardError",
        "SyslogIdentifier",
        "LogRateLimitIntervalSec",
        "LogRateLimitBurst",
        "Nice",
        "LimitNOFILE",
        # sandboxing
        "NoNewPrivileges",
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "PrivateNetwork",
        "PrivateUsers",
        "PrivateMounts",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "ProtectClock",
        "ProtectHostname",
        "ProtectProc",
        "ProcSubset",
        "ReadWritePaths",
        "ReadOnlyPaths",
        "InaccessiblePaths",
        "RestrictAddressFamilies",
        "RestrictNamespaces",
        "RestrictRealtime",
        "RestrictSUIDSGID",
        "LockPersonality",
        "MemoryDenyWriteExecute",
        "SystemCallArchitectures",
        "SystemCallFilter",
        "SystemCallErrorNumber",
        "CapabilityBoundingSet",
        "AmbientCapabilities",
        "DevicePolicy",
        "DeviceAllow",
        "RemoveIPC",
        "KeyringMode",
        "IPAddressDeny",
        "IPAddressAllow",
        # resource control
        "MemoryMax",
        "MemoryHigh",
        "TasksMax",
        "CPUQuota",
        "CPUWeight",
    },
    "Install": {"WantedBy", "RequiredBy", "Alias", "Also", "DefaultInstance"},
}

REQUIRED_SERVICE = {
    "Type": "notify",
    "NotifyAccess": "main",
    "Restart": "on-failure",
    "DynamicUser": "yes",
    "StateDirectory": "openai-poller",
    "EnvironmentFile": "-/etc/openai-poller/openai-poller.env",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectClock": "yes",
    "ProtectHostname": "yes",
    "ProtectControlGroups": "yes",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "RestrictNamespaces": "yes",
    "RestrictRealtime": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "SystemCallArchitectures": "native",
    "CapabilityBoundingSet": "",
    "PrivateUsers": "yes",
    "PrivateMounts": "yes",
    "UMask": "0077",
    "TimeoutStopSec": "35s",
}


# What `systemd-analyze security` still counts against the unit, and why it stays
# (docs/security.md): the poller needs the network and a local socket (sd_notify), runs from the
# host's Python, and ProtectClock= itself grants the read-only rtc ACL. The IP allow-list is an
# opt-in example.
REMAINING_EXPOSURE = {
    "RootDirectoryOrRootImage": "0.1",
    "RestrictAddressFamilies_AF_UNIX": "0.1",
    "RestrictAddressFamilies_AF_INET_INET6": "0.3",
    "PrivateNetwork": "0.5",
    "DeviceAllow": "0.1",
    "IPAddressDeny": "0.2",
}


def _service_values(key: str, text: str | None = None) -> list[str]:
    source = UNIT.read_text(encoding="utf-8") if text is None else text
    return [v for s, k, v in unit_entries(source) if (s, k) == ("Service", key)]


def _with_ip_allow_list() -> str:
    """The unit with its commented IPAddressDeny=/IPAddressAllow= example switched on."""
    text = UNIT.read_text(encoding="utf-8")
    enabled = re.sub(r"(?m)^#(IPAddress(Deny|Allow)=)", r"\1", text)
    assert enabled != text
    return enabled


def _analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_unit_uses_only_known_directives() -> None:
    entries = list(unit_entries(UNIT.read_text(encoding="utf-8")))
    assert {section for section, _, _ in entries} == {"Unit", "Service", "Install"}
    for section, key, _ in entries:
        assert key in VALID_DIRECTIVES[section], f"[{section}] {key}"


def test_unit_has_the_required_hardening() -> None:
    for key, expected in REQUIRED_SERVICE.items():
        assert _service_values(key)[-1:] == [expected], key
    assert "@system-service" in _service_values("SystemCallFilter")
    (exec_start,) = _service_values("ExecStart")
    assert exec_start.endswith("openai-poller run")
    watchdog = _service_values("WatchdogSec")[0]
    assert re.fullmatch(r"\d+s", watchdog)


def test_ip_allow_list_is_an_example_only() -> None:
    # OpenAI's addresses are not fixed: a deny-all default would cut the poller off.
    assert _service_values("IPAddressDeny") == []
    enabled = _with_ip_allow_list()
    assert _service_values("IPAddressDeny", enabled) == ["any"]
    (allowed,) = _service_values("IPAddressAllow", enabled)
    assert allowed.split()[0] == "localhost"


def test_unit_loads_secrets_as_credentials() -> None:
    credentials = dict(value.split(":", 1) for value in _service_values("LoadCredential"))
    assert credentials["OPENAI_ADMIN_KEY"] == "/etc/openai-poller/credentials/OPENAI_ADMIN_KEY"
    assert "ELASTICSEARCH_API_KEY" in credentials
    environment = " ".join(_service_values("Environment"))
    assert "KEY" not in environment
    assert "PASSWORD" not in environment


def test_unit_stops_after_the_poller_gives_up() -> None:
    (timeout,) = _service_values("TimeoutStopSec")
    assert int(timeout.removesuffix("s")) > SHUTDOWN_TIMEOUT


@tool("systemd-analyze")
@pytest.mark.parametrize("ip_allow_list", [False, True], ids=["as shipped", "ip allow-list"])
def test_systemd_analyze_verify(tmp_path: Path, ip_allow_list: bool) -> None:
    unit = unit_to_analyze(tmp_path, _with_ip_allow_list() if ip_allow_list else None)
    result = _analyze("verify", "--man=no", str(unit))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert not re.search(r"Unknown (key|section)|Invalid|ignoring", output), output


@tool("systemd-analyze")
def test_systemd_analyze_security_score(tmp_path: Path) -> None:
    unit = str(unit_to_analyze(tmp_path))
    # The score the unit's header quotes, and --threshold (tenths) fails the run above it.
    quoted = re.search(r"grades the sandbox: (\d+\.\d)", UNIT.read_text(encoding="utf-8"))
    assert quoted is not None
    threshold = str(round(float(quoted[1]) * 10))
    result = _analyze("security", "--offline=yes", f"--threshold={threshold}", unit)
    assert result.returncode == 0, result.stdout + result.stderr
    overall = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert overall is not None, result.stdout
    assert overall[1] == quoted[1]

    report = _analyze("security", "--offline=yes", "--json=short", unit)
    assert report.returncode == 0, report.stderr
    remaining = {
        check["json_field"]: check["exposure"]
        for check in json.loads(report.stdout)
        if not check["set"] and check["exposure"] not in (None, "0.0")
    }
    assert remaining == REMAINING_EXPOSURE


@tool("systemd-analyze")
def test_ip_allow_list_example_lowers_the_exposure(tmp_path: Path) -> None:
    unit = unit_to_analyze(tmp_path, _with_ip_allow_list())
    report = _analyze("security", "--offline=yes", "--json=short", str(unit))
    assert report.returncode == 0, report.stderr
    (check,) = [c for c in json.loads(report.stdout) if c["json_field"] == "IPAddressDeny"]
    # Not zero: the example must allow non-local addresses (the proxy, Elasticsearch).
    assert check["exposure"] == "0.1"
    assert check["description"] == (
        "Service defines IP address allow list with non-localhost entries"
    )


def test_env_example_names_only_real_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # Uncomment every example line; paths to files that do not exist here are left out.
    for raw in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"#?([A-Z][A-Z0-9_]*)=(.*)", raw.strip())
        if match and match[1] not in ("ELASTICSEARCH_CA_CERTS", "POLLER_CONFIG"):
            assert not re.search("KEY|PASSWORD", match[1]), "secrets go in credentials"
            monkeypatch.setenv(match[1], match[2])
    settings = load_settings(openai_admin_key="sk-admin-example")
    assert settings.elasticsearch.url == "https://elasticsearch.example.internal:9200"
    assert settings.orgs[0].streams == ("completions", "embeddings", "costs", "audit")
