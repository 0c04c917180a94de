"""What `doctor` asks the cluster: its version, and whether the credentials hold every privilege
the sink needs. Kept apart from the sink, which only writes and reads."""

from __future__ import annotations

from dataclasses import dataclass

from elasticsearch import ApiError

from poller.sinks.elasticsearch._connection import Cluster
from poller.sinks.elasticsearch._errors import describe_error
from poller.sinks.elasticsearch._options import EsIndices

__all__ = [
    "DATA_STREAM_PRIVILEGES",
    "OWN_INDEX_PRIVILEGES",
    "ClusterDiagnostics",
    "ClusterInfo",
    "PrivilegeCheck",
]

# What `write`, the state and the dead letters need.
DATA_STREAM_PRIVILEGES = ("auto_configure", "create_doc", "index", "read", "view_index_metadata")
OWN_INDEX_PRIVILEGES = ("create_index", "index", "read", "view_index_metadata")


@dataclass(frozen=True)
class ClusterInfo:
    name: str
    version: str
    flavor: str | None = None

    @property
    def major(self) -> int:
        head = self.version.partition(".")[0]
        return int(head) if head.isdigit() else 0

    @property
    def supported(self) -> bool:
        return self.major in (8, 9)


@dataclass(frozen=True)
class PrivilegeCheck:
    """`checked` is False when the cluster could not tell (security disabled, or an API it
    lacks); `missing` lists `cluster:<priv>` and `<index pattern>:<priv>` not granted."""

    checked: bool
    missing: tuple[str, ...] = ()
    note: str = ""

    @property
    def ok(self) -> bool:
        return not self.missing


class ClusterDiagnostics:
    """Asks `cluster` what `doctor` reports; errors read as the sink's do (one line, no
    secrets)."""

    def __init__(self, cluster: Cluster, indices: EsIndices) -> None:
        self._client = cluster.client
        self._errors = cluster.errors
        self._indices = indices

    def info(self) -> ClusterInfo:
        with self._errors("reading cluster info"):
            answer = self._client.info().body
        body = self._errors.answer(answer, "reading cluster info")
        version = body.get("version", {})
        return ClusterInfo(
            name=str(body.get("cluster_name", "")),
            version=str(version.get("number", "")),
            flavor=version.get("build_flavor"),
        )

    def check_privileges(self, data_stream_pattern: str = "logs-openai.*-*") -> PrivilegeCheck:
        """Whether the credentials hold what `write`, the state and the dead letters need."""
        wanted: dict[str, tuple[str, ...]] = {
            data_stream_pattern: DATA_STREAM_PRIVILEGES,
            self._indices.state: OWN_INDEX_PRIVILEGES,
            self._indices.deadletter: OWN_INDEX_PRIVILEGES,
        }
        with self._errors("checking privileges"):
            try:
                body = self._client.security.has_privileges(
                    cluster=["monitor"],
                    index=[{"names": [n], "privileges": list(p)} for n, p in wanted.items()],
                ).body
            except ApiError as exc:
                if exc.meta.status in (401, 403):
                    raise
                reason = describe_error(exc.body, f"HTTP {exc.meta.status}")
                return PrivilegeCheck(False, note=f"privileges not checked: {reason}")
        missing = [f"cluster:{p}" for p, ok in body.get("cluster", {}).items() if not ok]
        for name, privs in body.get("index", {}).items():
            missing += [f"{name}:{p}" for p, ok in privs.items() if not ok]
        return PrivilegeCheck(True, tuple(sorted(missing)))
