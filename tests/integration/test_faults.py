"""What happens when things fail: each scenario of the README's table "What happens when things fail",
against moto (made as strict as AWS where the scenario needs it) and the fake hub, through the real
worker handler under the durable SDK's local runner."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from moto import mock_aws
from workshop_hub.errors import InvalidRequest
from workshop_hub.operations import Operation
from workshop_hub.ports import AgentFailed
from workshop_hub.times import iso

from tests.support.hub_world import REGION, CallLog, World, build_world


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        built = build_world()
        yield built
        built.close()


def instance_type(world: World) -> str:
    peek = boto3.client("ec2", region_name=REGION)
    return str(
        peek.describe_instances(InstanceIds=[world.instance_id])["Reservations"][0]["Instances"][0][
            "InstanceType"
        ]
    )


def steps(op: Operation) -> list[tuple[str, str]]:
    return [(s.name, s.state) for s in op.steps]


def test_type_change_refused_goes_back_to_the_old_type(world: World) -> None:
    assert world.strict is not None
    world.strict.fail_next(
        "ModifyInstanceAttribute", "Unsupported"
    )  # the change; the rollback's goes through
    op = world.plane.submit("resize", {"instance_type": "t3.xlarge"})
    assert op.state == "failed"
    assert "rolled back: the hub runs as t3.medium again" in (op.error or "")
    assert (world.state(), world.instance_type()) == ("running", "t3.medium")
    assert op.result["hub_now"] == {"state": "running", "type": "t3.medium", "healthy": True}


def test_start_accepted_but_never_running_goes_back(world: World) -> None:
    # StartInstances answers 200 and the instance stays stopped (what AWS does when it cannot place it).
    def accepted_but_stays(params: dict[str, Any], **_: Any) -> Any:
        if instance_type(world) != "t3.xlarge":
            return None
        return type("Ok", (), {"status_code": 200, "headers": {}, "content": b"", "text": ""})(), {
            "StartingInstances": [{"InstanceId": world.instance_id, "CurrentState": {"Name": "pending"}}]
        }

    world.ec2.meta.events.register("before-call.ec2.StartInstances", accepted_but_stays)
    op = world.plane.submit("resize", {"instance_type": "t3.xlarge"})
    assert op.state == "failed"
    assert "went to 'stopped' instead of running" in (op.error or "")
    assert "rolled back" in (op.error or "")
    assert (world.state(), world.instance_type()) == ("running", "t3.medium")


def test_resize_refused_while_participants_are_active_unless_forced(world: World) -> None:
    world.hub.active_users = ["alice"]
    log = CallLog(world.ec2)
    op = world.plane.submit("resize", {"instance_type": "t3.large"})
    assert op.state == "failed" and "alice" in (op.error or "") and "force" in (op.error or "")
    assert "StopInstances" not in log.names()
    forced = world.plane.submit("resize", {"instance_type": "t3.large", "force": True})
    assert forced.state == "succeeded" and world.instance_type() == "t3.large"


def test_a_resize_for_now_is_not_the_everyday_size_but_everyday_is(world: World) -> None:
    world.plane.submit("resize", {"instance_type": "t3.large"})
    end = world.plane.scheduled("session-end", {"action": "session-end"})
    assert end.state == "succeeded" and world.instance_type() == "t3.medium"  # back to hub.instance_type
    world.plane.submit("start", {})
    world.plane.submit("resize", {"instance_type": "t3.large", "everyday": True})
    assert world.plane.status()["everyday_instance_type"] == "t3.large"
    world.plane.submit("resize", {"instance_type": "t3.xlarge"})
    world.plane.scheduled("session-end", {"action": "session-end"})
    assert world.instance_type() == "t3.large"


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("fail", "fatal: repository not found"),
        ("hang", "did not finish within"),
    ],
)
def test_a_command_that_fails_or_times_out_fails_its_operation_and_frees_the_hub(
    world: World, fault: str, expected: str
) -> None:
    if fault == "fail":
        world.hub.fail["data-sync"] = "fatal: repository not found"
    else:
        world.hub.hang.add("data-sync")
    op = world.plane.submit("data-sync", {"name": "workshopdata"})
    assert op.state == "failed" and expected in (op.error or "")
    assert world.services.stores.lease.holder() is None
    assert world.plane.submit("start", {}).state == "succeeded"  # the next operation runs


def test_the_agent_offline_defers_the_work_to_the_next_reconcile(world: World) -> None:
    real = world.hub.run

    def offline(action: str, params: Any, timeout_s: int = 600) -> dict[str, Any]:
        from workshop_hub.ports import AgentOffline

        raise AgentOffline("command undeliverable: the SSM agent is not connected")

    world.hub.run = offline  # type: ignore[method-assign]
    op = world.plane.submit("data-sync", {"name": "workshopdata"})
    assert op.state == "failed" and "offline" in (op.error or "") and "recorded" in (op.error or "")
    assert world.plane.status()["pending"] == ["data:workshopdata"]
    world.hub.run = real  # type: ignore[method-assign]
    assert world.plane.submit("reconcile", {}).state == "succeeded"
    assert world.plane.status()["pending"] == []
    assert "workshopdata" in world.hub.data


def test_a_volume_change_ec2_refuses_after_the_snapshot_is_reported(world: World) -> None:
    assert world.strict is not None
    world.strict.fail_next_modify_volume("IncorrectModificationState")
    op = world.plane.submit("grow", {"size_gib": 40})
    assert op.state == "failed"
    assert "IncorrectModificationState" in (op.error or "") or "modif" in (op.error or "")
    assert world.volume_size() == 30
    assert [name for name, state in steps(op) if state == "succeeded"][-1] == "snapshot before growing"


def test_two_operations_never_hold_the_hub_at_once(world: World) -> None:
    world.plane.inline = False
    lease = world.services.stores.lease
    events: list[tuple[str, str]] = []
    guard = threading.Lock()
    take, release = lease.take, lease.release

    def logged_take(op_id: str, kind: str) -> bool:
        with guard:
            taken = take(op_id, kind)
            if taken and (not events or events[-1] != ("take", op_id)):
                events.append(("take", op_id))
            return taken

    def logged_release(op_id: str) -> bool:
        with guard:
            released = release(op_id)
            if released:
                events.append(("release", op_id))
            return released

    lease.take, lease.release = logged_take, logged_release  # type: ignore[method-assign]
    kinds = [
        ("stop", {"force": True}),
        ("start", {}),
        ("resize", {"instance_type": "t3.large"}),
        ("reconcile", {}),
    ]
    submitted: list[Operation] = []

    def ask(kind: str, params: dict[str, Any]) -> None:
        op = world.plane.submit(kind, params)
        with guard:
            submitted.append(op)

    threads = [threading.Thread(target=ask, args=kind) for kind in kinds * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    waiting = world.plane.status()["waiting"]
    assert all(op["state"] == "queued" for op in waiting)  # waiting for the hub is not running
    finished = [world.wait(op.id) for op in submitted]
    assert len(finished) == 8 and all(op.state in ("succeeded", "failed") for op in finished)
    holders: list[str] = []
    for event, op_id in events:  # take, release, take, release, ... never two takes in a row
        if event == "take":
            assert not holders, f"{op_id} took the hub while {holders} held it"
            holders.append(op_id)
        else:
            assert holders == [op_id]
            holders.clear()
    assert not holders and len([e for e in events if e[0] == "take"]) == 8
    order = [op_id for event, op_id in events if event == "take"]
    assert order == sorted(order), "the hub went to the operations in the order they were asked for"


def test_users_added_while_stopped_survive_a_failed_morning_reconcile_and_its_retry(world: World) -> None:
    world.plane.submit("stop", {"force": True})
    world.plane.submit("users-add", {"usernames": ["ada", "grace"]})
    world.plane.submit("start", {})
    failures = iter([True, True])  # data sync fails twice, then works

    real = world.hub.run

    def flaky(action: str, params: Any, timeout_s: int = 600) -> dict[str, Any]:
        if action == "data-sync" and next(failures, False):
            raise AgentFailed("git: could not resolve host")
        return real(action, params, timeout_s)

    world.hub.run = flaky  # type: ignore[method-assign]
    op = world.wait(world.plane.reconcile_on_running().id)
    assert op.state == "succeeded", op.error
    names = [name for name, _ in steps(op)]
    assert any(n.startswith("1 part(s) failed; trying again in 60 s") for n in names)
    assert any(n.startswith("try 3: data-sync") for n in names)
    assert world.hub.users == {"ada": False, "grace": False}
    assert world.plane.status()["pending"] == []


def test_a_reconcile_that_keeps_failing_fails_loudly_and_keeps_everything_pending(world: World) -> None:
    world.plane.submit("stop", {"force": True})
    world.plane.submit("users-add", {"usernames": ["ada"]})
    world.plane.submit("start", {})
    world.hub.fail["users-add"] = "the hub API answered 503"
    op = world.wait(world.plane.reconcile_on_running().id)
    assert (
        op.state == "failed" and "after 4 tries" in (op.error or "") and "still pending" in (op.error or "")
    )
    assert world.plane.status()["pending"] == ["users"]
    del world.hub.fail["users-add"]
    again = world.plane.submit("reconcile", {})  # POST /reconcile, hubctl reconcile
    assert again.state == "succeeded" and world.hub.users == {"ada": False}
    assert world.plane.status()["pending"] == []


def test_a_step_cut_short_runs_again_and_the_finished_steps_are_not_repeated(world: World) -> None:
    log = CallLog(world.ec2)
    hub = world.services.hub
    real_stop = hub.stop
    crashes = iter([True])

    def crashing_stop() -> None:
        if next(crashes, False):
            raise ConnectionError("the invocation lost its connection to EC2")  # not a domain error
        real_stop()

    hub.stop = crashing_stop  # type: ignore[method-assign]
    op = world.plane.submit("stop", {})
    assert op.state == "succeeded", op.error
    assert [a for a, _ in world.hub.calls].count("activity") == 1  # the activity check ran once
    assert log.names().count("StopInstances") == 1
    assert world.state() == "stopped"


def test_the_same_operation_started_twice_runs_once(world: World) -> None:
    world.plane.inline = False
    op = world.plane.submit("stop", {"force": True})
    world.services.executions.start(op.id)  # a redelivered start
    world.services.executions.start(op.id)
    done = world.wait(op.id)
    assert done.state == "succeeded"
    assert [s.name for s in done.steps].count("stop instance") == 1
    assert len(world.executions.arns) == 1


def test_keep_awake_moves_the_night_stop_to_its_end(world: World) -> None:
    until = world.time.now() + __import__("datetime").timedelta(hours=2)
    world.plane.submit("keep-awake", {"until": iso(until)})
    op = world.plane.scheduled("night-stop", {"action": "night-stop"})
    assert op.state == "succeeded" and op.result["reason"] == "keep-awake"
    [schedule] = world.schedules()
    assert schedule["Name"].startswith("postponed-stop-")
    next_stop = world.plane.status()["next_stop"]
    assert next_stop["why"] == "keep-awake ends" and next_stop["at"].startswith(
        until.astimezone(ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%dT%H:%M")
    )
    assert world.state() == "running"
    later = until + __import__("datetime").timedelta(hours=1)
    world.plane.submit("keep-awake", {"until": iso(later)})  # a new end moves the stop with it
    [moved] = world.schedules()
    assert moved["Name"] != schedule["Name"] and moved["ScheduleExpression"].startswith("at(")
    off = world.plane.submit("keep-awake", {"off": True})  # off: the stop happens in a minute, by the rules
    assert off.state == "succeeded" and world.plane.status()["keep_awake_until"] is None
    [soon] = world.schedules()
    assert soon["Name"] != moved["Name"]
    stop = world.plane.scheduled("postponed-stop", json.loads(soon["Target"]["Input"]))
    assert stop.state == "succeeded" and world.state() == "stopped"
    assert world.plane.status()["next_stop"]["why"] == "night stop"  # nothing pending any more


def test_a_mistyped_package_fails_alone_and_never_blocks_a_later_start(world: World) -> None:
    world.hub.missing.add("definitely-not-a-real-pkg")
    op = world.plane.submit("packages", {"packages": ["xarray", "definitely-not-a-real-pkg"]})
    assert op.state == "failed" and "1 of 2 package(s) could not be installed" in (op.error or "")
    assert "xarray" in world.hub.packages["pip"]  # the good one is installed
    [failed] = world.plane.status()["packages_failed"]
    assert failed["spec"] == "definitely-not-a-real-pkg" and "No matching distribution" in failed["error"]

    world.hub.install_attempts.clear()
    reconcile = world.plane.submit("reconcile", {})  # what every start runs
    assert reconcile.state == "succeeded", reconcile.error
    assert "definitely-not-a-real-pkg" not in world.hub.install_attempts  # not tried again
    assert "nbgitpuller" in world.hub.install_attempts  # workshop.yaml's still are

    forgot = world.plane.submit("packages-remove", {"spec": "definitely-not-a-real-pkg"})
    assert forgot.state == "succeeded" and world.plane.status()["packages_failed"] == []


def test_a_package_from_workshop_yaml_that_fails_is_marked_not_retried_and_not_the_apis_to_forget(
    world: World,
) -> None:
    world.hub.missing.add("pandas>=2.2")  # in hub_world's workshop config
    reconcile = world.plane.submit("reconcile", {})
    assert reconcile.state == "succeeded", reconcile.error  # a failed package is not a failed reconcile
    assert [f["spec"] for f in world.plane.status()["packages_failed"]] == ["pandas>=2.2"]
    world.hub.install_attempts.clear()
    world.plane.submit("reconcile", {})
    assert "pandas>=2.2" not in world.hub.install_attempts
    with pytest.raises(InvalidRequest, match="is not a pip package asked for through the API"):
        world.plane.submit("packages-remove", {"spec": "pandas>=2.2"})


def test_a_start_read_back_as_stopped_for_a_moment_is_not_a_failed_start(world: World) -> None:
    """EC2's Describe* is eventually consistent: just after StartInstances it may still say 'stopped'."""
    import dataclasses

    world.plane.submit("stop", {"force": True})
    hub = world.services.hub
    real_start, real_describe = hub.start, hub.describe
    stale = [0]

    def start() -> None:
        real_start()
        stale[0] = 2  # the next two reads lag behind

    def describe() -> Any:
        view = real_describe()
        if stale[0] > 0:
            stale[0] -= 1
            return dataclasses.replace(view, state="stopped")
        return view

    hub.start, hub.describe = start, describe  # type: ignore[method-assign]
    op = world.plane.submit("start", {})
    assert op.state == "succeeded", op.error
    assert world.state() == "running"


