"""The embedded store: documents, cursor state and dead letters in one SQLite file."""

from poller.sinks.sqlite._database import disk_full_message
from poller.sinks.sqlite._leases import OrgLocks, StoreCells
from poller.sinks.sqlite._reader import SqliteReader, json_path
from poller.sinks.sqlite._schema import SCHEMA_VERSION
from poller.sinks.sqlite._sink import SqliteSink

__all__ = [
    "SCHEMA_VERSION",
    "OrgLocks",
    "SqliteReader",
    "SqliteSink",
    "StoreCells",
    "disk_full_message",
    "json_path",
]
