"""Every operation of the control plane against moto, with a fake hub behind InstanceCommands."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from moto import mock_aws
from workshop_hub.errors import Conflict, InvalidRequest, Refused
from workshop_hub.ports import AgentOffline

from tests.support.hub_world import CallLog, World, build_world, no_capacity_for


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        yield build_world()


@pytest.fixture
def queued_world() -> Iterator[World]:
    """Operations stay queued until the test runs them (the worker has not picked them up)."""
    with mock_aws():
        yield build_world(inline=False)


def test_stop_waits_for_stopped_then_start(world: World) -> None:
    op = world.plane.submit("stop", {"force": True})
    assert op.state == "succeeded", op.error
    assert world.state() == "stopped"
    assert world.step_names(op.id) == ["stop instance", "wait for stopped"]
    assert all(s.ended_at for s in world.plane.operation(op.id).steps)  # type: ignore[union-attr]

    op = world.plane.submit("start", {})
    assert op.state == "succeeded", op.error
    assert world.state() == "running"
    assert world.step_names(op.id) == ["start instance", "wait for running"]


def test_stop_without_force_refuses_while_users_are_active(world: World) -> None:
    world.hub.active_users = ["alice"]
    op = world.plane.submit("stop", {})
    assert op.state == "failed"
    assert "alice" in (op.error or "") and "force" in (op.error or "")
    assert world.state() == "running"


def test_resize_stops_before_it_modifies(world: World) -> None:
    log = CallLog(world.ec2)
    op = world.plane.submit("resize", {"instance_type": "t3.xlarge"})
    assert op.state == "succeeded", op.error
    assert world.instance_type() == "t3.xlarge" and world.state() == "running"

    names = log.names()
    stop, modify, start = (
        names.index(n) for n in ("StopInstances", "ModifyInstanceAttribute", "StartInstances")
    )
    stopped_seen = [
        i
        for i, (name, parsed) in enumerate(log.calls)
        if name == "DescribeInstances"
        and parsed["Reservations"][0]["Instances"][0]["State"]["Name"] == "stopped"
    ]
    assert stop < min(stopped_seen) < modify < start
    assert op.result["from"] == "t3.medium" and op.result["to"] == "t3.xlarge"
    assert "wait for hub health" in world.step_names(op.id)


def test_resize_to_the_same_type_changes_nothing(world: World) -> None:
    log = CallLog(world.ec2)
    op = world.plane.submit("resize", {"instance_type": "t3.medium"})
    assert op.state == "succeeded" and op.result["changed"] is False
    assert "StopInstances" not in log.names() and "ModifyInstanceAttribute" not in log.names()


def test_resize_of_a_stopped_hub_leaves_it_stopped(world: World) -> None:
    world.plane.submit("stop", {"force": True})
    op = world.plane.submit("resize", {"instance_type": "t3.large"})
    assert op.state == "succeeded", op.error
    assert (world.state(), world.instance_type()) == ("stopped", "t3.large")


def test_resize_rolls_back_when_the_new_type_has_no_capacity(world: World) -> None:
    no_capacity_for(world.ec2, world.instance_id, "t3.xlarge")
    op = world.plane.submit("resize", {"instance_type": "t3.xlarge"})
    assert op.state == "failed"
    assert "no t3.xlarge capacity" in (op.error or "") and "runs as t3.medium again" in (op.error or "")
    assert (world.state(), world.instance_type()) == ("running", "t3.medium")
    steps = world.plane.operation(op.id).steps  # type: ignore[union-attr]
    assert [(s.name, s.state) for s in steps][-2:] == [
        ("start instance", "failed"),
        ("roll back to t3.medium", "succeeded"),
    ]


def test_resize_rolls_back_when_the_hub_does_not_come_up(world: World) -> None:
    world.hub.healthy = False
    op = world.plane.submit("resize", {"instance_type": "t3.xlarge"})
    assert op.state == "failed"
    assert "did not become healthy within 600 s" in (op.error or "")
    assert (world.state(), world.instance_type()) == ("running", "t3.medium")
    assert world.time.slept >= 600  # waited the hub's time, on the fake clock


def test_two_operations_at_once_conflict_naming_the_first(queued_world: World) -> None:
    first = queued_world.plane.submit("stop", {"force": True})
    with pytest.raises(Conflict) as raised:
        queued_world.plane.submit("start", {})
    assert raised.value.operation_id == first.id and first.id in str(raised.value)
    queued_world.plane.run(first.id)
    assert queued_world.plane.submit("start", {}).state == "queued"  # the lock was released


def test_a_dead_workers_lock_expires(queued_world: World) -> None:
    first = queued_world.plane.submit("stop", {"force": True})
    queued_world.time.advance(minutes=21)
    second = queued_world.plane.submit("start", {})
    assert second.state == "queued"
    stale = queued_world.plane.operation(first.id)
    assert stale is not None and stale.state == "failed" and "lock expired" in (stale.error or "")


def test_the_same_idempotency_key_returns_the_same_operation(queued_world: World) -> None:
    first = queued_world.plane.submit("users-add", {"usernames": ["alice"]}, idempotency_key="k-1")
    again = queued_world.plane.submit("users-add", {"usernames": ["alice"]}, idempotency_key="k-1")
    assert again.id == first.id
    queued_world.plane.run(first.id)
    assert (
        queued_world.plane.submit("users-add", {"usernames": ["alice"]}, idempotency_key="k-1").id == first.id
    )
    with pytest.raises(
        InvalidRequest, match="Idempotency-Key: 'k-1' was already used for a users-add request"
    ):
        queued_world.plane.submit("start", {}, idempotency_key="k-1")


def test_bad_input_is_refused_and_nothing_is_recorded(world: World) -> None:
    with pytest.raises(InvalidRequest) as raised:
        world.plane.submit("users-add", {"usernames": ["alice", "Bob Smith"]})
    assert raised.value.field == "usernames[1]" and "not a valid hub user name" in raised.value.rule
    assert world.plane.roster() == [] and world.hub.calls == []
    assert world.plane.status()["last_operations"] == []


def test_users_added_while_running_are_created(world: World) -> None:
    op = world.plane.submit("users-add", {"usernames": ["alice", "bob"], "admin": False})
    assert op.state == "succeeded", op.error
    assert world.hub.users == {"alice": False, "bob": False}
    assert op.result["created"] == ["alice", "bob"]
    assert [(u["username"], u["on_hub"]) for u in world.plane.roster()] == [("alice", True), ("bob", True)]


def test_users_deferred_while_stopped_are_created_by_the_reconcile(world: World) -> None:
    world.plane.submit("stop", {"force": True})
    op = world.plane.submit("users-add", {"usernames": ["carol"], "admin": True})
    assert op.state == "succeeded"
    assert world.step_names(op.id) == ["deferred: hub stopped, will be created at next start"]
    assert world.plane.roster()[0]["on_hub"] is False and world.hub.users == {}

    world.plane.submit("start", {})
    reconcile = world.plane.reconcile_on_running()
    assert reconcile is not None and reconcile.state == "succeeded", reconcile.error if reconcile else None
    assert world.hub.users == {"carol": True}
    assert world.plane.roster()[0]["on_hub"] is True


def test_reconcile_twice_changes_nothing_the_second_time(world: World) -> None:
    world.plane.submit("stop", {"force": True})
    world.plane.submit("users-add", {"usernames": ["dave", "erin"]})
    world.plane.submit("users-add", {"usernames": ["instructor2"], "admin": True})
    world.plane.submit("packages", {"packages": ["geopandas==1.0.1"], "manager": "pip"})
    world.plane.submit("start", {})
    first = world.plane.reconcile_on_running()
    assert first is not None and first.state == "succeeded", first.error if first else None
    assert first.result["changed"] is True
    assert world.hub.data == {"workshopdata": ("https://github.com/jupyterhub/nbgitpuller", "main")}
    assert world.hub.packages["pip"] == {"nbgitpuller", "pandas>=2.2", "geopandas==1.0.1"}

    second = world.plane.submit("reconcile", {})
    assert second.state == "succeeded"
    assert second.result["changed"] is False
    assert not any(r["changed"] for r in second.result["results"].values())
    assert not any(name.startswith("users-add") for name in world.step_names(second.id))


def test_reconcile_during_a_resize_runs_when_the_resize_ends(queued_world: World) -> None:
    resize = queued_world.plane.submit("resize", {"instance_type": "t3.large"})
    assert queued_world.plane.reconcile_on_running() is None  # the resize holds the hub
    queued_world.dispatcher.run = queued_world.plane.run
    queued_world.plane.run(resize.id)
    kinds = [op["kind"] for op in queued_world.plane.status()["last_operations"]]
    assert kinds[:2] == ["reconcile", "resize"]
    assert queued_world.plane.status()["last_operations"][0]["state"] == "succeeded"


def test_users_remove(world: World) -> None:
    world.plane.submit("users-add", {"usernames": ["frank"]})
    op = world.plane.submit("users-remove", {"username": "frank"})
    assert op.state == "succeeded" and op.result["removed"] is True
    assert world.plane.roster() == [] and world.hub.users == {}


def test_users_removed_while_stopped_are_removed_by_the_reconcile(world: World) -> None:
    world.plane.submit("users-add", {"usernames": ["gina"]})
    world.plane.submit("stop", {"force": True})
    op = world.plane.submit("users-remove", {"username": "gina"})
    assert world.step_names(op.id) == ["deferred: hub stopped, will be removed at next start"]
    assert world.plane.roster() == []
    world.plane.submit("start", {})
    world.plane.reconcile_on_running()
    assert world.hub.users == {}


def test_data_sync_keeps_hubagents_result(world: World) -> None:
    op = world.plane.submit(
        "data-sync", {"name": "extra", "repo": "https://example.org/extra.git", "ref": "v1"}
    )
    assert op.state == "succeeded"
    assert op.result["changed"] is True and op.result["path"] == "/srv/data/extra"
    again = world.plane.submit("data-sync", {"name": "extra"})  # the recorded repo is reused
    assert again.params["repo"] == "https://example.org/extra.git" and again.result["changed"] is False
    with pytest.raises(InvalidRequest, match="repo: is required"):
        world.plane.submit("data-sync", {"name": "unknown"})


def test_packages(world: World) -> None:
    op = world.plane.submit("packages", {"packages": ["xarray>=2024.1"], "manager": "conda"})
    assert op.state == "succeeded" and op.result["installed"] == ["xarray>=2024.1"]


def test_a_failing_command_keeps_its_result(world: World) -> None:
    world.hub.fail["packages-install"] = "pip: No matching distribution found for nosuchpkg"
    op = world.plane.submit("packages", {"packages": ["nosuchpkg"]})
    assert op.state == "failed" and "No matching distribution" in (op.error or "")
    assert op.result["agent"]["ok"] is False


def test_a_command_that_times_out(world: World) -> None:
    world.hub.hang.add("data-sync")
    op = world.plane.submit("data-sync", {"name": "workshopdata"})
    assert op.state == "failed" and "did not finish within" in (op.error or "")
    assert world.plane.submit("start", {}).state == "succeeded"  # the lock was released


def test_the_agent_offline(world: World) -> None:
    def offline(action: str, params: object, timeout_s: int = 600) -> dict[str, object]:
        raise AgentOffline("the SSM agent on the instance is not online yet")

    world.hub.run = offline  # type: ignore[method-assign]
    op = world.plane.submit("users-add", {"usernames": ["hank"]})
    assert op.state == "failed"
    assert "offline" in (op.error or "") and "recorded" in (op.error or "")
    assert world.plane.roster()[0]["username"] == "hank"  # nothing lost


def test_keep_awake_is_recorded_at_once(world: World) -> None:
    until = (world.time.now() + dt.timedelta(hours=5)).isoformat()
    op = world.plane.submit("keep-awake", {"until": until})
    assert op.state == "succeeded"
    assert world.plane.status()["keep_awake_until"] == op.params["until"]
    with pytest.raises(InvalidRequest, match=r"until: .* must say its time zone"):
        world.plane.submit("keep-awake", {"until": "2026-12-03T23:00"})


def test_grow_snapshots_modifies_and_grows_the_filesystem(world: World) -> None:
    log = CallLog(world.ec2)
    op = world.plane.submit("grow", {"size_gib": 40})
    assert op.state == "succeeded", op.error
    assert world.volume_size() == 40
    assert op.result["old_gib"] == 30 and op.result["new_gib"] == 40
    assert op.result["filesystem"]["after_gib"] == 40
    names = log.names()
    assert names.index("CreateSnapshot") < names.index("ModifyVolume")
    snapshot = world.ec2.describe_snapshots(SnapshotIds=[op.result["snapshot_id"]])["Snapshots"][0]
    tags = {t["Key"]: t["Value"] for t in snapshot["Tags"]}
    assert tags == {"workshop-hub:hub": "workshop-hub", "workshop-hub:reason": "pre-grow"}


def test_grow_only_larger(world: World) -> None:
    with pytest.raises(InvalidRequest, match="size_gib: 30 must be larger than the volume's current 30 GiB"):
        world.plane.submit("grow", {"size_gib": 30})
    with pytest.raises(InvalidRequest, match="up to 16384"):
        world.plane.submit("grow", {"size_gib": 20000})


def test_grow_refused_in_the_six_hour_window_with_the_time_it_becomes_possible(world: World) -> None:
    assert world.plane.submit("grow", {"size_gib": 40}).state == "succeeded"
    with pytest.raises(Refused) as raised:
        world.plane.submit("grow", {"size_gib": 50})
    modified = world.plane.hub.volume().last_modified
    assert modified is not None and raised.value.possible_at == modified + dt.timedelta(hours=6)
    assert "EBS allows the next change from" in str(raised.value)
    world.time.advance(hours=6, minutes=1)
    assert world.plane.submit("grow", {"size_gib": 50}).state == "succeeded"
    assert world.volume_size() == 50


def test_grow_while_stopped_defers_the_filesystem(world: World) -> None:
    world.plane.submit("stop", {"force": True})
    op = world.plane.submit("grow", {"size_gib": 35})
    assert op.state == "succeeded" and world.volume_size() == 35
    assert world.step_names(op.id)[-1] == "deferred: hub stopped, will be grown at next start"
    world.plane.submit("start", {})
    world.plane.reconcile_on_running()
    assert world.hub.disk_gib == 35


def test_status(world: World) -> None:
    world.plane.submit("users-add", {"usernames": ["ivy"]})
    status = world.plane.status()
    assert status["instance"]["state"] == "running" and status["instance"]["type"] == "t3.medium"
    assert status["volume_gib"] == 30 and status["hub_health"]["hub_ok"] is True
    assert status["schedule"]["timezone"] == "Europe/Berlin"
    assert [op["kind"] for op in status["last_operations"]] == ["users-add"]
    assert status["operation_in_progress"] is None


def test_an_operation_stops_between_steps_when_the_workers_time_runs_out(queued_world: World) -> None:
    world = queued_world
    world.plane.submit("stop", {"force": True})
    world.plane.run(world.plane.store.lock_holder() or "")
    world.plane.submit("start", {})
    world.plane.run(world.plane.store.lock_holder() or "")
    world.plane.store.set_desired(reconcile_pending=False)
    reconcile = world.plane.submit("reconcile", {})
    budget = iter([600.0, 500.0, 400.0, 300.0, 200.0, 100.0, 30.0, 20.0, 10.0, 5.0])

    done = world.plane.run(reconcile.id, time_left=lambda: next(budget, 1.0))

    assert done is not None and done.state == "failed"
    assert "too little to start" in (done.error or "") and "run the operation again" in (done.error or "")
    assert world.plane.store.lock_holder() is None  # nothing holds the hub afterwards
    assert all(step.state in ("succeeded", "failed") for step in done.steps)
    again = world.plane.submit("reconcile", {})
    assert world.plane.run(again.id, time_left=lambda: 900.0).state == "succeeded"  # type: ignore[union-attr]


def test_a_resize_keeps_time_to_roll_back(queued_world: World) -> None:
    queued = queued_world
    queued.hub.healthy = False
    op = queued.plane.submit("resize", {"instance_type": "t3.xlarge"})
    start = queued.time.now_

    def time_left() -> float:
        return 500.0 - (queued.time.now_ - start).total_seconds()

    done = queued.plane.run(op.id, time_left=time_left)

    assert done is not None and done.state == "failed"
    assert "did not become healthy within 260 s" in (done.error or "")  # 500 s less the rollback's 240
    assert "rolled back" in (done.error or "")
    assert (queued.state(), queued.instance_type()) == ("running", "t3.medium")
