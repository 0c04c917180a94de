"""Fakes the unit tests run against, one per seam: a sink that records the order of its calls,
a clock, and an Elasticsearch node (`fakes.elasticsearch`)."""

from fakes.clock import FakeClock
from fakes.sink import RecordingSink

__all__ = ["FakeClock", "RecordingSink"]
