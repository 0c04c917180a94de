"""A typed client for OpenAI's admin API."""
