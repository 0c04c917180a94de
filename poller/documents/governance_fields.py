"""The declaration of the governance documents' fields (read by `fields.stream_fields`).

A snapshot document holds one setting's `value`; a change document the same shape twice, as
`before` and `after`, so one query finds a setting's state and its history alike (e.g.
`openai.governance.after.mode : "allow_list"`). Every setting fills only its own fields of the
value: data retention `type`, model permissions `mode` and `model_ids`, hosted-tool permissions
`enabled_tools` and `disabled_tools`, a certificate `name`, `active` and its dates.
"""

from __future__ import annotations

from typing import Final

from poller.documents.fitting import BOOLEAN, DATE, KEYWORD, Tree

__all__ = ["GOVERNANCE_FIELDS", "GOVERNANCE_VALUE_FIELDS"]

GOVERNANCE_VALUE_FIELDS: Final[Tree] = {
    "type": KEYWORD,
    "mode": KEYWORD,
    "model_ids": KEYWORD,
    "enabled_tools": KEYWORD,
    "disabled_tools": KEYWORD,
    "name": KEYWORD,
    "active": BOOLEAN,
    "created_at": DATE,
    "valid_at": DATE,
    "expires_at": DATE,
}

GOVERNANCE_FIELDS: Final[Tree] = {
    "setting": KEYWORD,
    "scope": KEYWORD,
    "project_id": KEYWORD,
    "project_name": KEYWORD,
    "project_status": KEYWORD,
    "certificate_id": KEYWORD,
    "value": GOVERNANCE_VALUE_FIELDS,
    "change": KEYWORD,
    "changed_fields": KEYWORD,
    "before": GOVERNANCE_VALUE_FIELDS,
    "after": GOVERNANCE_VALUE_FIELDS,
    "collected_at": DATE,
    "previous_collected_at": DATE,
}
