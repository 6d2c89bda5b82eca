"""Walk-in sign-up: the door at /hub/signup (hubagent/door.py), opened until a time with a workshop code,
and closed. The API, a session's schedule (``sessions[].signup: true``) and the door's own closing time
ask for it; hubagent writes the door's file on the instance, which keeps only a hash of the code.

The roster stays the truth: the door writes every walk-in to a spool on the hub, and ``collect`` reads
it (``signup-list`` after the walk-ins already read) into the roster as ``source: walk-in`` with the
time they signed up. It runs in every roster sync and reconcile, in these operations, and when GET
/users is asked while the door is open. A walk-in is then removed like any user.

No lease: the door neither stops nor resizes the hub. With the hub stopped the door's state is recorded
and the reconcile at the next start applies it, after it has created the roster's users (the door file
of an earlier boot reads as closed until then).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from typing import Annotated, Any, Self

from hubagent import rules
from pydantic import ValidationInfo, field_validator, model_validator

from workshop_hub.errors import OperationFailed
from workshop_hub.kinds.kind import SCHEDULE, Instructor, Kind, Route
from workshop_hub.kinds.params import Flag, Params, Scheduled, _rule, aware_time, context_of
from workshop_hub.ports import AgentError, command_timeout, run_now
from workshop_hub.run import Run
from workshop_hub.services import Services
from workshop_hub.stores import RosterEntry
from workshop_hub.times import iso, parse_time

AT_MOST_OPEN = dt.timedelta(days=14)
WALK_IN = "walk-in"
MAX_SIGNUP_PAGES = 100

Code = Annotated[str, _rule(rules.check_signup_code)]


def _window(value: object, info: ValidationInfo) -> dt.datetime | None:
    if value is None:
        return None
    until = aware_time(value)
    now = context_of(info).now
    if until <= now:
        raise rules.RuleError("", value, "is in the past")
    if until - now > AT_MOST_OPEN:
        raise rules.RuleError("", value, f"must be at most {AT_MOST_OPEN.days} days ahead")
    return until


class SignupParams(Params):
    open: Flag
    until: dt.datetime | None = None
    code: Code | None = None  # none: the door's current code, or a new one

    _until = field_validator("until", mode="before")(_window)

    @model_validator(mode="after")
    def _open_needs_until(self) -> Self:
        if self.open and self.until is None:
            raise rules.RuleError(
                "until", None, "is required to open the door (when it closes, e.g. 2026-12-03T16:00+01:00)"
            )
        if not self.open and (self.until is not None or self.code is not None):
            field = "until" if self.until is not None else "code"
            raise rules.RuleError(field, None, 'cannot go with "open": false')
        return self

    def record(self) -> dict[str, Any]:
        if not self.open or self.until is None:
            return {"open": False}
        out: dict[str, Any] = {"open": True, "until": iso(self.until)}
        if self.code is not None:
            out["code"] = self.code
        return out


class SessionSignupParams(Scheduled):
    """A session's schedule opens the door at the session's start, until its end."""

    until: dt.datetime

    _until = field_validator("until", mode="before")(_window)

    def record(self) -> dict[str, Any]:
        return {"open": True, "until": iso(self.until)}


class SignupCloseParams(Scheduled):
    """The door's closing time: fired by the one-time schedule its opening made."""

    until: str  # the opening's until: a later opening's door stays open

    @field_validator("until", mode="before")
    @classmethod
    def _time(cls, value: object) -> str:
        return iso(aware_time(value))


