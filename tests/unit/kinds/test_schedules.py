"""keep-awake, the night stop and the reconcile on the in-memory twins."""

from __future__ import annotations

import datetime as dt

from workshop_hub.times import iso

from tests.support.twin_world import twin_world


def test_the_night_stop_stops_a_hub_nobody_uses() -> None:
    with twin_world() as world:
        op = world.scheduled("night-stop", {"action": "night-stop", "scheduled_time": iso(world.time.now())})
        assert op.state == "succeeded" and op.result == {"stopped": True}
        assert world.machine.state == "stopped"


def test_the_night_stop_postpones_while_participants_are_active() -> None:
    with twin_world() as world:
        world.hub.active_users = ["alice"]
        fired = world.time.now()
        op = world.scheduled("night-stop", {"action": "night-stop", "scheduled_time": iso(fired)})
        assert (
            op.state == "succeeded"
            and op.result["stopped"] is False
            and op.result["active_users"] == ["alice"]
        )
        [(name, (at, _, payload))] = world.schedules.created.items()
        assert name.startswith("postponed-stop-") and payload["action"] == "postponed-stop"
        assert at - fired >= dt.timedelta(minutes=29) and world.machine.state == "running"


def test_keep_awake_moves_the_stop_that_waits_for_it() -> None:
    with twin_world() as world:
        until = world.time.now() + dt.timedelta(hours=3)
        keep = world.submit("keep-awake", {"until": until.isoformat()})
        assert keep.state == "succeeded" and keep.params == {"until": iso(until)}
        night = world.scheduled(
            "night-stop", {"action": "night-stop", "scheduled_time": iso(world.time.now())}
        )
        assert night.result["reason"] == "keep-awake" and world.machine.state == "running"
        assert world.submit("keep-awake", {"off": True}).state == "succeeded"
        [(at, _, payload)] = world.schedules.created.values()
        assert at - world.time.now() <= dt.timedelta(minutes=1) and payload["action"] == "postponed-stop"
        assert world.stores.desired.get().keep_awake_until is None


def test_a_reconcile_applies_workshop_yaml_and_clears_what_was_pending() -> None:
    with twin_world() as world:
        world.stores.desired.defer("packages")
        op = world.submit("reconcile", {})
        assert op.state == "succeeded", op.error
        assert world.hub.packages["pip"] == {"nbgitpuller", "pandas>=2.2"}
        assert "workshopdata" in world.hub.data and world.stores.desired.get().pending == set()


def test_a_resize_for_now_ends_with_the_night_stop() -> None:
    """The next start pays for the everyday size: the night stop sets it back once the hub is stopped."""
    with twin_world() as world:
        assert world.submit("resize", {"instance_type": "t3.xlarge"}).state == "succeeded"
        assert world.machine.instance_type == "t3.xlarge"
        op = world.scheduled("night-stop", {"action": "night-stop", "scheduled_time": iso(world.time.now())})
        assert op.state == "succeeded", op.error
        assert op.result == {"stopped": True, "instance_type": "t3.medium", "was": "t3.xlarge"}
        assert (world.machine.state, world.machine.instance_type) == ("stopped", "t3.medium")
        assert "back to the everyday size t3.medium (the resize for today ends)" in world.steps(op)
        world.submit("start", {})
        assert world.machine.instance_type == "t3.medium"


def test_the_everyday_size_is_the_one_asked_for_and_a_stopped_hub_is_set_back_too() -> None:
    with twin_world() as world:
        world.submit("resize", {"instance_type": "t3.large", "everyday": True})
        world.submit("resize", {"instance_type": "t3.xlarge"})
        world.submit("stop", {"force": True})  # stopped by hand in the afternoon, still the big type
        assert (world.machine.state, world.machine.instance_type) == ("stopped", "t3.xlarge")
        op = world.scheduled("night-stop", {"action": "night-stop", "scheduled_time": iso(world.time.now())})
        assert op.result == {"stopped": True, "instance_type": "t3.large", "was": "t3.xlarge"}
        assert world.machine.instance_type == "t3.large"
        again = world.scheduled(
            "night-stop", {"action": "night-stop", "scheduled_time": iso(world.time.now())}
        )
        assert again.result == {"stopped": True}  # nothing to set back