# --- Lambda's own answers (botocore's model), through the production adapter -----------------------

WORKER_ALIAS_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:workshop-hub-worker:live"


def on_lambda(world: World, **sleep: Any) -> Any:
    """The worker's executions through LambdaExecutions, over a Lambda with versions and an alias."""
    from workshop_hub.adapters.executions import LambdaExecutions

    from tests.support.versioned_lambda import VersionedLambda

    fake = VersionedLambda(world.executions)
    world.services.executions = LambdaExecutions(
        fake, WORKER_ALIAS_ARN, sleep=sleep.get("sleep", lambda _: None)
    )
    return fake


def test_after_a_deploy_the_holder_still_on_the_old_version_keeps_the_hub(world: World) -> None:
    """An execution's ARN carries its version, never the alias: a lookup filtered by the alias misses an
    execution that started before the deploy moved the alias, and the waiter would take the hub from it."""
    from workshop_hub import turns

    fake = on_lambda(world)
    stores = world.services.stores
    started = world.time.now()
    holder = Operation(id="op-holder", kind="packages", params={}, created_at=iso(started), state="running")
    stores.operations.save(holder)
    assert stores.lease.take(holder.id, holder.kind)
    fake.hold(holder.id, version=1)  # a large conda install, still running on version 1
    fake.deploy()  # `make deploy`: version 2, the alias `live` moves to it
    world.time.advance(minutes=15)  # past the 10 minutes after which a holder Lambda cannot find is dead
    waiter = Operation(id="op-waiter", kind="stop", params={"force": True}, created_at=iso(world.time.now()))
    stores.operations.save(waiter)
    stores.lease.enqueue(waiter.id, waiter.kind)

    assert turns.try_turn(world.services, waiter.id, waiter.kind) is False
    holding = stores.lease.holder()
    assert holding is not None and holding.operation_id == holder.id
    still = stores.operations.get(holder.id)
    assert still is not None and still.state == "running" and still.error is None
    assert all("Qualifier" not in asked for asked in fake.listed)

    stores.lease.release(holder.id)  # the holder ends and lets go: now it is the waiter's turn
    fake.hold(holder.id, version=1, status="SUCCEEDED")
    assert turns.try_turn(world.services, waiter.id, waiter.kind) is True


