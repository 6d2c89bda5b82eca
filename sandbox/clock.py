"""The sandbox's clock and EventBridge Scheduler's expressions, evaluated locally.

The sandbox's "now" is the real time plus an offset kept in a file, so ``tick --at TIME`` can move it
(to see the night stop, its postponement, a workshop session) and every part of the sandbox reads the
same time. Expressions follow EventBridge Scheduler: ``at(yyyy-mm-ddThh:mm:ss)`` and the six-field
``cron(minutes hours day-of-month month day-of-week year)``, both read in the schedule's time zone
(ScheduleExpressionTimezone), so a daylight-saving change does not move them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

UTC = dt.UTC


class SandboxClock:
    """Real time plus an offset (seconds) stored in ``path``; read on every call, so all agree."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def offset(self) -> float:
        try:
            return float(json.loads(self.path.read_text(encoding="utf-8"))["offset_s"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0.0

    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC) + dt.timedelta(seconds=self.offset())

    def set(self, moment: dt.datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("the time needs a UTC offset, e.g. 2026-12-03T22:00+01:00")
        offset = (moment - dt.datetime.now(UTC)).total_seconds()
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"offset_s": offset}) + "\n", encoding="utf-8")
        tmp.replace(self.path)

    def __call__(self) -> dt.datetime:
        return self.now()


# --- EventBridge Scheduler expressions -------------------------------------------------------------

_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1
    )
}


class ExpressionError(ValueError):
    pass


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int] | None:
    """The values a cron field allows; None for '*' or '?' (anything)."""
    if text in ("*", "?"):
        return None
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
        if part == "*":
            start, end = low, high
        elif "-" in part:
            first, last = part.split("-", 1)
            start, end = _value(first, names), _value(last, names)
        else:
            start = _value(part, names)
            end = high if step != 1 else start
        if not (low <= start <= high and low <= end <= high):
            raise ExpressionError(f"{text!r} is out of range {low}-{high}")
        if start <= end:
            values.update(range(start, end + 1, step))
        else:  # a range that wraps, e.g. MON-SUN (2-1) or FRI-MON
            values.update([*range(start, high + 1), *range(low, end + 1)][::step])
    return values


def _value(text: str, names: dict[str, int] | None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise ExpressionError(f"{text!r} is not a number")
    return int(text)


@dataclass(frozen=True)
class Cron:
    minutes: set[int] | None
    hours: set[int] | None
    days: set[int] | None
    months: set[int] | None
    weekdays: set[int] | None  # 1 = SUN ... 7 = SAT, as EventBridge counts
    years: set[int] | None

    @classmethod
    def parse(cls, body: str) -> Cron:
        parts = body.split()
        if len(parts) != 6:
            raise ExpressionError(f"cron({body}) needs 6 fields")
        for special in ("L", "W", "#"):
            if any(special in p for p in parts[2:5]):
                raise ExpressionError(f"cron({body}): '{special}' is not supported by the sandbox")
        return cls(
            minutes=_field(parts[0], 0, 59),
            hours=_field(parts[1], 0, 23),
            days=_field(parts[2], 1, 31),
            months=_field(parts[3], 1, 12, _MONTHS),
            weekdays=_field(parts[4], 1, 7, _DAYS),
            years=_field(parts[5], 1970, 2199),
        )

    def _day_matches(self, day: dt.date) -> bool:
        weekday = day.isoweekday() % 7 + 1  # Monday 1 -> 2, Sunday 7 -> 1
        return (
            (self.years is None or day.year in self.years)
            and (self.months is None or day.month in self.months)
            and (self.days is None or day.day in self.days)
            and (self.weekdays is None or weekday in self.weekdays)
        )

    def occurrences(self, after: dt.datetime, until: dt.datetime, zone: ZoneInfo) -> Iterator[dt.datetime]:
        """Local wall-clock firings in (after, until], as aware UTC times, oldest first."""
        day = after.astimezone(zone).date()
        last_day = until.astimezone(zone).date()
        while day <= last_day:
            if self._day_matches(day):
                for hour in sorted(self.hours if self.hours is not None else range(24)):
                    for minute in sorted(self.minutes if self.minutes is not None else range(60)):
                        moment = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                        moment_utc = moment.astimezone(UTC)
                        if after < moment_utc <= until:
                            yield moment_utc
            day += dt.timedelta(days=1)


_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")


def firings(
    expression: str, zone_name: str | None, after: dt.datetime, until: dt.datetime
) -> list[dt.datetime]:
    """Every firing of ``expression`` in (after, until], oldest first."""
    zone = ZoneInfo(zone_name or "UTC")
    at = _AT.match(expression)
    if at:
        moment = dt.datetime.fromisoformat(at.group(1)).replace(tzinfo=zone).astimezone(UTC)
        return [moment] if after < moment <= until else []
    cron = _CRON.match(expression)
    if cron:
        return list(Cron.parse(cron.group(1)).occurrences(after, until, zone))
    if _RATE.match(expression):
        return []  # the stacks use no rate() schedules; the sandbox does not fire them
    raise ExpressionError(f"{expression!r} is not an at(), cron() or rate() expression")


def is_one_time(expression: str) -> bool:
    return bool(_AT.match(expression))


def due(expression: str, zone_name: str | None, after: dt.datetime, until: dt.datetime) -> dt.datetime | None:
    """The latest firing of ``expression`` in (after, until], or None."""
    found = firings(expression, zone_name, after, until)
    return found[-1] if found else None
