"""Sources: each fetches one stream of one org and yields batches of documents to commit."""
