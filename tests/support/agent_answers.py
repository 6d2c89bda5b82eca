"""hubagent's compact results, for the fakes that stand in for it (hub_world.FakeHub, moto_hub's
RecordingCommands): the same shapes as agent/hubagent/users.py prints (see agent/README.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def users_list(users: Mapping[str, bool], after: str = "", page_size: int = 1000) -> dict[str, Any]:
    """users-list: ``page_size`` names after ``after``, sorted, with the admins among them and ``next``."""
    names = sorted(users)
    rest = [n for n in names if n > after] if after else names
    page = rest[:page_size]
    return {
        "changed": False,
        "count": len(names),
        "names": page,
        "admins": [n for n in page if users[n]],
        "next": page[-1] if len(rest) > len(page) else None,
    }


def activity(minutes: int, active: list[str], running: int | None = None, users: int = 0) -> dict[str, Any]:
    """activity: the counts and the active names (all of them: a fake has no output limit)."""
    return {
        "changed": False,
        "minutes": minutes,
        "active_count": len(active),
        "active_users": list(active),
        "active_users_complete": True,
        "running_count": len(active) if running is None else running,
        "user_count": max(users, len(active)),
        "last_activity": None,
    }
