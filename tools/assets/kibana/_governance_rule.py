"""The rule for a change to data retention or model permissions (governance stream).

It windows on `event.ingested`, like the single-event audit rules: a change whose write was held
up (an Elasticsearch outage) still alerts once it arrives. `baseline` documents (the first
snapshot) and `added`/`removed` ones (a project created or archived) are not changes of a
setting, and do not alert.
"""

from __future__ import annotations

from typing import Final

from poller.assets import INGESTED_FIELD
from tools.assets.kibana._governance import FIELD
from tools.assets.kibana._rules import Rule, _dsl

__all__ = ["WATCHED_SETTINGS", "governance_rule"]

WATCHED_SETTINGS: Final = ("data_retention", "model_permissions")


def governance_rule() -> Rule:
    return Rule(
        slug="governance-change",
        name="[OpenAI poller] Data retention or model permissions changed",
        tags=("severity:warning", "security"),
        interval="15m",
        params={
            **_dsl(
                {"term": {"data_stream.dataset": "openai.governance"}},
                {"term": {"event.kind": "event"}},
                {"term": {f"{FIELD}.change": "changed"}},
                {"terms": {f"{FIELD}.setting": list(WATCHED_SETTINGS)}},
                agg=None,
                group="organization.id",
                threshold="1",
                comparator=">=",
                window=(60, "m"),
                time_field=INGESTED_FIELD,
            ),
            "threshold": [1],
        },
        parameters={},
        description=(
            "The organization's or a project's data retention, or a project's model "
            "permissions (allow or deny list), differ from the previous governance snapshot. "
            "Windows on `event.ingested`: active for an hour after the change document reached "
            "Elasticsearch. The document holds the value before and after."
        ),
    )
