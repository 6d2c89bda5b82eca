"""Keep-awake: the night stop leaves the hub running until a time the instructor gives (or no longer,
"off"). Recording it is the whole operation; a night stop already waiting for keep-awake's end moves
with it."""

from __future__ import annotations

import datetime as dt
from typing import Any, Self
from zoneinfo import ZoneInfo

from hubagent import rules
from pydantic import ValidationInfo, field_validator, model_validator

from workshop_hub.kinds.kind import Instructor, Kind, Route
from workshop_hub.kinds.params import Flag, Params, aware_time, context_of
from workshop_hub.services import Services
from workshop_hub.times import iso, parse_time

AT_MOST_AHEAD = dt.timedelta(days=90)


class KeepAwakeParams(Params):
    until: dt.datetime | None = None
    off: Flag = False  # cancel keep-awake

    @field_validator("until", mode="before")
    @classmethod
    def _ahead(cls, value: object, info: ValidationInfo) -> dt.datetime | None:
        if value is None:
            return None
        until = aware_time(value)
        now = context_of(info).now
        if until - now > AT_MOST_AHEAD:
            raise rules.RuleError("", value, f"must be at most {AT_MOST_AHEAD.days} days ahead")
        if until <= now:
            raise rules.RuleError("", value, "is in the past")
        return until

    @model_validator(mode="after")
    def _a_time_or_off(self) -> Self:
        if self.off and self.until is not None:
            raise rules.RuleError("off", None, "cannot go with until (either a time, or off)")
        if not self.off and self.until is None:
            raise rules.RuleError("until", None, 'is required (or "off": true to cancel keep-awake)')
        return self

    def record(self) -> dict[str, Any]:
        return {"off": True} if self.off or self.until is None else {"until": iso(self.until)}


def _record(services: Services, params: dict[str, Any]) -> None:
    desired = services.stores.desired
    if params.get("off"):
        desired.unset("keep_awake_until")
    else:
        desired.set(keep_awake_until=params["until"])
    _move_the_stop(services, None if params.get("off") else parse_time(params["until"]))


def _move_the_stop(services: Services, until: dt.datetime | None) -> None:
    """Tonight's night stop already waits for keep-awake's end: move it to the new end, or (off) to a
    minute from now, keeping its window and its activity rules."""
    state = services.stores.desired.get()
    if not state.keep_awake_stop:
        return
    services.schedules.delete(state.keep_awake_stop)
    at = until or services.clock() + dt.timedelta(minutes=1)
    tz = services.config.schedule.timezone
    name = f"postponed-stop-{at.astimezone(ZoneInfo(tz)):%Y%m%dT%H%M%S}"
    deadline = at + dt.timedelta(seconds=state.keep_awake_window_s)
    services.schedules.create(name, at, tz, {"action": "postponed-stop", "deadline": iso(deadline)})
    why = "keep-awake ends" if until else "keep-awake was switched off"
    services.stores.desired.set(keep_awake_stop=name, stop_at=iso(at), stop_why=why)


KEEP_AWAKE = Kind(
    "keep-awake",
    KeepAwakeParams,
    Instructor(Route("POST", "/instance/keep-awake"), command="keep-awake", example={"off": True}),
    lease=False,
    record=_record,
)
KINDS = (KEEP_AWAKE,)
