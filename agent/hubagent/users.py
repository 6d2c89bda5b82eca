"""users add/remove/list and activity: the hub's users, through its REST API only."""

from __future__ import annotations

import datetime as dt
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


def _summary(user: dict[str, Any]) -> dict[str, Any]:
    last = _last_activity(user)
    return {
        "name": user["name"],
        "admin": bool(user.get("admin")),
        "server_running": _running(user),
        "last_activity": last.isoformat() if last else None,
    }


def list_users(hub: Hub) -> dict[str, Any]:
    return {"changed": False, "users": [_summary(u) for u in hub.users()]}


def activity(hub: Hub, minutes: int, now: dt.datetime | None = None) -> dict[str, Any]:
    """Active users: a running server with activity in the last ``minutes`` (0: any running server)."""
    now = now or dt.datetime.now(dt.timezone.utc)  # noqa: UP017 (dt.UTC is Python 3.11+; Ubuntu 22.04 has 3.10)
    since = now - dt.timedelta(minutes=minutes)
    users = hub.users()
    active = []
    for user in users:
        last = _last_activity(user)
        if _running(user) and (minutes == 0 or (last is not None and last >= since)):
            active.append(user["name"])
    listed = [{k: v for k, v in _summary(u).items() if k != "admin"} for u in users]
    return {"changed": False, "minutes": minutes, "active_users": active, "users": listed}