def test_a_transient_conflict_on_start_is_tried_again_not_taken_for_started(world: World) -> None:
    slept: list[float] = []
    fake = on_lambda(world, sleep=slept.append)
    fake.conflicts = 2  # "another operation is in progress", twice
    op = world.plane.submit("stop", {"force": True})
    assert op.state == "succeeded", op.error
    assert len(fake.invokes) == 3 and len(slept) == 2
    assert world.state() == "stopped"


def test_a_conflict_that_lasts_fails_the_operation_at_once_saying_why(world: World) -> None:
    from workshop_hub.errors import Unavailable

    fake = on_lambda(world)
    fake.conflicts = 100
    with pytest.raises(Unavailable, match="ResourceConflictException") as raised:
        world.plane.submit("stop", {"force": True})
    (op,) = [o for o in world.services.stores.operations.recent(10) if o.kind == "stop"]
    assert raised.value.operation_id == op.id
    assert op.state == "failed" and "could not start its execution" in (op.error or "")
    assert "ResourceConflictException" in (op.error or "")
    assert world.services.stores.lease.queue() == []  # nothing waits behind an execution that never began
    assert world.state() == "running"


def test_a_conflict_that_lasts_is_a_503_saying_why_and_a_retry_is_a_new_request(world: World) -> None:
    """Not a 500 (which hubctl reports as "the API cannot be reached"): 503 with Lambda's reason, and the
    request's Idempotency-Key released, so the client's retry starts the operation once Lambda takes it."""
    from handlers import api

    from tests.support.apigw import FakeContext, event, parse

    fake = on_lambda(world)
    fake.conflicts = 100
    ask = event("POST", "/instance/stop", {"force": True}, headers={"Idempotency-Key": "k-503"})
    reply = parse(api.handler(ask, FakeContext()))  # type: ignore[arg-type]
    assert reply.status == 503 and reply.headers.get("Retry-After") == "5"
    assert "ResourceConflictException" in reply.error and "stop was not started" in reply.error
    failed = world.services.stores.operations.get(reply.body["operation_id"])
    assert failed is not None and failed.state == "failed"
    fake.conflicts = 0  # Lambda takes starts again: the client's retry, with the same key
    again = parse(api.handler(ask, FakeContext()))  # type: ignore[arg-type]
    assert again.status == 202 and again.body["operation_id"] != failed.id
    assert world.wait(again.body["operation_id"]).state == "succeeded"
    assert world.state() == "stopped"


