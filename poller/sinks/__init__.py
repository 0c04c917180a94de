"""Where documents and cursors go: Elasticsearch data streams, or the embedded SQLite store."""
