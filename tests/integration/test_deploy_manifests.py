"""deploy/: every manifest parses, and says what operating the poller safely needs.

Checks that need a tool (`systemd-analyze`, `promtool`) run when the tool is on PATH; the rest
parse the files themselves.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from needs import tool
from own_env import clear_own

from poller.metrics import Metrics
from poller.settings import load_settings
from poller.sinks import WriteReport

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNIT = DEPLOY / "systemd" / "openai-poller.service"
ENV_EXAMPLE = DEPLOY / "systemd" / "openai-poller.env.example"
K8S = DEPLOY / "kubernetes"
RULES = DEPLOY / "prometheus" / "openai-poller-rules.yaml"
RULE_TESTS = DEPLOY / "prometheus" / "openai-poller-rules.test.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
SHUTDOWN_TIMEOUT = 30  # the default POLLER_SHUTDOWN_TIMEOUT, seconds


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_own(monkeypatch)


def _yaml_files() -> list[Path]:
    return sorted(DEPLOY.rglob("*.yaml")) + sorted(DEPLOY.rglob("*.yml"))


def _docs(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def _k8s(kind: str) -> dict[str, Any]:
    found = [doc for path in K8S.glob("*.yaml") for doc in _docs(path) if doc["kind"] == kind]
    assert len(found) == 1, kind
    manifest: dict[str, Any] = found[0]
    return manifest


# --- YAML --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_parses(path: Path) -> None:
    docs = _docs(path)
    assert docs
    if path.parent == K8S:
        for doc in docs:
            assert {"apiVersion", "kind", "metadata"} <= doc.keys()
            assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "openai-poller"


# --- Kubernetes --------------------------------------------------------------------------------


@pytest.fixture
def deployment() -> dict[str, Any]:
    return _k8s("Deployment")


@pytest.fixture
def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container["env"]}


def test_deployment_runs_exactly_one_replica(deployment: dict[str, Any]) -> None:
    # APScheduler cannot coordinate processes: two pods would poll everything twice.
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_deployment_is_locked_down(deployment: dict[str, Any], container: dict[str, Any]) -> None:
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert "add" not in security["capabilities"]


def test_deployment_probes_and_resources(
    deployment: dict[str, Any], container: dict[str, Any]
) -> None:
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"metrics": int(_env(container)["POLLER_METRICS__PORT"])}
    assert _env(container)["POLLER_METRICS__HOST"] == "0.0.0.0"  # noqa: S104 - probes need it
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= container["resources"][kind].keys()
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > SHUTDOWN_TIMEOUT


def test_deployment_volumes(deployment: dict[str, Any], container: dict[str, Any]) -> None:
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert volumes.keys() == mounts.keys()
    writable = [name for name, mount in mounts.items() if not mount.get("readOnly")]
    assert writable == ["tmp"]  # an emptyDir for /tmp is the only writable path
    assert "emptyDir" in volumes["tmp"]
    assert mounts["tmp"]["mountPath"] == "/tmp"  # noqa: S108 - asserting the manifest's mount
    env = _env(container)
    assert mounts["secrets"]["mountPath"] == env["POLLER_SECRETS_DIR"]
    assert volumes["secrets"]["secret"]["secretName"] == _k8s("Secret")["metadata"]["name"]
    config_dir, config_file = env["POLLER_CONFIG"].rsplit("/", 1)
    assert mounts["config"]["mountPath"] == config_dir
    assert config_file in _k8s("ConfigMap")["data"]


def test_service_and_servicemonitor_reach_the_metrics_port(container: dict[str, Any]) -> None:
    service = _k8s("Service")
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "metrics"
    assert service["spec"]["publishNotReadyAddresses"] is True
    monitor = _k8s("ServiceMonitor")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == (port["name"], "/metrics")
    labels = monitor["spec"]["selector"]["matchLabels"]
    assert labels.items() <= service["metadata"]["labels"].items()


def test_secret_holds_placeholders_only() -> None:
    secret = _k8s("Secret")
    assert set(secret["stringData"].values()) == {"REPLACE_ME"}


def test_example_config_loads_with_the_example_secret(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name in _k8s("Secret")["stringData"]:
        (secrets / name).write_text(f"sk-admin-test-{name.lower()}\n", encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(_k8s("ConfigMap")["data"]["config.yaml"], encoding="utf-8")

    settings = load_settings(config=config, secrets_dir=secrets)

    assert [org.name for org in settings.orgs] == ["acme", "globex"]
    assert settings.elasticsearch.api_key is not None
    for org in settings.orgs:
        expected = f"sk-admin-test-{org.admin_key_credential}".lower()
        assert org.admin_key.get_secret_value() == expected
        assert org.stream_configs()


# --- systemd -----------------------------------------------------------------------------------

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
    "UMask": "0077",
    "TimeoutStopSec": "35s",
}


def _unit_entries(text: str) -> Iterator[tuple[str, str, str]]:
    """(section, key, value) for every assignment of a unit file, in order."""
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        assert not line.endswith("\\"), "no line continuations, please"
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not an assignment: {line!r}"
        yield section, key.strip(), value.strip()


def _service_values(key: str) -> list[str]:
    text = UNIT.read_text(encoding="utf-8")
    return [v for s, k, v in _unit_entries(text) if (s, k) == ("Service", key)]


def test_unit_uses_only_known_directives() -> None:
    entries = list(_unit_entries(UNIT.read_text(encoding="utf-8")))
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
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify insists ExecStart's binary exists; point it at one that does.
    true = shutil.which("true")
    assert true is not None
    text = re.sub(r"(?m)^ExecStart=\S+", f"ExecStart={true}", UNIT.read_text(encoding="utf-8"))
    unit = tmp_path / UNIT.name
    unit.write_text(text, encoding="utf-8")
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert not re.search(r"Unknown (key|section)|Invalid|ignoring", output), output


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


# --- Prometheus --------------------------------------------------------------------------------

EXPECTED_ALERTS = {
    "OpenAIPollerDown",
    "OpenAIPollerCursorStalled",
    "OpenAIPollerNeverSucceeded",
    "OpenAIPollerErrorsRising",
    "OpenAIPollerDeadLetters",
    "OpenAIPollerLagGrowing",
    "OpenAIPollerRateLimited",
}


def _exported_metric_names() -> set[str]:
    metrics = Metrics()
    metrics.declare("acme", "costs", 3600)
    metrics.on_response("/organization/costs", 429)
    metrics.on_retry("/organization/costs", "429", 1.0)
    metrics.on_write("acme", "costs", WriteReport(created=1))
    metrics.set_lag("acme", "costs", 1.0)
    metrics.mark_success("acme", "costs")
    metrics.mark_error("acme", "costs")
    metrics.observe_cycle("acme", "costs", 1.0)
    return {sample.name for family in metrics.registry.collect() for sample in family.samples}


def _rules() -> list[dict[str, Any]]:
    (doc,) = _docs(RULES)
    (group,) = doc["groups"]
    assert group["name"] == "openai-poller"
    return list(group["rules"])


def test_rules_define_the_expected_alerts() -> None:
    rules = _rules()
    assert {rule["alert"] for rule in rules} == EXPECTED_ALERTS
    for rule in rules:
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["description"]


@pytest.mark.parametrize("rule", _rules(), ids=lambda rule: rule["alert"])
def test_rule_expressions_are_promql_shaped(rule: dict[str, Any]) -> None:
    expr = rule["expr"]
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    for char in re.sub(r'"[^"]*"', '""', expr):  # brackets inside label values do not count
        if char in "([{":
            stack.append(char)
        elif char in pairs:
            assert stack and stack.pop() == pairs[char], expr
    assert not stack, expr
    for window in re.findall(r"\[([^\]]+)\]", expr):
        assert re.fullmatch(r"\d+[smhd]", window), expr
    # Every poller metric an alert reads is one the poller exports.
    referenced = set(re.findall(r"\bopenai_poller_[a-z_]+", expr))
    assert referenced <= _exported_metric_names(), referenced - _exported_metric_names()


@tool("promtool")
def test_promtool_checks_and_unit_tests_the_rules() -> None:
    for command in (["check", "rules", RULES.name], ["test", "rules", RULE_TESTS.name]):
        result = subprocess.run(
            ["promtool", *command],
            cwd=RULES.parent,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


# --- Dockerfile --------------------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_dockerfile_is_multi_stage_and_runs_as_non_root() -> None:
    instructions = _instructions()
    stages = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert len(stages) >= 2
    assert all(stage.startswith("python:3.11-slim") for stage in stages)
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users, "the image must not run as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) > 0  # numeric, so runAsNonRoot can check it
    assert ("ENTRYPOINT", '["openai-poller"]') in instructions
    assert ("CMD", '["run"]') in instructions


def test_dockerfile_bakes_in_no_secrets_and_copies_real_paths() -> None:
    repo = DOCKERFILE.parent.parent
    for keyword, rest in _instructions():
        if keyword in ("ENV", "ARG"):
            assert not re.search(r"KEY|PASSWORD|SECRET|TOKEN", rest), rest
        if keyword == "COPY" and not rest.startswith("--from"):
            *sources, _ = rest.split()
            for source in sources:
                assert (repo / source).exists(), source