# --- issue 19: hand-off, long commands, a failing part, data repos, input ---------------------------


def _timed_lease(world: World) -> list[tuple[str, str, float]]:
    import time

    lease = world.services.stores.lease
    events: list[tuple[str, str, float]] = []
    guard = threading.Lock()
    take, release = lease.take, lease.release

    def timed_take(op_id: str, kind: str) -> bool:
        taken = take(op_id, kind)
        with guard:
            mine = [e[0] for e in events if e[1] == op_id]
            if taken and (not mine or mine[-1] != "take"):
                events.append(("take", op_id, time.monotonic()))
        return taken

    def timed_release(op_id: str) -> bool:
        released = release(op_id)
        if released:
            with guard:
                events.append(("release", op_id, time.monotonic()))
        return released

    lease.take, lease.release = timed_take, timed_release  # type: ignore[method-assign]
    return events


@pytest.fixture
def slow_fallback() -> Iterator[World]:
    """A waiter's callback times out after 30 s at first: only a hand-off lets it go sooner."""
    from workshop_hub.services import Timeouts

    with mock_aws():
        built = build_world(timeouts=Timeouts(turn_every_s=30, turn_max_every_s=60))
        yield built
        built.close()


def test_the_release_hands_the_hub_to_the_next_in_line_at_once(slow_fallback: World) -> None:
    world = slow_fallback
    world.plane.inline = False
    world.hub.slow["data-sync"] = 1.0
    events = _timed_lease(world)
    first = world.plane.submit("data-sync", {"name": "workshopdata"})
    second = world.plane.submit("stop", {"force": True})
    assert world.wait(first.id).state == "succeeded" and world.wait(second.id).state == "succeeded"
    (released,) = [at for event, op_id, at in events if (event, op_id) == ("release", first.id)]
    (taken,) = [at for event, op_id, at in events if (event, op_id) == ("take", second.id)]
    assert 0 <= taken - released < 2.0
    assert world.executions.notified == 1


