"""What a lease is, what stores it, and the error of a replica that lost one.

A lease gives one replica the right to collect one org until `expires` (Unix seconds). Its
`token` (the fencing token) only ever increases: it grows by one each time the lease passes to
another holder, and every cursor write carries it, so a holder that lost its lease while paused
cannot commit after waking up (`poller.leases.FencedSink`).

Leases live in the sink's own state store as small versioned records (`Cells`): Elasticsearch
documents taken and renewed with `if_seq_no`/`if_primary_term`, or rows of the embedded store
replaced only when they still hold what was read. A `Cells` implementation knows nothing of
leases; `poller.leases._store` builds them on top.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from poller.errors import OrgError, Scope

__all__ = ["Cells", "Lease", "LeaseLostError", "LeaseStore", "Versioned"]

# A record as read: its value (None when absent) and the version a conditional write expects.
Versioned = tuple[Mapping[str, Any] | None, Hashable | None]


class Cells(Protocol):
    """Small JSON records under string keys, replaced only by a write that names the version it
    read (compare-and-set). Raises `SinkUnavailableError`/`SinkRejectedError` like the sink."""

    def read(self, key: str) -> Versioned: ...

    def read_many(self, keys: Sequence[str]) -> dict[str, Versioned]: ...

    def write(self, key: str, value: Mapping[str, Any], expected: Hashable | None) -> bool:
        """Store `value` if the record is still at version `expected` (absent when None);
        False when another writer changed it first."""
        ...


@dataclass(frozen=True)
class Lease:
    """`holder` may collect `org` until `expires`; its writes carry `token`."""

    org: str
    holder: str
    token: int
    expires: float

    def held_at(self, now: float) -> bool:
        return now < self.expires

    def to_json(self) -> dict[str, Any]:
        return {"holder": self.holder, "token": self.token, "expires": self.expires}

    @classmethod
    def from_json(cls, org: str, data: Mapping[str, Any] | None) -> Lease | None:
        """None for a record that is not a lease: absent, or damaged (then taken for free)."""
        if not data:
            return None
        holder, token, expires = data.get("holder"), data.get("token"), data.get("expires")
        if not isinstance(holder, str) or isinstance(token, bool) or not isinstance(token, int):
            return None
        if isinstance(expires, bool) or not isinstance(expires, int | float):
            return None
        return cls(org, holder, token, float(expires))


class LeaseStore(Protocol):
    """Per-org leases and the roster of live replicas, shared by every replica of a deployment."""

    def acquire(self, org: str, holder: str, ttl: float) -> Lease | None:
        """Take `org` when it is free, expired or already ours (then renewed); None when another
        holder has it or won the race."""
        ...

    def renew(self, org: str, holder: str, ttl: float) -> Lease | None:
        """Extend our lease of `org`; None when it is no longer ours."""
        ...

    def release(self, org: str, holder: str) -> None:
        """Give `org` up at once (its token stays, so the next holder's is higher)."""
        ...

    def holders(self, orgs: Sequence[str]) -> dict[str, Lease]:
        """The lease record of each org that has one, expired or not."""
        ...

    def gone(self, orgs: Sequence[str]) -> set[str]:
        """Holders of unexpired leases of `orgs` known to have stopped (not merely late): they
        no longer count as replicas, and their orgs are free at once. Empty where a store cannot
        tell a dead holder from a slow one (Elasticsearch: only the TTL can)."""
        ...

    def announce(self, holder: str, ttl: float) -> list[str]:
        """Say `holder` is alive for `ttl` more seconds; every live replica, sorted."""
        ...

    def withdraw(self, holder: str) -> None:
        """Leave the roster (a clean shutdown), so the others rebalance at once."""
        ...

    def close(self) -> None: ...


class LeaseLostError(OrgError):
    """This replica no longer holds the org's lease (it expired, or a newer holder's fencing
    token is on the cursor): another replica collects the org. Not a failure of the org."""

    scope: ClassVar[Scope] = "org"
