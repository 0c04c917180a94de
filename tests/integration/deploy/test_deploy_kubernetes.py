"""deploy/kubernetes/: the manifests validate against Kubernetes' own schemas, and say what running
the poller safely needs (one replica, a locked-down pod, a pinned image, a narrow network)."""

from __future__ import annotations

import copy
import ipaddress
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
from deploy_files import K8S, SHUTDOWN_TIMEOUT, k8s, pyproject, yaml_docs

from poller.settings import load_settings

# An older release (managed clusters keep one long after upstream drops it) and the newest one the
# validator bundles.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
METRICS_PORT = 9464


def _manifests() -> list[tuple[str, dict[str, Any]]]:
    return [(path.name, doc) for path in sorted(K8S.glob("*.yaml")) for doc in yaml_docs(path)]


@pytest.fixture
def deployment() -> dict[str, Any]:
    return k8s("Deployment")


@pytest.fixture
def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container["env"]}


# --- schemas -----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(
    "manifest",
    [
        pytest.param(doc, id=f"{name}:{doc['kind']}")
        for name, doc in _manifests()
        if doc["kind"] != "ServiceMonitor"
    ],
)
def test_manifest_validates_strictly(manifest: dict[str, Any], version: str) -> None:
    # strict: a property the schema does not know (a typo, a misplaced key) is an error too.
    assert kubernetes_validate.validate(manifest, version, strict=True) == version.rsplit(".", 1)[0]


def test_servicemonitor_is_the_only_manifest_without_a_bundled_schema() -> None:
    # A CRD of the Prometheus Operator: the structure test below covers it instead.
    for name, manifest in _manifests():
        if manifest["kind"] == "ServiceMonitor":
            with pytest.raises(kubernetes_validate.SchemaNotFoundError):
                kubernetes_validate.validate(manifest, KUBERNETES_VERSIONS[-1], strict=True)
        else:
            assert kubernetes_validate.validate(manifest, KUBERNETES_VERSIONS[-1]), name


@pytest.mark.parametrize(
    ("path", "value"),
    [(("spec", "replica"), 1), (("spec", "replicas"), "one")],
    ids=["unknown key", "wrong type"],
)
def test_the_validator_rejects_a_broken_deployment(
    deployment: dict[str, Any], path: tuple[str, str], value: object
) -> None:
    broken = copy.deepcopy(deployment)
    broken[path[0]][path[1]] = value
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


# --- Deployment --------------------------------------------------------------------------------


def test_deployment_runs_two_replicas_spread_over_nodes_and_a_disruption_budget(
    deployment: dict[str, Any],
) -> None:
    # Leases share the orgs between the pods (poller.leases): a second one is a hot standby.
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    spread = deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    term = spread["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    budgets = [doc for _, doc in _manifests() if doc["kind"] == "PodDisruptionBudget"]
    assert [b["spec"]["minAvailable"] for b in budgets] == [1]


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


def test_image_is_pinned_by_digest(container: dict[str, Any]) -> None:
    # The tag is for people; the digest is what runs. REPLACE_ME marks the one to fill in.
    match = re.fullmatch(r"[^:@]+:([^@]+)@sha256:(REPLACE_ME|[0-9a-f]{64})", container["image"])
    assert match, container["image"]
    assert match[1] == pyproject()["project"]["version"]


def test_deployment_probes_and_resources(
    deployment: dict[str, Any], container: dict[str, Any]
) -> None:
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"metrics": METRICS_PORT}
    assert int(_env(container)["POLLER_METRICS__PORT"]) == METRICS_PORT
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
    assert volumes["secrets"]["secret"]["secretName"] == k8s("Secret")["metadata"]["name"]
    config_dir, config_file = env["POLLER_CONFIG"].rsplit("/", 1)
    assert mounts["config"]["mountPath"] == config_dir
    assert config_file in k8s("ConfigMap")["data"]


# --- NetworkPolicy -----------------------------------------------------------------------------


def _namespace(peer: dict[str, Any]) -> str:
    name: str = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
    return name


def _ports(rule: dict[str, Any]) -> set[tuple[str, int]]:
    return {(port["protocol"], port["port"]) for port in rule["ports"]}


