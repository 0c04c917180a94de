"""Names whose defaults several layers agree on: the settings offer them, the client and the
sinks fall back to them. They live here, below all of them, so that no layer imports another
only for a constant (settings importing the Elasticsearch sink pulled its client into every
command)."""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_DEADLETTER_INDEX", "DEFAULT_STATE_INDEX"]

DEFAULT_BASE_URL: Final = "https://api.openai.com/v1"
DEFAULT_STATE_INDEX: Final = "openai-poller-state"
DEFAULT_DEADLETTER_INDEX: Final = "openai-poller-deadletter"