def test_a_releaser_that_crashed_before_its_hand_off_only_delays_the_next_one() -> None:
    from workshop_hub.services import Timeouts

    with mock_aws():
        world = build_world(timeouts=Timeouts(turn_every_s=1, turn_max_every_s=1))
        try:
            world.plane.inline = False
            world.hub.slow["data-sync"] = 1.0
            world.executions.notify = lambda callback_id: False  # type: ignore[method-assign]
            first = world.plane.submit("data-sync", {"name": "workshopdata"})
            second = world.plane.submit("stop", {"force": True})
            assert world.wait(first.id).state == "succeeded"
            assert world.wait(second.id).state == "succeeded"  # at its callback's timeout, by itself
            assert world.state() == "stopped"
        finally:
            world.close()


def test_a_failing_data_repo_lets_other_operations_run_between_the_reconciles_tries() -> None:
    from workshop_hub.services import Timeouts

    with mock_aws():  # real waits, the retries 2 s apart (on AWS: 1, 5, 15 minutes)
        world = build_world(timeouts=Timeouts(reconcile_retries_s=(2, 2, 2)), skip_time=False)
        try:
            world.plane.inline = False
            world.hub.fail["data-sync"] = (
                "fatal: unable to access 'https://github.com/jupyterhub/nbgitpuller/'"
            )
            events = _timed_lease(world)
            reconcile = world.plane.submit("reconcile", {})
            start = world.plane.submit("start", {})
            assert world.wait(start.id).state == "succeeded"
            failed = world.wait(reconcile.id)
            assert failed.state == "failed" and "after 4 tries" in (failed.error or "")
            takes = [op_id for event, op_id, _ in events if event == "take"]
            assert takes == [reconcile.id, start.id, reconcile.id, reconcile.id, reconcile.id]
            assert world.services.stores.lease.holder() is None
        finally:
            world.close()


