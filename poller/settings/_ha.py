"""High availability: several `run` replicas share the orgs through leases in the sink."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator

from poller.settings._validate import Frozen, PositiveDuration, shown_default

__all__ = ["HaSettings"]


class HaSettings(Frozen):
    """How replicas of `run` on one sink share the orgs: each org is collected by the one
    replica holding its lease."""

    enabled: bool = Field(
        default=True,
        description="Collect an org only while holding its lease in the sink, so that several "
        "replicas of `run` on one sink share the orgs instead of each calling OpenAI for all "
        "of them. A lone replica takes every lease at start.",
    )
    lease_ttl: PositiveDuration = Field(
        default=timedelta(seconds=30),
        description="How long a lease lasts unless renewed: when a replica dies, another one "
        "takes its orgs within this plus one `renew_interval`.",
    )
    renew_interval: PositiveDuration | None = Field(
        default=None,
        description="How often a replica renews its leases, announces itself and rebalances; "
        "shorter than `lease_ttl`.",
        json_schema_extra=shown_default("a third of `lease_ttl`"),
    )
    holder: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="This replica's name in the leases and in `status`; unique per replica.",
        json_schema_extra=shown_default("host name, process id and a random suffix"),
    )

    @model_validator(mode="after")
    def _renew_before_expiry(self) -> HaSettings:
        if self.renew_interval is not None and self.renew_interval >= self.lease_ttl:
            raise ValueError("ha.renew_interval must be shorter than ha.lease_ttl")
        return self

    @property
    def interval_seconds(self) -> float:
        ttl = self.lease_ttl.total_seconds()
        return self.renew_interval.total_seconds() if self.renew_interval else ttl / 3
