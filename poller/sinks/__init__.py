"""Where documents and cursors go: Elasticsearch data streams, or the embedded SQLite store.

The contract every sink keeps (`Sink`, `WriteReport`, `DeadLetter`) and what a readable one
offers (`Readable`, `SinkReader`) are Protocols and values here; the backends are the
subpackages `poller.sinks.elasticsearch` and `poller.sinks.sqlite`, whose options live there.
"""

from poller.sinks._canonical import canonical_json, same_source, timestamp_millis
from poller.sinks._contract import (
    REJECTED_STATUS,
    DeadLetter,
    DeadLetterRecord,
    DeadLetterStore,
    HeldLetter,
    Readable,
    ReadableSink,
    Sink,
    SinkReader,
    Sums,
    WriteReport,
)
from poller.sinks.elasticsearch import ElasticsearchSink
from poller.sinks.sqlite import SqliteSink

__all__ = [
    "REJECTED_STATUS",
    "DeadLetter",
    "DeadLetterRecord",
    "DeadLetterStore",
    "ElasticsearchSink",
    "HeldLetter",
    "Readable",
    "ReadableSink",
    "Sink",
    "SinkReader",
    "SqliteSink",
    "Sums",
    "WriteReport",
    "canonical_json",
    "same_source",
    "timestamp_millis",
]