def test_a_package_install_is_awaited_across_invocations_and_its_limit_is_the_actions() -> None:
    from workshop_hub.services import Timeouts

    with mock_aws():  # waits skipped: a command that never ends reaches its limit at once
        world = build_world(timeouts=Timeouts(command_max_every_s=600))
        try:
            world.hub.slow["packages-install"] = 1.5
            op = world.plane.submit("packages", {"packages": ["xarray"]})
            assert op.state == "succeeded", op.error
            assert [a for a, _ in world.hub.calls].count("packages-install") == 1
            world.hub.hang.add("packages-install")
            stuck = world.plane.submit("packages", {"packages": ["geopandas==1.0.1"]})
            assert stuck.state == "failed"
            assert "packages-install did not finish within 7260 s" in (stuck.error or "")
            assert len(world.hub.cancelled) == 1 and world.services.stores.lease.holder() is None
        finally:
            world.close()


def test_a_data_repo_removed_while_stopped_is_removed_by_the_next_start(world: World) -> None:
    world.plane.submit("data-sync", {"name": "workshopdata"})
    world.plane.submit("stop", {"force": True})
    removed = world.plane.submit("data-remove", {"name": "workshopdata"})
    assert removed.state == "succeeded" and removed.result.get("deferred") is True
    assert "workshopdata" in world.hub.data  # the hub is stopped: still there
    world.plane.submit("start", {})
    assert world.wait(world.plane.reconcile_on_running().id).state == "succeeded"
    assert "workshopdata" not in world.hub.data
    assert world.plane.status()["pending"] == []


@pytest.mark.parametrize(
    "repo",
    ["https://169.254.169.254/latest/meta-data", "https://127.0.0.1:8443/x", "https://0x7f000001/x"],
)
def test_a_data_repo_at_a_non_public_address_is_refused_and_nothing_is_recorded(
    world: World, repo: str
) -> None:
    with pytest.raises(InvalidRequest, match=r"repo: .* public"):
        world.plane.submit("data-sync", {"name": "evil", "repo": repo})
    assert world.services.stores.operations.recent() == []
    assert "evil" not in world.services.stores.desired.get().data_repos
    assert world.hub.calls == []


def test_a_user_already_on_the_hub_is_marked_so_and_gets_an_initial_password(world: World) -> None:
    world.hub.users["ada"] = False  # made by hand before the roster knew her
    sync = world.plane.submit("users-add", {"usernames": ["ada"]})
    assert sync.state == "succeeded" and sync.result["created"] == []
    assert world.plane.roster()[0]["on_hub"] is True
    hashed = "$2b$12$" + "abcdefghijklmnopqrstuv" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ./012"
    done = world.plane.submit("users-set-passwords", {"credentials": [{"username": "ada", "hash": hashed}]})
    assert done.state == "succeeded", done.error
    assert world.hub.passwords == {"ada": hashed}
