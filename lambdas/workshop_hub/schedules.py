"""The hub's schedules in the instructor's local time: what the control stack creates, and the
night stop's deadline arithmetic. Pure functions: no AWS here.

EventBridge Scheduler evaluates ``cron(...)`` and ``at(...)`` in ``ScheduleExpressionTimezone``,
so a 22:00 stop stays at 22:00 local time across daylight-saving changes.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from workshop_hub.config import WEEKDAYS, Schedule, WorkshopConfig

# Scheduler replaces these in a target's Input: the fire time makes a retried delivery idempotent.
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"


@dataclass(frozen=True)
class ScheduleSpec:
    name: str  # [0-9A-Za-z._-], at most 64 characters
    expression: str  # cron(min hour ? * DAYS *) or at(yyyy-mm-ddThh:mm:ss)
    timezone: str
    payload: dict[str, Any] = field(default_factory=dict)
    description: str = ""


def _clock(text: str) -> dt.time:
    hour, minute = text.split(":")
    return dt.time(int(hour), int(minute))


def _cron(time_text: str, days: list[str]) -> str:
    at = _clock(time_text)
    day_field = "*" if set(days) == set(WEEKDAYS) else ",".join(d for d in WEEKDAYS if d in days)
    return f"cron({at.minute} {at.hour} ? * {day_field} *)"


def _at(moment: dt.datetime) -> str:
    return f"at({moment:%Y-%m-%dT%H:%M:%S})"


def schedule_specs(config: WorkshopConfig, now: dt.datetime | None = None) -> list[ScheduleSpec]:
    """Every recurring and session schedule of ``config``; sessions already over at ``now`` are left out."""
    sched = config.schedule
    tz = sched.timezone
    specs: list[ScheduleSpec] = []
    daily = (
        ("night-stop", sched.night_stop, "stop the hub at {} unless users are active"),
        ("morning-start", sched.morning_start, "start the hub at {}"),
    )
    for action, when, description in daily:
        if when:
            specs.append(
                ScheduleSpec(
                    name=action,
                    expression=_cron(when.time, list(when.days)),
                    timezone=tz,
                    payload={"action": action, "scheduled_time": SCHEDULED_TIME},
                    description=description.format(when.time),
                )
            )
    zone = ZoneInfo(tz)
    for session in config.sessions:
        start = dt.datetime.combine(session.date, _clock(session.start), tzinfo=zone)
        prepare = start - dt.timedelta(minutes=session.prepare_minutes)
        end = dt.datetime.combine(session.date, _clock(session.end), tzinfo=zone)
        if now is not None and end <= now:
            continue
        day = f"{session.date:%Y%m%d}-{session.start.replace(':', '')}"
        if now is None or prepare > now:
            specs.append(
                ScheduleSpec(
                    name=f"session-{day}-prepare",
                    expression=_at(prepare),
                    timezone=tz,
                    payload={
                        "action": "session-prepare",
                        "instance_type": session.instance_type,
                        "scheduled_time": SCHEDULED_TIME,
                    },
                    description=f"resize to {session.instance_type} and start for the {session.date} session",
                )
            )
        if session.signup and (now is None or start > now):
            specs.append(
                ScheduleSpec(
                    name=f"session-{day}-signup",
                    expression=_at(start),
                    timezone=tz,
                    payload={
                        "action": "session-signup",
                        "until": end.isoformat(),
                        "scheduled_time": SCHEDULED_TIME,
                    },
                    description=f"open the walk-in sign-up door for the {session.date} session, until its end",
                )
            )
        specs.append(
            ScheduleSpec(
                name=f"session-{day}-end",
                expression=_at(end),
                timezone=tz,
                payload={"action": "session-end", "scheduled_time": SCHEDULED_TIME},
                description=f"resize back and stop after the {session.date} session",
            )
        )
    return specs


_CRON = re.compile(r"cron\((\d+) (\d+) \? \* (\S+) \*\)")
_AT = re.compile(r"at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)")


def next_fire_time(spec: ScheduleSpec, after: dt.datetime) -> dt.datetime | None:
    """When Scheduler fires ``spec`` next after ``after`` (aware), as an aware UTC datetime.

    Covers the expressions schedule_specs writes. A wall-clock time that does not exist (spring-forward
    gap) is taken at its pre-change offset, as zoneinfo does."""
    zone = ZoneInfo(spec.timezone)
    at_match = _AT.fullmatch(spec.expression)
    if at_match:
        moment = dt.datetime.fromisoformat(at_match.group(1)).replace(tzinfo=zone)
        return moment.astimezone(dt.UTC) if moment > after else None
    cron = _CRON.fullmatch(spec.expression)
    if not cron:
        raise ValueError(f"not an expression schedule_specs writes: {spec.expression}")
    minute, hour, days = int(cron.group(1)), int(cron.group(2)), cron.group(3)
    allowed = set(WEEKDAYS) if days == "*" else set(days.split(","))
    local_day = after.astimezone(zone).date()
    for offset in range(8):
        day = local_day + dt.timedelta(days=offset)
        if WEEKDAYS[day.weekday()] not in allowed:
            continue
        moment = dt.datetime.combine(day, dt.time(hour, minute), tzinfo=zone)
        if moment > after:
            return moment.astimezone(dt.UTC)
    return None


def stop_deadline(fired_at: dt.datetime, schedule: Schedule) -> dt.datetime:
    """The latest moment the night stop may postpone to: ``stop_deadline`` local time on the night
    stop's day, or the next day when the deadline's clock time is not after the stop time."""
    zone = ZoneInfo(schedule.timezone)
    local = fired_at.astimezone(zone)
    deadline_time = _clock(schedule.stop_deadline)
    stop_time = _clock(schedule.night_stop.time) if schedule.night_stop else local.time()
    day = local.date()
    # A night stop firing after midnight (e.g. 00:30) with a later deadline (02:00) stays on its day.
    if deadline_time <= stop_time:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, deadline_time, tzinfo=zone).astimezone(dt.UTC)


def next_try(now: dt.datetime, postpone_minutes: int, deadline: dt.datetime) -> dt.datetime:
    """When a postponed stop tries again: in ``postpone_minutes``, never later than the deadline."""
    return min(now + dt.timedelta(minutes=postpone_minutes), deadline)


def summary(config: WorkshopConfig, now: dt.datetime) -> dict[str, Any]:
    """What status shows about the schedules: the rules and the next fire times."""
    sched = config.schedule
    upcoming = []
    for spec in schedule_specs(config, now):
        fire = next_fire_time(spec, now)
        if fire is not None:
            upcoming.append((fire, spec.name))
    upcoming.sort()
    zone = ZoneInfo(sched.timezone)
    return {
        "timezone": sched.timezone,
        "night_stop": sched.night_stop.model_dump() if sched.night_stop else None,
        "morning_start": sched.morning_start.model_dump() if sched.morning_start else None,
        "active_minutes": sched.active_minutes,
        "postpone_minutes": sched.postpone_minutes,
        "stop_deadline": sched.stop_deadline,
        "next": [{"name": name, "at": fire.astimezone(zone).isoformat()} for fire, name in upcoming[:5]],
    }
