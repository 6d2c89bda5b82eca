"""The control plane's decisions, by tables: no AWS, no clock."""

from __future__ import annotations

import datetime as dt

import pytest
from workshop_hub import decisions
from workshop_hub.decisions import ResizePlan

T = "2026-12-03T10:00:00Z"


@pytest.mark.parametrize(
    ("state", "current", "target", "end", "force", "plan"),
    [
        # change, stop_first, start_after, stop_after, check_activity
        ("running", "t3.medium", "t3.large", "as-before", False, ResizePlan(True, True, True, False, True)),
        ("running", "t3.medium", "t3.large", "as-before", True, ResizePlan(True, True, True, False, False)),
        (
            "stopped",
            "t3.medium",
            "t3.large",
            "as-before",
            False,
            ResizePlan(True, False, False, False, False),
        ),
        ("stopped", "t3.medium", "t3.large", "running", True, ResizePlan(True, False, True, False, False)),
        ("running", "t3.large", "t3.medium", "stopped", True, ResizePlan(True, True, False, False, False)),
        (
            "running",
            "t3.medium",
            "t3.medium",
            "as-before",
            False,
            ResizePlan(False, False, False, False, False),
        ),
        ("stopped", "t3.medium", "t3.medium", "running", True, ResizePlan(False, False, True, False, False)),
        ("running", "t3.medium", "t3.medium", "stopped", True, ResizePlan(False, False, False, True, False)),
    ],
)
def test_plan_resize(state, current, target, end, force, plan):
    assert decisions.plan_resize(state=state, current=current, target=target, end=end, force=force) == plan


BERLIN = dt.timezone(dt.timedelta(hours=1))
NIGHT = dt.datetime(2026, 12, 3, 22, 0, tzinfo=BERLIN)
DEADLINE = dt.datetime(2026, 12, 4, 2, 0, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("now", "keep", "active", "stopped", "action", "at"),
    [
        (NIGHT, None, [], False, "stop", None),
        (NIGHT, None, ["ada"], False, "postpone", NIGHT + dt.timedelta(minutes=30)),
        (DEADLINE - dt.timedelta(minutes=10), None, ["ada"], False, "postpone", DEADLINE),  # never past it
        (DEADLINE, None, ["ada"], False, "stop", None),
        (NIGHT, NIGHT + dt.timedelta(hours=1), None, False, "later", NIGHT + dt.timedelta(hours=1)),
        (NIGHT, NIGHT - dt.timedelta(hours=1), [], False, "stop", None),  # keep-awake already over
        (NIGHT, None, None, True, "skip", None),
    ],
)
def test_night_stop(now, keep, active, stopped, action, at):
    decision = decisions.night_stop(
        now=now,
        deadline=DEADLINE,
        keep_awake_until=keep,
        active=active,
        postpone_minutes=30,
        already_stopped=stopped,
    )
    assert (decision.action, decision.at) == (action, at)


def entry(name, admin=False, removing=False):
    return name, admin, removing


@pytest.mark.parametrize(
    ("roster", "on_hub", "admins", "users", "remove", "forget"),
    [
        ([entry("ada"), entry("bob")], {}, [], ["ada", "bob"], [], []),
        ([entry("ada"), entry("bob")], {"ada": False}, [], ["bob"], [], []),
        ([entry("ada", admin=True)], {"ada": False}, ["ada"], [], [], []),  # promoted
        ([entry("ada")], {"ada": True}, [], [], [], []),  # an admin made on the hub stays
        ([entry("ada", removing=True)], {"ada": False}, [], [], ["ada"], []),
        ([entry("ada", removing=True)], {}, [], [], [], ["ada"]),
        ([], {"stranger": False}, [], [], [], []),  # users made outside the roster are left alone
    ],
)
def test_roster_diff(roster, on_hub, admins, users, remove, forget):
    wanted = {name: admin for name, admin, removing in roster if not removing}
    diff = decisions.roster_diff(wanted, [name for name, _, removing in roster if removing], on_hub)
    assert (diff.create_admins, diff.create_users, diff.remove, diff.forget) == (
        admins,
        users,
        remove,
        forget,
    )


def test_chunks():
    assert decisions.chunks(list("abcde"), 2) == [["a", "b"], ["c", "d"], ["e"]]