@pytest.fixture
def policy() -> dict[str, Any]:
    spec: dict[str, Any] = k8s("NetworkPolicy")["spec"]
    return spec


def test_policy_applies_to_the_poller_both_ways(
    policy: dict[str, Any], deployment: dict[str, Any]
) -> None:
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    # Every rule names its ports: none opens a peer on all of them.
    for rule in policy["ingress"] + policy["egress"]:
        assert rule["ports"]


def test_policy_admits_only_scrapes_from_monitoring(policy: dict[str, Any]) -> None:
    (rule,) = policy["ingress"]
    (peer,) = rule["from"]
    assert peer.keys() == {"namespaceSelector"}
    assert _namespace(peer) == "monitoring"
    assert _ports(rule) == {("TCP", METRICS_PORT)}


def test_policy_lets_out_dns_elasticsearch_and_https(
    policy: dict[str, Any], container: dict[str, Any]
) -> None:
    dns, elasticsearch, https = policy["egress"]

    (peer,) = dns["to"]
    assert _namespace(peer) == "kube-system"
    assert peer["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    assert _ports(dns) == {("UDP", 53), ("TCP", 53)}

    # The namespace and port of the Deployment's ELASTICSEARCH_URL (<service>.<namespace>.svc).
    url = urlsplit(_env(container)["ELASTICSEARCH_URL"])
    assert url.hostname is not None
    (peer,) = elasticsearch["to"]
    assert peer.keys() == {"namespaceSelector"}
    assert _namespace(peer) == url.hostname.split(".")[1]
    assert _ports(elasticsearch) == {("TCP", url.port)}

    assert _ports(https) == {("TCP", 443)}
    assert all(peer.keys() == {"ipBlock"} for peer in https["to"])


def test_https_egress_is_public_addresses_only(policy: dict[str, Any]) -> None:
    https = policy["egress"][-1]
    blocks = [peer["ipBlock"] for peer in https["to"]]
    assert [block["cidr"] for block in blocks] == ["0.0.0.0/0", "::/0"]

    def allowed(address: str) -> bool:
        ip = ipaddress.ip_address(address)
        (block,) = [b for b in blocks if ip in ipaddress.ip_network(b["cidr"])]
        return not any(ip in ipaddress.ip_network(cut) for cut in block["except"])

    # In-cluster, node and carrier-grade NAT addresses and the cloud metadata endpoint stay out.
    for address in ("10.96.0.10", "172.20.0.1", "192.168.1.1", "100.64.0.1", "169.254.169.254"):
        assert not allowed(address), address
    for address in ("fd00::1", "fe80::1"):
        assert not allowed(address), address
    # A public address (one api.openai.com resolved to) is reachable, on IPv4 and IPv6.
    assert allowed("162.159.140.245")
    assert allowed("2606:4700::6812:7b3")


# --- Service, ServiceMonitor, Secret, ConfigMap -------------------------------------------------


def test_service_and_servicemonitor_reach_the_metrics_port() -> None:
    service = k8s("Service")
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "metrics"
    assert service["spec"]["publishNotReadyAddresses"] is True
    monitor = k8s("ServiceMonitor")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == (port["name"], "/metrics")
    labels = monitor["spec"]["selector"]["matchLabels"]
    assert labels.items() <= service["metadata"]["labels"].items()


def test_secret_holds_placeholders_only() -> None:
    secret = k8s("Secret")
    assert set(secret["stringData"].values()) == {"REPLACE_ME"}


def test_example_config_loads_with_the_example_secret(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name in k8s("Secret")["stringData"]:
        (secrets / name).write_text(f"sk-admin-test-{name.lower()}\n", encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(k8s("ConfigMap")["data"]["config.yaml"], encoding="utf-8")

    settings = load_settings(config=config, secrets_dir=secrets)

    assert [org.name for org in settings.orgs] == ["acme", "globex"]
    assert settings.elasticsearch.api_key is not None
    for org in settings.orgs:
        expected = f"sk-admin-test-{org.admin_key_credential}".lower()
        assert org.admin_key.get_secret_value() == expected
        assert org.stream_configs()
