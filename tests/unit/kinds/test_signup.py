"""The sign-up door's operations on the in-memory twins: opening sends a hash of the code (never the
code), a code is generated or kept, walk-ins reach the roster once each and are removed like any user,
a stopped hub defers the door to the reconcile (after the users), and the door's closing time reads
the walk-ins. Times are derived from the world's clock."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hubagent import rules
from workshop_hub.errors import InvalidRequest

from tests.support.twin_world import TwinWorld, twin_world


def later(world: TwinWorld, **delta: float) -> str:
    return (world.time.now_ + dt.timedelta(**delta)).isoformat()


def test_open_sends_the_codes_hash_and_schedules_the_close() -> None:
    with twin_world() as world:
        until = later(world, hours=2)
        op = world.submit("signup", {"open": True, "until": until, "code": "HJ7K-M3PX"})
        assert op.state == "succeeded", op.error
        assert rules.code_matches("hj7km3px", world.hub.door["code_hash"])
        sent = json.dumps(world.hub.calls)
        assert "HJ7K-M3PX" not in sent and "HJ7KM3PX" not in sent
        (close,) = [p for at, tz, p in world.schedules.created.values() if p["action"] == "signup-close"]
        assert close["until"] == op.params["until"]
        status = world.plane.status()["signup"]
        assert status["open"] and status["code"] == "HJ7K-M3PX" and status["url"].endswith("/hub/signup")


def test_a_code_is_generated_when_none_is_given_then_kept() -> None:
    with twin_world() as world:
        first = world.submit("signup", {"open": True, "until": later(world, hours=1)})
        code = first.params["code"]
        assert len(code) == 9 and set(code.replace("-", "")) <= set(rules.CODE_ALPHABET)
        again = world.submit("signup", {"open": True, "until": later(world, hours=3)})
        assert again.params["code"] == code


@pytest.mark.parametrize(
    ("params", "field", "rule"),
    [
        ({"open": True}, "until", "is required"),
        ({"open": True, "until": "2020-01-01T00:00:00+00:00"}, "until", "in the past"),
        ({"open": True, "until": "+2h"}, "until", "ISO 8601"),
        ({"open": True, "until": None, "code": "a b"}, "code", "not a valid workshop code"),
        ({"open": False, "code": "HJ7K-M3PX"}, "code", 'cannot go with "open": false'),
        ({"open": "yes"}, "open", "true or false"),
    ],
)
def test_bad_input_names_the_field_and_records_nothing(
    params: dict[str, object], field: str, rule: str
) -> None:
    with twin_world() as world:
        with pytest.raises(InvalidRequest) as raised:
            world.submit("signup", params)
        problems = [raised.value, *raised.value.more]
        assert any(p.field == field and rule in p.rule for p in problems), [str(p) for p in problems]
        assert world.stores.operations.recent() == [] and world.hub.calls == []


def test_walk_ins_reach_the_roster_once_and_leave_like_anyone() -> None:
    with twin_world() as world:
        world.submit("signup", {"open": True, "until": later(world, hours=2), "code": "HJ7K-M3PX"})
        names = ["walk-a", "walk-b", "walk-c"]
        for name in names:
            world.hub.walk_in(name, later(world, minutes=1))
        listed = world.plane.roster_now()  # GET /users while the door is open reads the spool
        walk_ins = [u for u in listed["users"] if u.get("source") == "walk-in"]
        assert [u["username"] for u in walk_ins] == names and all(u["on_hub"] for u in walk_ins)
        assert walk_ins[0]["added_at"] == world.hub.spool[0][1]
        world.plane.roster_now()
        assert len(world.stores.roster.entries()) == 3  # read once
        op = world.submit("users-remove", {"username": "walk-b"})
        assert op.state == "succeeded", op.error
        assert "walk-b" not in world.hub.users
        world.submit("users-add", {"usernames": ["ada"]})  # another sync reads the spool again
        assert {e.username for e in world.stores.roster.entries()} == {"walk-a", "walk-c", "ada"}


def test_a_stopped_hub_defers_the_door_to_the_reconcile_after_the_users() -> None:
    with twin_world() as world:
        world.machine.state = "stopped"
        world.submit("users-add", {"usernames": ["ada"]})
        op = world.submit("signup", {"open": True, "until": later(world, hours=2), "code": "HJ7K-M3PX"})
        assert op.state == "succeeded" and op.result["deferred"] is True
        assert "signup" in world.stores.desired.get().pending and world.hub.door == {}
        world.machine.state = "running"
        reconcile = world.submit("reconcile", {})
        assert reconcile.state == "succeeded", reconcile.error
        order = [action for action, _ in world.hub.calls]
        assert order.index("users-add") < order.index("signup-open")
        assert world.hub.door and world.stores.desired.get().pending == set()


def test_the_closing_time_reads_the_walk_ins_and_ends_the_door() -> None:
    with twin_world() as world:
        until = later(world, minutes=30)
        world.submit("signup", {"open": True, "until": until, "code": "HJ7K-M3PX"})
        world.hub.walk_in("walk-late", later(world, minutes=29))
        world.time.now_ += dt.timedelta(minutes=31)
        op = world.scheduled("signup-close", {"until": until, "scheduled_time": world.time.now_.isoformat()})
        assert op.state == "succeeded", op.error
        assert world.hub.door == {}
        assert world.stores.roster.find(["walk-late"])["walk-late"].source == "walk-in"
        assert world.stores.desired.get().signup_until is None
        assert world.plane.status()["signup"]["open"] is False


def test_a_door_opened_again_outlives_the_earlier_closing_time() -> None:
    with twin_world() as world:
        first = later(world, minutes=30)
        world.submit("signup", {"open": True, "until": first, "code": "HJ7K-M3PX"})
        world.submit("signup", {"open": True, "until": later(world, hours=3)})
        world.time.now_ += dt.timedelta(minutes=31)
        op = world.scheduled("signup-close", {"until": first, "scheduled_time": world.time.now_.isoformat()})
        assert op.state == "succeeded" and op.result == {"open": True}
        assert world.hub.door


def test_close_now() -> None:
    with twin_world() as world:
        world.submit("signup", {"open": True, "until": later(world, hours=2), "code": "HJ7K-M3PX"})
        world.hub.walk_in("walk-z", later(world, minutes=1))
        op = world.submit("signup", {"open": False})
        assert op.state == "succeeded", op.error
        assert world.hub.door == {} and "walk-z" in world.stores.roster.find(["walk-z"])
        assert world.plane.status()["signup"]["open"] is False


def test_a_session_with_signup_opens_the_door_until_its_end() -> None:
    with twin_world() as world:
        end = later(world, hours=4)
        op = world.scheduled("session-signup", {"until": end, "scheduled_time": world.time.now_.isoformat()})
        assert op.state == "succeeded", op.error
        assert world.hub.door["until"] == op.params["until"] and op.params["code"]
