"""resize, session-prepare and session-end on the in-memory twins."""

from __future__ import annotations

from tests.support.twin_world import twin_world


def test_a_resize_stops_changes_the_type_and_starts() -> None:
    with twin_world() as world:
        op = world.submit("resize", {"instance_type": "t3.xlarge"})
        assert op.state == "succeeded", op.error
        assert world.machine.calls == ["stop", "set_instance_type t3.xlarge", "start"]
        assert (world.machine.instance_type, world.machine.state) == ("t3.xlarge", "running")
        assert world.stores.desired.get().instance_type is None  # for now, not the everyday size


def test_an_everyday_resize_is_recorded_before_it_runs() -> None:
    with twin_world() as world:
        op = world.submit("resize", {"instance_type": "t3.large", "everyday": True})
        assert op.params == {"instance_type": "t3.large", "everyday": True}
        assert world.stores.desired.get().instance_type == "t3.large"


def test_no_capacity_for_the_new_type_goes_back_to_the_old_one() -> None:
    with twin_world() as world:
        world.machine.no_capacity.add("t3.2xlarge")
        op = world.submit("resize", {"instance_type": "t3.2xlarge"})
        assert op.state == "failed" and "rolled back: the hub runs as t3.medium again" in (op.error or "")
        assert (world.machine.instance_type, world.machine.state) == ("t3.medium", "running")
        assert op.result["hub_now"] == {"state": "running", "type": "t3.medium", "healthy": True}


def test_a_type_the_zone_lacks_changes_nothing() -> None:
    with twin_world() as world:
        world.machine.not_offered.add("m7i.large")
        op = world.submit("resize", {"instance_type": "m7i.large"})
        assert op.state == "failed" and "nothing was changed" in (op.error or "")
        assert world.machine.calls == []


def test_a_session_prepares_running_and_ends_stopped_at_the_everyday_size() -> None:
    with twin_world() as world:
        world.machine.state = "stopped"
        prepare = world.scheduled(
            "session-prepare", {"action": "session-prepare", "instance_type": "t3.xlarge"}
        )
        assert prepare.state == "succeeded" and prepare.params == {"instance_type": "t3.xlarge"}
        assert (world.machine.instance_type, world.machine.state) == ("t3.xlarge", "running")
        end = world.scheduled("session-end", {"action": "session-end"})
        assert end.state == "succeeded", end.error
        assert (world.machine.instance_type, world.machine.state) == ("t3.medium", "stopped")
