"""``hubctl keep-awake UNTIL``: the times an instructor types, turned into ISO 8601 with an offset."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from hubctl.errors import BadInput

_RELATIVE = re.compile(r"^\+(?:(?P<h>[0-9]{1,3})h)?(?:(?P<m>[0-9]{1,4})m)?$")
_CLOCK = re.compile(r"^(?P<h>[01]?[0-9]|2[0-3]):(?P<m>[0-5][0-9])$")

HINT = (
    "give '+3h', '+90m', '23:30' (today, in the workshop's time zone), 'tomorrow 01:00', "
    "or ISO 8601 like '2026-12-03T23:30+01:00'"
)
_TOMORROW = re.compile(r"^tomorrow\s+(?P<clock>\S+)$")


def parse_until(text: str, timezone: str = "UTC", now: dt.datetime | None = None) -> dt.datetime:
    """An aware time from '+3h', '+1h30m', 'HH:MM' (today, local time in ``timezone``: the workshop's
    ``schedule.timezone``, never this computer's), 'tomorrow HH:MM', or ISO 8601 (without an offset it
    is local time in ``timezone``). A clock time already past today is refused, not moved to tomorrow."""
    zone = ZoneInfo(timezone)
    now = (now or dt.datetime.now(dt.UTC)).astimezone(zone)
    value = text.strip()
    tomorrow = _TOMORROW.fullmatch(value)
    if tomorrow:
        clock = _CLOCK.fullmatch(tomorrow["clock"])
        if not clock:
            raise BadInput(f"until: {text!r} is not a time hubctl understands", HINT)
        day = now.date() + dt.timedelta(days=1)
        return dt.datetime.combine(day, dt.time(int(clock["h"]), int(clock["m"])), zone)
    relative = _RELATIVE.fullmatch(value)
    if relative and (relative["h"] or relative["m"]):
        return now + dt.timedelta(hours=int(relative["h"] or 0), minutes=int(relative["m"] or 0))
    clock = _CLOCK.fullmatch(value)
    if clock:
        at = now.replace(hour=int(clock["h"]), minute=int(clock["m"]), second=0, microsecond=0)
        if at <= now:
            raise BadInput(
                f"until: {value} has already passed today ({now:%H:%M} {timezone})",
                f"for tomorrow say 'tomorrow {value}'; or give '+3h'",
            )
        return at
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise BadInput(f"until: {text!r} is not a time hubctl understands", HINT) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)  # a time without an offset is the workshop's local time
    return parsed


def spoken(value: dt.datetime, timezone: str) -> str:
    """'Sun 29 Nov 18:00 Europe/Berlin': how hubctl echoes a time back."""
    local = value.astimezone(ZoneInfo(timezone))
    return f"{local:%a %d %b %H:%M} {timezone}"


def iso(value: dt.datetime) -> str:
    return value.isoformat(timespec="seconds")
