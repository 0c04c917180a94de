"""The embedded store: documents, cursor state and dead letters in one SQLite file."""

from poller.sinks.sqlite._database import SCHEMA_VERSION, disk_full_message
from poller.sinks.sqlite._reader import SqliteReader, json_path
from poller.sinks.sqlite._sink import SqliteSink

__all__ = ["SCHEMA_VERSION", "SqliteReader", "SqliteSink", "disk_full_message", "json_path"]
