"""The control plane's decisions, as pure functions of plain values: no AWS, no store, no clock of their
own. Tested by tables (tests/unit/test_decisions.py); the workflows carry them out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Literal

from workshop_hub.schedules import next_try

# --- resize ---------------------------------------------------------------------------------------

End = Literal["as-before", "running", "stopped"]


@dataclass(frozen=True)
class ResizePlan:
    """What a resize does, in order, and what it must undo if a step after the stop fails."""

    change_type: bool  # stop (if running), change the type
    stop_first: bool
    start_after: bool
    stop_after: bool  # same type, but the hub must end stopped (session end)
    check_activity: bool  # the hub runs with participants on it: refuse if they are active


def plan_resize(*, state: str, current: str, target: str, end: End, force: bool) -> ResizePlan:
    """``state`` is settled (running or stopped). ``end``: 'as-before' (an instructor's resize),
    'running' (a session prepares), 'stopped' (a session ends)."""
    running = state == "running"
    want_running = {"as-before": running, "running": True, "stopped": False}[end]
    change = current != target
    return ResizePlan(
        change_type=change,
        stop_first=change and running,
        start_after=want_running and (change or not running),
        stop_after=not change and running and not want_running,
        check_activity=running and not force and (change or not want_running),
    )


# --- the night stop -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NightStop:
    action: Literal["stop", "postpone", "skip", "later"]
    at: dt.datetime | None = None  # postpone: the next try; later: when keep-awake ends
    reason: str = ""


def night_stop(
    *,
    now: dt.datetime,
    deadline: dt.datetime,
    keep_awake_until: dt.datetime | None,
    active: list[str] | None,
    postpone_minutes: int,
    already_stopped: bool,
) -> NightStop:
    """``active`` is None when the activity has not been asked (it is asked only when it matters)."""
    if already_stopped:
        return NightStop("skip", reason="already stopped")
    if keep_awake_until is not None and keep_awake_until > now:
        # keep-awake moves the night stop to its end (with the same activity rules then).
        return NightStop("later", keep_awake_until, f"keep-awake until {keep_awake_until.isoformat()}")
    if now >= deadline:
        return NightStop("stop", reason="deadline reached: stopping whatever the activity")
    if active:
        return NightStop("postpone", next_try(now, postpone_minutes, deadline), f"{', '.join(active)} active")
    return NightStop("stop", reason="nobody active")


def needs_activity(*, now: dt.datetime, deadline: dt.datetime, keep_awake_until: dt.datetime | None) -> bool:
    return not (keep_awake_until is not None and keep_awake_until > now) and now < deadline


# --- the roster -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RosterDiff:
    create_admins: list[str] = field(default_factory=list)  # also: promote existing users to admin
    create_users: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)  # on the hub, to remove
    forget: list[str] = field(default_factory=list)  # removed from the roster, not on the hub any more


def roster_diff(
    wanted: Mapping[str, bool], removing: Collection[str], on_hub: Mapping[str, bool]
) -> RosterDiff:
    """What the hub must do so its users are the roster's: ``wanted`` is the roster (name -> admin),
    ``removing`` the names being removed from it, ``on_hub`` the hub's users (name -> admin)."""
    diff = RosterDiff()
    for name in sorted({*wanted, *removing}):
        if name in removing:
            (diff.remove if name in on_hub else diff.forget).append(name)
        elif wanted[name] and not on_hub.get(name, False):
            diff.create_admins.append(name)
        elif not wanted[name] and name not in on_hub:
            diff.create_users.append(name)
    return diff


def chunks(names: list[str], size: int) -> list[list[str]]:
    return [names[i : i + size] for i in range(0, len(names), size)]
