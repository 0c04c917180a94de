"""openai-poller: OpenAI admin API usage, costs and audit logs into Elasticsearch."""

__version__ = "0.1.0"
