"""The declaration of the spend-control documents' fields (read by `fields.stream_fields`).

Both streams carry the amount twice: `threshold.cents` exactly as OpenAI sends it (whole cents,
so sums and comparisons never round) and `threshold.usd` beside the billed and estimated costs,
which are dollars. `scope` says whose limit or alert it is (`organization` or `project`).
"""

from __future__ import annotations

from typing import Final

from poller.documents.fitting import DATE, DOUBLE, KEYWORD, LONG, Tree
from poller.streams import StreamName

__all__ = ["SPEND_API_FIELDS", "SPEND_OWN_FIELDS"]

# What the mapper fits from each API object (its `threshold_amount` becomes `threshold`).
SPEND_API_FIELDS: Final[dict[str, Tree]] = {
    StreamName.SPEND_LIMITS: {
        "object": KEYWORD,
        "currency": KEYWORD,
        "interval": KEYWORD,
        "enforcement": {"status": KEYWORD},
    },
    StreamName.SPEND_ALERTS: {
        "id": KEYWORD,
        "object": KEYWORD,
        "currency": KEYWORD,
        "interval": KEYWORD,
        "notification_channel": {
            "type": KEYWORD,
            "recipients": KEYWORD,
            "subject_prefix": KEYWORD,
        },
    },
}
# What the mapper adds to every document of either stream.
SPEND_OWN_FIELDS: Final[Tree] = {
    "threshold": {"cents": LONG, "usd": DOUBLE},
    "scope": KEYWORD,
    "project_id": KEYWORD,
    "project_name": KEYWORD,
    "project_status": KEYWORD,
    "collected_at": DATE,
}
