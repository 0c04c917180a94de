"""Fakes shared by the unit tests: a sink that records the order of its calls, and a clock."""

from fakes.clock import FakeClock
from fakes.sink import RecordingSink

__all__ = ["FakeClock", "RecordingSink"]
