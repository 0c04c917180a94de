"""Sources: each fetches one stream of one org and yields batches of documents to commit.

A source plans its own work from the stream's saved state: `cycle_source` gives what a daemon
cycle of a stream fetches, `backfill_source` what a backfill of a window fetches, each by the
stream's kind (usage and costs buckets, audit windows, rate-limit, spend-control and
governance snapshots, the allocated cost of each billed day).
"""

from poller.sources._base import BackfillWindow, NamesSource, OrgAccess
from poller.sources._factory import backfill_source, cycle_source
from poller.sources.allocation import AllocationSource, RowMemory
from poller.sources.audit import AuditSource, AuditWindow, CycleAudit
from poller.sources.buckets import BucketSource
from poller.sources.governance import GovernanceSource
from poller.sources.rate_limits import RateLimitSource, slot_start
from poller.sources.spend import SpendSource

__all__ = [
    "AllocationSource",
    "AuditSource",
    "AuditWindow",
    "BackfillWindow",
    "BucketSource",
    "CycleAudit",
    "GovernanceSource",
    "NamesSource",
    "OrgAccess",
    "RateLimitSource",
    "RowMemory",
    "SpendSource",
    "backfill_source",
    "cycle_source",
    "slot_start",
]
