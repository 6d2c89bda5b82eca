"""Every operation of the control plane against moto, with a fake hub behind InstanceCommands."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from moto import mock_aws
from workshop_hub.errors import InvalidRequest, Refused
from workshop_hub.operations import Operation
from workshop_hub.ports import AgentOffline
from workshop_hub.times import iso

from tests.support.hub_world import CallLog, World, build_world, no_capacity_for


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        world_ = build_world()
        yield world_
        world_.close()


@pytest.fixture
def queued_world() -> Iterator[World]:
    """Operations stay queued until the test runs them (the worker has not picked them up)."""
    with mock_aws():
        world_ = build_world(inline=False)
        yield world_
        world_.close()


def test_stop_waits_for_stopped_then_start(world: World) -> None:
    op = world.plane.submit("stop", {"force": True})
    assert op.state == "succeeded", op.error
    assert world.state() == "stopped"
    assert world.step_names(op.id) == ["stop instance", "wait for stopped"]
    assert all(s.ended_at for s in world.plane.operation(op.id).steps)

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
    steps = [(s.name, s.state) for s in world.plane.operation(op.id).steps]
    assert ("start instance", "failed") in steps
    assert steps[-1] == ("roll back: wait for hub health", "succeeded")
    assert op.result["hub_now"] == {"state": "running", "type": "t3.medium", "healthy": True}


def test_resize_says_when_the_rollback_cannot_make_the_hub_healthy_either(world: World) -> None:
    world.hub.healthy = False
    op = world.plane.submit("resize", {"instance_type": "t3.xlarge"})
    assert op.state == "failed"
    error = op.error or ""
    assert "did not become healthy within 600 s" in error and "rolling back to t3.medium failed too" in error
    assert "the hub is now running as t3.medium" in error
    assert (world.state(), world.instance_type()) == ("running", "t3.medium")
    assert op.result["hub_now"] == {"state": "running", "type": "t3.medium", "healthy": False}


def test_operations_asked_for_at_once_run_one_after_the_other_in_order(queued_world: World) -> None:
    first = queued_world.plane.submit("stop", {"force": True})
    second = queued_world.plane.submit("start", {})
    assert (first.state, second.state) == ("queued", "queued")  # both accepted: no 409
    done = [queued_world.wait(first.id), queued_world.wait(second.id)]
    assert [op.state for op in done] == ["succeeded", "succeeded"]
    assert done[0].ended_at and done[1].started_at
    assert done[0].ended_at <= done[1].steps[-1].started_at  # the start's work began after the stop ended
    assert queued_world.state() == "running"


def test_an_execution_that_ended_holding_the_lease_is_found_and_its_lease_freed(queued_world: World) -> None:
    world = queued_world
    stores = world.services.stores
    dead = Operation(
        id="op-20260101T000000000-dead00", kind="resize", params={}, created_at=iso(world.time.now())
    )
    dead.state = "running"
    stores.operations.save(dead)
    assert stores.lease.take(dead.id, "resize")  # its execution never existed: as if it timed out
    world.time.advance(minutes=11)
    op = world.wait(world.plane.submit("stop", {"force": True}).id)
    assert op.state == "succeeded", op.error
    stale = world.plane.operation(dead.id)
    assert stale is not None and stale.state == "failed"
    assert "no execution of it was found" in (stale.error or "") and op.id in (stale.error or "")
    assert stores.lease.holder() is None


def test_the_same_idempotency_key_returns_the_same_operation(queued_world: World) -> None:
    first = queued_world.plane.submit("users-add", {"usernames": ["alice"]}, idempotency_key="k-1")
    again = queued_world.plane.submit("users-add", {"usernames": ["alice"]}, idempotency_key="k-1")
    assert again.id == first.id
    queued_world.wait(first.id)
    assert (
        queued_world.plane.submit("users-add", {"usernames": ["alice"]}, idempotency_key="k-1").id == first.id
    )
    with pytest.raises(
        InvalidRequest, match="Idempotency-Key: 'k-1' was already used for a users-add request"
    ):
        queued_world.plane.submit("start", {}, idempotency_key="k-1")


def test_a_failed_request_releases_its_idempotency_key(world: World) -> None:
    with pytest.raises(InvalidRequest):
        world.plane.submit("users-remove", {"username": "nobody"}, idempotency_key="k-2")
    assert world.services.stores.keys.lookup("k-2") is None
    world.plane.submit("users-add", {"usernames": ["nobody"]})
    assert (
        world.plane.submit("users-remove", {"username": "nobody"}, idempotency_key="k-2").state == "succeeded"
    )


def test_bad_input_is_refused_and_nothing_is_recorded(world: World) -> None:
    with pytest.raises(InvalidRequest) as raised:
        world.plane.submit("users-add", {"usernames": ["alice", "Bob Smith"]})
    assert raised.value.field == "usernames[1]" and "not a valid hub user name" in raised.value.rule
    assert world.plane.roster() == [] and world.hub.calls == []
    assert world.plane.status()["last_operations"] == []


def test_users_added_while_running_are_created(world: World) -> None:
    op = world.plane.submit("users-add", {"usernames": ["alice", "bob"], "admin": False})
    assert op.kind == "roster-sync" and op.state == "succeeded", op.error
    assert world.hub.users == {"alice": False, "bob": False}
    assert op.result["created"] == ["alice", "bob"]
    assert [(u["username"], u["on_hub"]) for u in world.plane.roster()] == [("alice", True), ("bob", True)]


def test_users_deferred_while_stopped_are_created_by_the_reconcile(world: World) -> None:
    world.plane.submit("stop", {"force": True})
    op = world.plane.submit("users-add", {"usernames": ["carol"], "admin": True})
    assert op.state == "succeeded" and op.result["deferred"] is True
    assert world.step_names(op.id) == [
        "deferred: the hub is not running; the reconcile at the next start creates the users"
    ]
    assert world.plane.roster()[0]["on_hub"] is False and world.hub.users == {}
    assert world.plane.status()["pending"] == ["users"]

    world.plane.submit("start", {})
    reconcile = world.wait(world.plane.reconcile_on_running().id)
    assert reconcile.state == "succeeded", reconcile.error
    assert world.hub.users == {"carol": True}
    assert world.plane.roster()[0]["on_hub"] is True
    assert world.plane.status()["pending"] == []


def test_reconcile_twice_changes_nothing_the_second_time(world: World) -> None:
    world.plane.submit("stop", {"force": True})
    world.plane.submit("users-add", {"usernames": ["dave", "erin"]})
    world.plane.submit("users-add", {"usernames": ["instructor2"], "admin": True})
    world.plane.submit("packages", {"packages": ["geopandas==1.0.1"], "manager": "pip"})
    world.plane.submit("start", {})
    first = world.wait(world.plane.reconcile_on_running().id)
    assert first.state == "succeeded", first.error
    assert first.result["changed"] is True
    assert world.hub.data == {"workshopdata": ("https://github.com/jupyterhub/nbgitpuller", "main")}
    assert world.hub.packages["pip"] == {"nbgitpuller", "pandas>=2.2", "geopandas==1.0.1"}
    assert world.hub.users == {"dave": False, "erin": False, "instructor2": True}

    second = world.plane.submit("reconcile", {})
    assert second.state == "succeeded"
    assert second.result["changed"] is False
    assert not any(r["changed"] for r in second.result["results"].values())
    assert not any(name.startswith("users-add") for name in world.step_names(second.id))


def test_reconcile_during_a_resize_runs_when_the_resize_ends(queued_world: World) -> None:
    resize = queued_world.plane.submit("resize", {"instance_type": "t3.large"})
    reconcile = queued_world.plane.reconcile_on_running()  # queued behind the resize
    assert reconcile.state == "queued" and reconcile.id != resize.id
    assert queued_world.plane.reconcile_on_running().id == reconcile.id  # one waiting reconcile covers both
    assert queued_world.wait(resize.id).state == "succeeded"
    assert queued_world.wait(reconcile.id).state == "succeeded"
    kinds = [op["kind"] for op in queued_world.plane.status()["last_operations"]]
    assert kinds[:2] == ["reconcile", "resize"]


def test_users_remove(world: World) -> None:
    world.plane.submit("users-add", {"usernames": ["frank"]})
    op = world.plane.submit("users-remove", {"username": "frank"})
    assert op.state == "succeeded" and op.result["removed"] == ["frank"]
    assert world.plane.roster() == [] and world.hub.users == {}
    with pytest.raises(InvalidRequest, match="username: 'frank' is not on the roster"):
        world.plane.submit("users-remove", {"username": "frank"})


def test_users_removed_while_stopped_are_removed_by_the_reconcile(world: World) -> None:
    world.plane.submit("users-add", {"usernames": ["gina"]})
    world.plane.submit("stop", {"force": True})
    op = world.plane.submit("users-remove", {"username": "gina"})
    assert op.result["deferred"] is True
    assert world.plane.roster() == []
    world.plane.submit("start", {})
    world.wait(world.plane.reconcile_on_running().id)
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
    assert "not online" in (op.error or "")
    assert world.plane.roster()[0]["username"] == "hank"  # nothing lost:
    assert world.plane.status()["pending"] == ["users"]  # the next reconcile creates hank


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


def test_grow_refused_while_the_previous_modification_is_not_completed(world: World) -> None:
    assert world.strict is not None
    world.strict.hold_volume_modification("optimizing")  # EC2 still optimizing the first change
    assert world.plane.submit("grow", {"size_gib": 40}).state == "succeeded"
    snapshots = len(world.ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"])
    with pytest.raises(Refused, match="optimizing"):
        world.plane.submit("grow", {"size_gib": 50})
    assert world.volume_size() == 40
    assert len(world.ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]) == snapshots  # none taken
    world.strict.hold_volume_modification(None)
    assert world.plane.submit("grow", {"size_gib": 50}).state == "succeeded"
    assert world.volume_size() == 50


def test_a_fifth_grow_in_24_hours_is_refused_with_the_time_it_becomes_possible(world: World) -> None:
    for size in (31, 32, 33, 34):
        assert world.plane.submit("grow", {"size_gib": size}).state == "succeeded"
    with pytest.raises(Refused) as raised:
        world.plane.submit("grow", {"size_gib": 35})
    assert raised.value.possible_at is not None and "24 hours" in str(raised.value)
    assert world.volume_size() == 34


def test_grow_while_stopped_defers_the_filesystem(world: World) -> None:
    world.plane.submit("stop", {"force": True})
    op = world.plane.submit("grow", {"size_gib": 35})
    assert op.state == "succeeded" and world.volume_size() == 35
    assert world.step_names(op.id)[-1] == "deferred: hub stopped; applied by the reconcile at the next start"
    assert world.plane.status()["pending"] == ["filesystem"]
    world.plane.submit("start", {})
    world.wait(world.plane.reconcile_on_running().id)
    assert world.hub.disk_gib == 35


def test_status(world: World) -> None:
    world.plane.submit("users-add", {"usernames": ["ivy"]})
    status = world.plane.status()
    assert status["instance"]["state"] == "running" and status["instance"]["type"] == "t3.medium"
    assert status["volume_gib"] == 30 and status["hub_health"]["hub_ok"] is True
    assert status["schedule"]["timezone"] == "Europe/Berlin"
    assert [op["kind"] for op in status["last_operations"]] == ["roster-sync"]
    assert status["operation_in_progress"] is None and status["running"] == [] and status["waiting"] == []


# --- initial passwords ----------------------------------------------------------------------------


def _hashes(*names: str) -> dict[str, str]:
    import bcrypt

    return {n: bcrypt.hashpw(f"{n}-Passw0rd".encode(), bcrypt.gensalt(rounds=4)).decode() for n in names}


def _credentials(hashes: dict[str, str], reset: bool = False) -> dict[str, object]:
    return {"credentials": [{"username": n, "hash": h} for n, h in hashes.items()], "reset": reset}


def _hash_items(world: World) -> list[dict[str, object]]:
    items = world.dynamodb.scan(TableName=world.settings.table_name)["Items"]
    return [i for i in items if i["pk"]["S"] == "passwords"]


def _no_hash_anywhere(world: World, op: Operation) -> None:
    import json

    record = json.dumps(world.plane.operation(op.id).to_dict())
    assert "$2b$" not in record, record
    assert "$2b$" not in world.checkpoints(op.id)
    assert _hash_items(world) == []  # forgotten in the last step


def test_initial_password_hashes_are_stored_on_the_hub_and_kept_nowhere(world: World) -> None:
    assert world.plane.submit("users-add", {"usernames": ["ada", "bob"]}).state == "succeeded"
    world.hub.passwords["bob"] = "bob-chose-one"
    hashes = _hashes("ada", "bob")
    op = world.plane.submit("users-set-passwords", _credentials(hashes))
    assert op.state == "succeeded", op.error
    assert op.kind == "users-set-passwords" and op.params == {"usernames": ["ada", "bob"], "reset": False}
    assert op.result == {"set": ["ada"], "kept": ["bob"], "changed": True}
    assert world.hub.passwords == {"ada": hashes["ada"], "bob": "bob-chose-one"}
    assert world.step_names(op.id) == [
        "wait until the users are on the hub",
        "users-set-passwords (2)",
        "forget the password hashes",
    ]
    _no_hash_anywhere(world, op)

    again = world.plane.submit("users-set-passwords", _credentials(hashes, reset=True))
    assert again.state == "succeeded" and again.result["set"] == ["ada", "bob"]
    assert world.hub.passwords["bob"] == hashes["bob"]
    assert world.hub.calls[-1] == (
        "users-set-passwords",
        {"Credentials": f"ada:{hashes['ada']} bob:{hashes['bob']}", "Reset": "true"},
    )
    _no_hash_anywhere(world, again)


def test_initial_passwords_refuse_a_hub_that_is_not_running(world: World) -> None:
    assert world.plane.submit("users-add", {"usernames": ["ada"]}).state == "succeeded"
    assert world.plane.submit("stop", {"force": True}).state == "succeeded"
    world.hub.calls.clear()
    op = world.plane.submit("users-set-passwords", _credentials(_hashes("ada")))
    assert op.state == "failed"
    assert "the hub is stopped" in (op.error or "") and "no password was set" in (op.error or "")
    assert world.hub.calls == [] and world.hub.passwords == {}
    assert world.step_names(op.id) == ["forget the password hashes"]
    _no_hash_anywhere(world, op)


def test_initial_passwords_wait_for_their_users_then_give_up(world: World) -> None:
    from workshop_hub.stores import RosterEntry

    # on the roster, never created on the hub (as while a roster sync is still to come)
    world.services.stores.roster.put([RosterEntry("zoe", admin=False, on_hub=False, added_at="x")])
    op = world.plane.submit("users-set-passwords", _credentials(_hashes("zoe")))
    assert op.state == "failed"
    assert "not all on the hub within 300 s" in (op.error or "") and "zoe" in (op.error or "")
    assert world.hub.passwords == {}
    assert not any(action == "users-set-passwords" for action, _ in world.hub.calls)
    _no_hash_anywhere(world, op)


def test_the_agent_refusing_leaves_no_hash_behind(world: World) -> None:
    assert world.plane.submit("users-add", {"usernames": ["ada"]}).state == "succeeded"
    world.hub.users.pop("ada")  # gone from the hub behind the roster's back
    op = world.plane.submit("users-set-passwords", _credentials(_hashes("ada")))
    assert op.state == "failed" and "not users on the hub: ada" in (op.error or "")
    assert op.result["agent"]["missing"] == ["ada"]
    _no_hash_anywhere(world, op)


def test_initial_passwords_for_names_not_on_the_roster_record_nothing(world: World) -> None:
    assert world.plane.submit("users-add", {"usernames": ["ada"]}).state == "succeeded"
    before = world.plane.operations(100)
    with pytest.raises(InvalidRequest, match=r"credentials\[1\].username: 'eve' is not on the roster"):
        world.plane.submit("users-set-passwords", _credentials(_hashes("ada", "eve")))
    assert len(world.plane.operations(100)) == len(before) and _hash_items(world) == []