def _code_for(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    """An opening without a code keeps the door's code, or gets a new one (read off a slide: no look-alikes)."""
    if params.get("open") and not params.get("code"):
        kept = services.stores.desired.get().signup_code
        params = {**params, "code": kept or rules.new_code(secrets.randbelow)}
    return params


def _record(services: Services, params: dict[str, Any]) -> None:
    desired = services.stores.desired
    if params.get("open"):
        desired.set(signup_until=params["until"], signup_code=params["code"])
    else:
        # Closed now: the walk-ins still to read keep signup_until set until collect has read them.
        now = iso(services.clock())
        if desired.get().signup_until:
            desired.set(signup_until=now)


def door(run: Run) -> dict[str, Any]:
    """Make the hub's door what the desired state says, then read its walk-ins into the roster."""
    services = run.services
    state = run.state()
    if state != "running":
        run.flow.step(
            f"deferred: the hub is {state}; the reconcile at the next start applies the door",
            lambda: services.stores.desired.defer("signup"),
        )
        return {"deferred": True, "open": bool(run.params.get("open"))}
    result = apply_door(run)
    if run.params.get("open"):
        close_at = parse_time(run.params["until"])
        name = f"signup-close-{run.op.id}"[:64]
        tz = services.config.schedule.timezone
        payload = {"action": "signup-close", "until": run.params["until"]}
        run.flow.step(
            f"close the door at {close_at.isoformat()}",
            lambda: services.schedules.create(name, close_at, tz, payload),
            detail=lambda _: name,
        )
    result |= collect(run)
    return result


def apply_door(run: Run, prefix: str = "") -> dict[str, Any]:
    """Open the hub's door until the desired time with the desired code's hash, or close it."""
    services = run.services

    def wanted() -> dict[str, Any]:
        desired = services.stores.desired.get()
        until = parse_time(desired.signup_until) if desired.signup_until else None
        if until is None or until <= services.clock() or not desired.signup_code:
            return {"open": False}
        return {"open": True, "until": iso(until)}

    door = run.flow.step(f"{prefix}read the door", wanted, record=False)
    if not door["open"]:
        answer = run.command(f"{prefix}signup door: close", "signup-close", {}, detail=lambda _: "closed")
        return {"open": False, "changed": bool(answer.get("changed"))}

    def params() -> dict[str, str]:
        # Hashed in the send step, with a fresh salt: the instance, SSM and the step's record never see
        # the code (the params are never checkpointed).
        code = services.stores.desired.get().signup_code
        if not code:
            raise OperationFailed("the sign-up door's code was removed meanwhile: open the door again")
        return {"Until": door["until"], "CodeHash": rules.hash_code(code, os.urandom(16))}

    answer = run.command(
        f"{prefix}signup door: open",
        "signup-open",
        params,
        detail=lambda _: f"open until {door['until']}",
        secret=True,
    )
    return {
        "open": True,
        "until": door["until"],
        "changed": True,
        "door_installed": bool(answer.get("door_installed")),
    }


def collect(run: Run, prefix: str = "") -> dict[str, Any]:
    """Read the walk-ins the roster does not have yet from the hub's spool (one step: signup-list is
    short, so its pages are awaited inside it, as health is)."""
    return run.flow.step(
        f"{prefix}collect walk-ins",
        lambda: collect_walk_ins(run.services, command_timeout("signup-list")),
        detail=lambda r: f"{r['walk_ins']} new walk-in(s)",
    )


def collect_walk_ins(services: Services, wait_s: int) -> dict[str, Any]:
    """Walk-ins from the hub's spool into the roster (source walk-in, added when they signed up); the
    desired state keeps the place, so each is read once. Nothing to do unless the door was opened.
    Each page is awaited here, at most ``wait_s`` seconds."""
    desired = services.stores.desired.get()
    if not desired.signup_until:
        return {"walk_ins": 0}
    seen = desired.signup_seen
    new: list[RosterEntry] = []
    spool = desired.signup_spool
    for _ in range(MAX_SIGNUP_PAGES):
        page = run_now(services.commands, "signup-list", {"After": str(seen)}, wait_s)
        if str(page.get("spool") or "") != (spool or ""):
            if seen:  # another spool (a new instance): read it from its start
                spool, seen = str(page.get("spool") or ""), 0
                continue
            spool = str(page.get("spool") or "")
        for seq, name, signed_up_at in page.get("signups") or []:
            seen = max(seen, int(seq))
            new.append(
                RosterEntry(str(name), admin=False, on_hub=True, added_at=str(signed_up_at), source=WALK_IN)
            )
        if not page.get("next"):
            break
    roster = services.stores.roster
    known = roster.find([e.username for e in new])
    fresh = [e for e in new if e.username not in known]
    if fresh:
        roster.put(fresh)
    services.stores.desired.set(signup_spool=spool or "", signup_seen=seen)
    if parse_time(desired.signup_until) <= services.clock():
        services.stores.desired.unset("signup_until")  # closed, and every walk-in read
    return {"walk_ins": len(fresh), "names": [e.username for e in fresh]}


def scheduled_close(run: Run) -> dict[str, Any]:
    """The door's time has come: the door closed itself; read its walk-ins. A later opening's door,
    and a door opened again since, stay as they are."""
    services = run.services
    desired = run.flow.step("read the door", lambda: services.stores.desired.get().signup_until, record=False)
    if desired and parse_time(desired) > parse_time(run.params["until"]):
        run.flow.note(f"the door was opened again, until {desired}: it stays open")
        return {"open": True}
    if run.state() != "running":
        run.flow.note("the hub is not running: the reconcile at the next start reads the walk-ins")
        return {"open": False}
    try:
        result = apply_door(run)
        return result | collect(run)
    except AgentError as err:
        run.flow.note(f"the hub did not answer ({err}); the next roster sync or reconcile reads the walk-ins")
        return {"open": False}


def roster_walk_ins(services: Services) -> str | None:
    """For GET /users while the door is open: read the walk-ins now (None), or say why not."""
    desired = services.stores.desired.get()
    if not desired.signup_until or parse_time(desired.signup_until) <= services.clock():
        return None
    try:
        collect_walk_ins(services, services.timeouts.status_health_s)
    except AgentError as err:
        return f"the walk-ins since the last roster sync are not listed: the hub did not answer ({err})"
    return None


SIGNUP = Kind(
    "signup",
    SignupParams,
    Instructor(
        Route("POST", "/signup"),
        command="signup open",
        example={"open": False},
    ),
    workflow=door,
    lease=False,
    check=_code_for,
    record=_record,
)
SESSION_SIGNUP = Kind(
    "session-signup",
    SessionSignupParams,
    SCHEDULE,
    workflow=door,
    lease=False,
    check=_code_for,
    record=_record,
)
SIGNUP_CLOSE = Kind("signup-close", SignupCloseParams, SCHEDULE, workflow=scheduled_close, lease=False)
KINDS = (SIGNUP, SESSION_SIGNUP, SIGNUP_CLOSE)
