"""``hubctl keep-awake UNTIL``: the times an instructor types, turned into ISO 8601 with an offset."""

from __future__ import annotations

import datetime as dt
import re

from hubctl.errors import BadInput

_RELATIVE = re.compile(r"^\+(?:(?P<h>[0-9]{1,3})h)?(?:(?P<m>[0-9]{1,4})m)?$")
_CLOCK = re.compile(r"^(?P<h>[01]?[0-9]|2[0-3]):(?P<m>[0-5][0-9])$")

HINT = "give '+3h', '+90m', '23:30' (local time, today or tomorrow) or ISO 8601 like '2026-12-03T23:30+01:00'"


def parse_until(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """An aware time from '+3h', '+1h30m', 'HH:MM' (the next such local time) or ISO 8601 (without an
    offset it is local time). ``now`` is aware; by default the machine's local time."""
    now = now or dt.datetime.now().astimezone()
    value = text.strip()
    relative = _RELATIVE.fullmatch(value)
    if relative and (relative["h"] or relative["m"]):
        return now + dt.timedelta(hours=int(relative["h"] or 0), minutes=int(relative["m"] or 0))
    clock = _CLOCK.fullmatch(value)
    if clock:
        at = now.replace(hour=int(clock["h"]), minute=int(clock["m"]), second=0, microsecond=0)
        return at if at > now else at + dt.timedelta(days=1)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise BadInput(f"until: {text!r} is not a time hubctl understands", HINT) from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()  # a naive time is the machine's local time
    return parsed


def iso(value: dt.datetime) -> str:
    return value.isoformat(timespec="seconds")
