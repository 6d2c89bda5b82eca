"""users add/remove/list and activity: the hub's users, through its REST API only.

SSM keeps the first 24,000 characters of a command's stdout, so ``users list`` and ``activity``
print compact results that stay under OUTPUT_BUDGET characters whatever the hub holds:

* users list: ``{"count": N, "names": [...], "admins": [...], "next": NAME|null}``, names sorted; when
  they do not all fit, ``next`` is the last name given: ``users list --after NAME`` gives the rest.
  1,000 names of up to 18 characters fit in one answer.
* activity: counts, and the active users' names (most recent first) as far as they fit
  (``active_users_complete`` says whether they all did); ``active_count`` is always exact.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from hubagent import rules
from hubagent.errors import InputError
from hubagent.hubapi import Hub


def check_names(values: list[str]) -> list[str]:
    """Usernames from arguments that may each hold several names separated by single spaces."""
    names: list[str] = []
    for value in values:
        for name in value.split(" "):
            try:
                rules.check_username(name)
            except rules.RuleError as err:
                raise InputError(str(err)) from None
            if name not in names:
                names.append(name)
    if not names:
        raise InputError("usernames: give at least one user name")
    if len(names) > rules.MAX_USERS_PER_REQUEST:
        raise InputError(
            f"usernames: {len(names)} names is more than {rules.MAX_USERS_PER_REQUEST} in one request; split them"
        )
    return names


def add(hub: Hub, names: list[str], admin: bool) -> dict[str, Any]:
    created = set(hub.create_users(names, admin))
    existing = [n for n in names if n not in created]
    promoted = []
    if admin:
        for name in existing:
            model = hub.user(name)
            if model is not None and not model.get("admin"):
                hub.set_admin(name, True)
                promoted.append(name)
    return {
        "changed": bool(created or promoted),
        "created": [n for n in names if n in created],
        "existing": existing,
        "promoted": promoted,
        "admin": admin,
    }


def remove(hub: Hub, name: str) -> dict[str, Any]:
    removed = hub.delete_user(name)
    return {"changed": removed, "removed": removed, "name": name}


def _running(user: dict[str, Any]) -> bool:
    servers = user.get("servers") or {}
    return bool(user.get("server")) or any(s.get("ready") for s in servers.values())


def _parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    # Python 3.10's fromisoformat does not take a trailing Z
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _last_activity(user: dict[str, Any]) -> dt.datetime | None:
    stamps = [_parse_time(user.get("last_activity"))]
    stamps += [_parse_time(s.get("last_activity")) for s in (user.get("servers") or {}).values()]
    known = [s for s in stamps if s is not None]
    return max(known) if known else None


# Well under SSM's 24,000 characters of stdout, with room for the result's other fields.
OUTPUT_BUDGET = 22_000


def _cost(name: str) -> int:
    """Characters ``name`` adds to a JSON list: quoted, and ', ' before it."""
    return len(json.dumps(name)) + 2


def list_users(hub: Hub, after: str = "", budget: int = OUTPUT_BUDGET) -> dict[str, Any]:
    """The hub's users, sorted by name, from the first one after ``after``, as many as fit in ``budget``."""
    users = sorted(hub.users(), key=lambda u: str(u["name"]))
    rest = [u for u in users if str(u["name"]) > after] if after else users
    names: list[str] = []
    admins: list[str] = []
    used = 0
    for user in rest:
        name = str(user["name"])
        cost = _cost(name) * (2 if user.get("admin") else 1)
        if used + cost > budget:
            break
        used += cost
        names.append(name)
        if user.get("admin"):
            admins.append(name)
    more = len(names) < len(rest)
    return {
        "changed": False,
        "count": len(users),
        "names": names,
        "admins": admins,
        "next": names[-1] if more and names else None,
    }


def activity(
    hub: Hub, minutes: int, now: dt.datetime | None = None, budget: int = OUTPUT_BUDGET
) -> dict[str, Any]:
    """Active users: a running server with activity in the last ``minutes`` (0: any running server)."""
    now = now or dt.datetime.now(dt.timezone.utc)  # noqa: UP017 (dt.UTC is Python 3.11+; Ubuntu 22.04 has 3.10)
    since = now - dt.timedelta(minutes=minutes)
    users = hub.users()
    running = [u for u in users if _running(u)]
    active: list[tuple[dt.datetime | None, str]] = []
    for user in running:
        last = _last_activity(user)
        if minutes == 0 or (last is not None and last >= since):
            active.append((last, str(user["name"])))
    # most recent first, so the names cut off at the budget are the least recently active
    oldest = dt.datetime.min.replace(tzinfo=dt.timezone.utc)  # noqa: UP017
    active.sort(key=lambda pair: (pair[0] or oldest, pair[1]), reverse=True)
    shown: list[str] = []
    used = 0
    for _, name in active:
        if used + _cost(name) > budget:
            break
        used += _cost(name)
        shown.append(name)
    latest = max((last for last, _ in active if last is not None), default=None)
    return {
        "changed": False,
        "minutes": minutes,
        "active_count": len(active),
        "active_users": shown,
        "active_users_complete": len(shown) == len(active),
        "running_count": len(running),
        "user_count": len(users),
        "last_activity": latest.isoformat() if latest else None,
    }
