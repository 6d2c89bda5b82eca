"""start, morning-start and stop on the in-memory twins."""

from __future__ import annotations

from tests.support.twin_world import twin_world


def test_stop_then_start() -> None:
    with twin_world() as world:
        stop = world.submit("stop", {"force": True})
        assert stop.state == "succeeded", stop.error
        assert world.machine.state == "stopped" and world.steps(stop) == ["stop instance", "wait for stopped"]
        start = world.submit("start", {})
        assert start.state == "succeeded", start.error
        assert world.machine.state == "running" and start.result["instance_type"] == "t3.medium"


def test_stop_refuses_while_participants_are_active_unless_forced() -> None:
    with twin_world() as world:
        world.hub.active_users = ["alice"]
        refused = world.submit("stop", {})
        assert (
            refused.state == "failed"
            and "alice" in (refused.error or "")
            and "force" in (refused.error or "")
        )
        assert world.machine.state == "running"
        assert world.submit("stop", {"force": True}).state == "succeeded"


def test_a_start_without_capacity_says_what_to_do() -> None:
    with twin_world() as world:
        world.machine.state = "stopped"
        world.machine.no_capacity.add("t3.medium")
        op = world.submit("start", {})
        assert op.state == "failed"
        assert "cannot start the hub as t3.medium" in (op.error or "") and "resize to another type" in (
            op.error or ""
        )


def test_the_morning_start_is_a_start_keyed_by_its_fire_time() -> None:
    with twin_world() as world:
        world.machine.state = "stopped"
        fired = {"action": "morning-start", "scheduled_time": "2026-12-02T07:00:00Z"}
        first = world.scheduled("morning-start", fired)
        assert first.state == "succeeded" and first.params == {} and world.machine.state == "running"
        assert world.scheduled("morning-start", fired).id == first.id  # a redelivery runs nothing again
