"""Fakes the unit tests run against, one per seam: the Elasticsearch transport, the sink and
the clock."""
