"""ECS `user.group.*` on documents that carry a user: the teams of chargeback.

A user may belong to several groups. ECS declares `user.group.id` and `user.group.name` as
keyword fields, which hold arrays as well as single values, so a usage document lists every
group of its user, sorted by group id: a terms aggregation on `user.group.name` then counts the
document under each of its user's teams (a team's usage, not a split of it). The split that
sums to the bill, where a user's cost is shared between its groups, is the `allocated_costs`
stream's (`poller.documents.allocation`). The two arrays are each in group-id order; a group
the directory lists without a name has its id in `id` and nothing in `name`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from poller.documents.fitting import KEYWORD
from poller.documents.model import GroupRef

__all__ = ["USER_GROUP_FIELDS", "put_user_groups"]

# Path → type of the fields `put_user_groups` writes.
USER_GROUP_FIELDS: Final = {"user.group.id": KEYWORD, "user.group.name": KEYWORD}


def put_user_groups(source: dict[str, Any], groups: Sequence[GroupRef]) -> None:
    """Write `groups` (already in id order) under `user.group`; nothing for no group."""
    if not groups:
        return
    group: dict[str, Any] = {"id": [g.id for g in groups]}
    names = [g.name for g in groups if g.name]
    if names:
        group["name"] = names
    source.setdefault("user", {})["group"] = group
