"""The night stop: postponed while participants are active (until the deadline), moved to the end of
keep-awake when one is set, never a surprise. Scheduler starts it every night (night-stop) and at each
postponed or moved time (postponed-stop, with its deadline).

A resize "for now" ends with the day: once the hub is stopped for the night, it goes back to the
everyday size (a stopped instance changes type at no cost), so the next start, by hand or in the
morning, pays for the everyday type, not yesterday's bigger one."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from workshop_hub import decisions, schedules
from workshop_hub.errors import OperationFailed, TypeUnsupported
from workshop_hub.kinds.kind import SCHEDULE, Kind
from workshop_hub.kinds.params import AwareTime, Scheduled, ScheduledTime
from workshop_hub.run import Run
from workshop_hub.times import iso, parse_time


class NightStopParams(Scheduled):
    # Recorded: the stop's deadline is counted from when Scheduler fired it.
    scheduled_time: ScheduledTime | None = None


class PostponedStopParams(Scheduled):
    deadline: AwareTime

    def record(self) -> dict[str, Any]:
        return {"deadline": iso(self.deadline)}


def night_stop(run: Run) -> dict[str, Any]:
    sched = run.services.config.schedule
    now = run.now()
    fired_text = run.params.get("scheduled_time")
    fired = parse_time(fired_text) if fired_text else now
    deadline = (
        parse_time(run.params["deadline"])
        if "deadline" in run.params
        else schedules.stop_deadline(fired, sched)
    )
    until_text = run.flow.step(
        "read keep-awake", lambda: run.services.stores.desired.get().keep_awake_until, record=False
    )
    keep = parse_time(until_text) if until_text else None
    state = run.settle()
    active = None
    if state == "running" and decisions.needs_activity(now=now, deadline=deadline, keep_awake_until=keep):
        active = run.active_users()
    decision = decisions.night_stop(
        now=now,
        deadline=deadline,
        keep_awake_until=keep,
        active=active,
        postpone_minutes=sched.postpone_minutes,
        already_stopped=state == "stopped",
    )
    if decision.action == "skip":
        run.flow.step("already stopped", lambda: _stopped(run))
        return {"stopped": True, **back_to_everyday(run)}
    if decision.action in ("later", "postpone") and decision.at is not None:
        at = decision.at
        # keep-awake: the stop tries at its end, with as long a window as tonight's.
        new_deadline = (
            deadline
            if decision.action == "postpone"
            else decision.at + max(deadline - fired, dt.timedelta(0))
        )
        local = decision.at.astimezone(ZoneInfo(sched.timezone))
        name = f"postponed-stop-{local:%Y%m%dT%H%M%S}"
        label = (
            f"postpone the stop to {local:%H:%M}"
            if decision.action == "postpone"
            else f"stop when keep-awake ends ({local:%a %H:%M})"
        )
        payload = {"action": "postponed-stop", "deadline": iso(new_deadline)}
        moved = decision.action == "later"

        def create() -> None:
            run.services.schedules.create(name, at, sched.timezone, payload)
            why = "keep-awake ends" if moved else "postponed: participants active"
            run.services.stores.desired.set(stop_at=iso(at), stop_why=why)
            if moved:  # keep-awake off, or a new keep-awake time, moves it again (keep_awake.py)
                window = int((new_deadline - at).total_seconds())
                run.services.stores.desired.set(keep_awake_stop=name, keep_awake_window_s=window)

        run.flow.step(label, create, detail=lambda _: decision.reason)
        out: dict[str, Any] = {
            "stopped": False,
            "postponed_until": iso(decision.at),
            "deadline": iso(new_deadline),
        }
        if decision.action == "later":
            out["reason"] = "keep-awake"
            out["keep_awake_until"] = iso(decision.at)
        else:
            out["active_users"] = active
        return out
    run.flow.note(decision.reason)
    run.power_off()
    run.flow.step("nothing to stop any more", lambda: _stopped(run), record=False)
    return {"stopped": True, **back_to_everyday(run)}


def back_to_everyday(run: Run) -> dict[str, Any]:
    """The stopped hub back at the everyday size (a resize for now ends with the day); a type EC2 will
    not take now is said, and the hub stays stopped as it is."""
    services = run.services
    everyday = run.flow.step(
        "read the everyday size",
        lambda: services.stores.desired.get().instance_type or services.config.hub.instance_type,
        record=False,
    )
    current = run.instance_type()
    if current == everyday:
        return {}
    try:
        run.flow.step(
            f"back to the everyday size {everyday} (the resize for today ends)",
            lambda: services.hub.set_instance_type(everyday),
        )
    except (OperationFailed, TypeUnsupported) as err:
        return {"instance_type": current, "everyday_not_restored": str(err)}
    return {"instance_type": everyday, "was": current}


def _stopped(run: Run) -> None:
    """The night's stop has happened: no moved or postponed stop is pending any more."""
    desired = run.services.stores.desired
    if desired.get().keep_awake_stop or "deadline" in run.params:
        desired.unset("keep_awake_stop", "stop_at", "stop_why")


NIGHT_STOP = Kind("night-stop", NightStopParams, SCHEDULE, workflow=night_stop)
POSTPONED_STOP = Kind("postponed-stop", PostponedStopParams, SCHEDULE, workflow=night_stop)
KINDS = (NIGHT_STOP, POSTPONED_STOP)
