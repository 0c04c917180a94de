"""Opening the sink for the commands that only read it (`status`, `report`).

They never create a store: a missing SQLite file most often means the command runs in another
directory than the poller, so the error names the absolute path it looked at and how to point
elsewhere, instead of printing an empty report from a new empty store.
"""

from __future__ import annotations

from poller.errors import ConfigError
from poller.runtime import open_sink
from poller.settings import Settings
from poller.sinks import ReadableSink

__all__ = ["open_for_reading"]


def open_for_reading(settings: Settings) -> ReadableSink:
    """The configured sink, when it exists; a ConfigError (exit 2) for a missing store file."""
    if settings.elasticsearch.url is None:
        path = settings.store_path.absolute()
        if not path.exists():  # a directory there is the sink's error: it cannot be used
            raise ConfigError(
                f"no embedded store at {path} -- fix: point POLLER_STORE_PATH at the poller's "
                "store, or set ELASTICSEARCH_URL"
            )
    return open_sink(settings, read_only=True)
