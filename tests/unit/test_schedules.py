"""schedule_specs, next fire times across daylight saving, and the night stop's deadline."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from workshop_hub import config
from workshop_hub.schedules import next_fire_time, next_try, schedule_specs, stop_deadline

BERLIN = ZoneInfo("Europe/Berlin")


def workshop(**schedule: object) -> config.WorkshopConfig:
    return config.parse(
        {
            "schedule": {"timezone": "Europe/Berlin", "night_stop": {"time": "22:00"}, **schedule},
            "sessions": [
                {"date": "2026-12-03", "start": "09:00", "end": "17:00", "instance_type": "t3.xlarge"}
            ],
        }
    )


def test_specs_of_the_example() -> None:
    specs = {
        s.name: s for s in schedule_specs(workshop(morning_start={"time": "08:00", "days": ["MON", "FRI"]}))
    }
    assert specs["night-stop"].expression == "cron(0 22 ? * * *)"
    assert specs["night-stop"].timezone == "Europe/Berlin"
    assert specs["night-stop"].payload == {
        "action": "night-stop",
        "scheduled_time": "<aws.scheduler.scheduled-time>",
    }
    assert specs["morning-start"].expression == "cron(0 8 ? * MON,FRI *)"
    prepare, end = specs["session-20261203-0900-prepare"], specs["session-20261203-0900-end"]
    assert prepare.expression == "at(2026-12-03T08:30:00)"
    assert prepare.payload["action"] == "session-prepare" and prepare.payload["instance_type"] == "t3.xlarge"
    assert end.expression == "at(2026-12-03T17:00:00)" and end.payload["action"] == "session-end"
    assert all(len(s.name) <= 64 for s in specs.values())


def test_sessions_already_over_are_left_out() -> None:
    after = dt.datetime(2026, 12, 4, tzinfo=dt.UTC)
    assert [s.name for s in schedule_specs(workshop(), now=after)] == ["night-stop"]


def test_the_night_stop_stays_at_local_time_across_the_october_change() -> None:
    spec = next(s for s in schedule_specs(workshop()) if s.name == "night-stop")
    before = next_fire_time(spec, dt.datetime(2026, 10, 24, 12, tzinfo=dt.UTC))
    after = next_fire_time(spec, dt.datetime(2026, 10, 25, 12, tzinfo=dt.UTC))
    assert before == dt.datetime(2026, 10, 24, 20, 0, tzinfo=dt.UTC)  # 22:00 CEST (+02:00)
    assert after == dt.datetime(2026, 10, 25, 21, 0, tzinfo=dt.UTC)  # 22:00 CET (+01:00)
    assert before is not None and after is not None
    assert after - before == dt.timedelta(days=1, hours=1)  # the day is 25 hours long
    assert before.astimezone(BERLIN).time() == after.astimezone(BERLIN).time() == dt.time(22, 0)
    offsets = BERLIN.utcoffset(before.replace(tzinfo=None)), BERLIN.utcoffset(after.replace(tzinfo=None))
    assert offsets[0] - offsets[1] == dt.timedelta(hours=1)  # type: ignore[operator]


def test_the_deadline_is_the_next_day_when_earlier_than_the_stop() -> None:
    fired = dt.datetime(2026, 12, 1, 22, 0, tzinfo=BERLIN)
    deadline = stop_deadline(fired, workshop().schedule)
    assert deadline.astimezone(BERLIN) == dt.datetime(2026, 12, 2, 2, 0, tzinfo=BERLIN)


def test_the_deadline_is_the_same_day_when_later_than_the_stop() -> None:
    fired = dt.datetime(2026, 12, 1, 20, 0, tzinfo=BERLIN)
    sched = workshop(night_stop={"time": "20:00"}, stop_deadline="23:30").schedule
    assert stop_deadline(fired, sched).astimezone(BERLIN) == dt.datetime(2026, 12, 1, 23, 30, tzinfo=BERLIN)


def test_the_deadline_across_the_october_night() -> None:
    # 22:00 CEST on the 24th, deadline 02:00 on the 25th: still CEST until 03:00 that night.
    fired = dt.datetime(2026, 10, 24, 22, 0, tzinfo=BERLIN)
    deadline = stop_deadline(fired, workshop().schedule)
    assert deadline == dt.datetime(2026, 10, 25, 0, 0, tzinfo=dt.UTC)


def test_the_next_try_never_passes_the_deadline() -> None:
    now = dt.datetime(2026, 12, 2, 0, 45, tzinfo=dt.UTC)
    deadline = dt.datetime(2026, 12, 2, 1, 0, tzinfo=dt.UTC)
    assert next_try(now, 30, deadline) == deadline
    assert next_try(now, 10, deadline) == now + dt.timedelta(minutes=10)
