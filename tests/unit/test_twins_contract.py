"""Each in-memory twin (tests/support/twins.py) and its AWS adapter pass the same assertions: the stores
on DynamoDB (moto), the hub's machine on EC2 (moto as strict as AWS: tests/support/strict_ec2.py), the
one-time schedules on EventBridge Scheduler. What the domain's unit tests learn from a twin holds on AWS."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from workshop_hub.adapters.dynamodb import create_table, dynamodb_stores
from workshop_hub.adapters.ec2 import Ec2HubMachine
from workshop_hub.adapters.scheduler import EventBridgeSchedules
from workshop_hub.errors import InsufficientCapacity, OperationFailed, TypeUnsupported, VolumeChangeRefused
from workshop_hub.operations import Operation
from workshop_hub.ports import HubMachine, Schedules
from workshop_hub.stores import RosterEntry, Stores

from tests.support.strict_ec2 import StrictEc2
from tests.support.twins import MemoryHubMachine, MemorySchedules, memory_stores

REGION = "eu-west-1"
START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def moto() -> Iterator[None]:
    from moto import mock_aws

    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    with mock_aws():
        yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now


_tables = iter(range(1_000_000))


@pytest.fixture(params=["dynamodb", "memory"])
def stores(request: pytest.FixtureRequest, moto: None) -> tuple[Stores, Clock]:
    clock = Clock()
    if request.param == "memory":
        return memory_stores(clock), clock
    client = boto3.client("dynamodb", region_name=REGION)
    name = f"contract-{next(_tables)}"
    create_table(client, name)
    return dynamodb_stores(client, name, clock), clock


def op(op_id: str, state: str = "queued") -> Operation:
    return Operation(id=op_id, kind="start", params={}, created_at="2026-12-01T09:00:00.000Z", state=state)


# --- the stores ------------------------------------------------------------------------------------


def test_operations(stores: tuple[Stores, Clock]) -> None:
    log = stores[0].operations
    for name in ("op-1", "op-2", "op-3"):
        log.save(op(name))
    assert [o.id for o in log.recent(2)] == ["op-3", "op-2"]
    assert log.get("op-2") == op("op-2") and log.get("op-9") is None
    log.save(op("op-2", state="running"))
    log.discard("op-2")  # only a record that never became an operation goes
    log.discard("op-1")
    assert [o.id for o in log.recent()] == ["op-3", "op-2"]
    log.save(op("op-4", state="succeeded"))
    assert [o.id for o in log.unfinished()] == ["op-2", "op-3"]  # oldest first, ended ones left out


def test_the_lease_is_one_holders_and_the_queue_keeps_its_order(stores: tuple[Stores, Clock]) -> None:
    lease = stores[0].lease
    assert lease.holder() is None and lease.take("op-1", "resize")
    assert not lease.take("op-2", "stop") and lease.take("op-1", "resize")
    assert not lease.release("op-2")
    holder = lease.holder()
    assert holder is not None and (holder.operation_id, holder.kind) == ("op-1", "resize")
    assert lease.release("op-1") and lease.holder() is None
    for name, kind in (("op-3", "stop"), ("op-2", "start")):
        lease.enqueue(name, kind)
    assert lease.queue() == [("op-2", "start"), ("op-3", "stop")]
    assert lease.callback("op-2") is None
    assert lease.wait_here("op-2", "Y2FsbGJhY2stMQ==") and lease.callback("op-2") == "Y2FsbGJhY2stMQ=="
    assert lease.wait_here("op-2", "Y2FsbGJhY2stMg==") and lease.callback("op-2") == "Y2FsbGJhY2stMg=="
    assert not lease.wait_here("op-9", "Y2FsbGJhY2stMQ==") and lease.callback("op-9") is None
    assert lease.queue() == [("op-2", "start"), ("op-3", "stop")]  # a callback does not move anyone
    lease.dequeue("op-2")
    assert lease.queue() == [("op-3", "stop")] and lease.callback("op-2") is None
    assert not lease.wait_here("op-2", "Y2FsbGJhY2stMw==")  # gone from the queue: no place to wait in


def test_the_roster_and_its_sync_marker(stores: tuple[Stores, Clock]) -> None:
    roster = stores[0].roster
    roster.put(
        [RosterEntry("ada", admin=False, on_hub=False, added_at="t"), RosterEntry("bob", True, False, "t")]
    )
    roster.put([RosterEntry("eve", admin=False, on_hub=False, added_at="t", removing=True, source="Eve")])
    assert [e.username for e in roster.entries()] == ["ada", "bob"]
    assert [e.username for e in roster.entries(include_removing=True)] == ["ada", "bob", "eve"]
    assert set(roster.find(["eve", "zoe", "ada"])) == {"eve", "ada"}
    roster.mark_on_hub({"ada", "eve"})
    found = roster.find(["ada", "eve"])
    assert found["ada"].on_hub and not found["eve"].on_hub and found["eve"].source == "Eve"
    roster.delete("eve")
    assert roster.find(["eve"]) == {}
    assert roster.request_sync("op-1") == ("op-1", True)
    assert roster.request_sync("op-2") == ("op-1", False)  # one sync is pending: it covers both
    assert roster.sync_state() == ("op-1", 2)
    assert not roster.finish_sync("op-1", 1)  # the roster changed since that round
    assert roster.finish_sync("op-1", 2) and roster.sync_state() == (None, 2)
    roster.request_sync("op-3")
    roster.abandon_sync("op-9")
    assert roster.sync_state()[0] == "op-3"
    roster.abandon_sync("op-3")
    assert roster.sync_state()[0] is None


def test_the_desired_state(stores: tuple[Stores, Clock]) -> None:
    desired = stores[0].desired
    assert desired.get().instance_type is None and desired.get().pending == set()
    desired.set(instance_type="t3.large", volume_gib=40, keep_awake_window_s=3600)
    desired.unset("volume_gib")
    state = desired.get()
    assert (state.instance_type, state.volume_gib, state.keep_awake_window_s) == ("t3.large", None, 3600)
    desired.defer("users", "data:x")
    generation = desired.get().pending_gen
    desired.defer("packages")
    assert not desired.settle(generation)  # more was deferred since that reconcile looked
    assert desired.settle(desired.get().pending_gen) and desired.get().pending == set()
    desired.put_data_repo("x", "https://h.org/x", None)
    assert desired.get().data_repos == {"x": {"repo": "https://h.org/x", "ref": None}}
    desired.remove_data_repo("x")
    desired.remove_data_repo("from-yaml")  # workshop.yaml's: only the removal is recorded
    state = desired.get()
    assert state.data_repos == {} and state.removed_data == {"x", "from-yaml"}
    desired.put_data_repo("x", "https://h.org/x2", "v2")  # asked for again: back
    state = desired.get()
    assert state.data_repos == {"x": {"repo": "https://h.org/x2", "ref": "v2"}}
    assert state.removed_data == {"from-yaml"}
    desired.put_packages("pip", ["Pandas>=2", "numpy"])
    desired.put_packages("pip", ["pandas==2.2"])  # the same package, by its normalized name
    assert sorted(desired.get().packages["pip"]) == ["numpy", "pandas==2.2"]
    desired.mark_package_failed("pip", "numpy", "no such version", "t", asked=True)
    desired.mark_package_failed("conda", "gdal", "conflict", "t", asked=False)
    state = desired.get()
    assert state.packages == {"pip": ["pandas==2.2"]}
    assert [(f["manager"], f["spec"], f["error"]) for f in state.failed_packages] == [
        ("conda", "gdal", "conflict"),
        ("pip", "numpy", "no such version"),
    ]
    assert not desired.forget_package("conda", "gdal")  # workshop.yaml's, not the API's to forget
    assert desired.forget_package("pip", "numpy") and not desired.forget_package("pip", "numpy")
    desired.record_volume_change({"started_at": "2026-12-01T09:00:00+00:00", "target_size_gib": 40})
    assert [c["target_size_gib"] for c in desired.volume_changes()] == [40]


def test_idempotency_keys_last_a_day_and_only_their_owner_releases_them(stores: tuple[Stores, Clock]) -> None:
    keys, clock = stores
    assert keys.keys.claim("k", "op-1", "start") and not keys.keys.claim("k", "op-2", "start")
    assert keys.keys.lookup("k") == ("op-1", "start")
    keys.keys.release("k", "op-2")
    assert keys.keys.lookup("k") == ("op-1", "start")
    clock.now = START + dt.timedelta(hours=25)
    assert keys.keys.lookup("k") is None and keys.keys.claim("k", "op-3", "stop")
    keys.keys.release("k", "op-3")
    assert keys.keys.lookup("k") is None


def test_password_hashes_last_a_day(stores: tuple[Stores, Clock]) -> None:
    passwords, clock = stores[0].passwords, stores[1]
    passwords.put("op-1", {"ada": "$2b$hash"})
    assert passwords.get("op-1") == {"ada": "$2b$hash"} and passwords.get("op-2") is None
    clock.now = START + dt.timedelta(hours=25)
    assert passwords.get("op-1") is None
    passwords.forget("op-1")


# --- the hub's machine -----------------------------------------------------------------------------


@dataclass
class Machine:
    """One side of the machine's contract, with its faults spelt the same way."""

    port: HubMachine
    no_capacity: Callable[[], None]
    not_offered: Callable[[str], None]
    hold_modifications: Callable[[], None]


@pytest.fixture(params=["ec2", "memory"])
def machine(request: pytest.FixtureRequest, moto: None) -> Machine:
    clock = Clock()
    if request.param == "memory":
        twin = MemoryHubMachine(clock=clock)

        def hold() -> None:
            twin.held = "optimizing"

        return Machine(twin, lambda: twin.no_capacity.add(twin.instance_type), twin.not_offered.add, hold)
    ec2 = boto3.client("ec2", region_name=REGION)
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.medium")
    strict = StrictEc2(ec2, clock=clock)
    return Machine(
        Ec2HubMachine(ec2, instance["Instances"][0]["InstanceId"]),
        lambda: strict.fail_next_start("InsufficientInstanceCapacity"),
        strict.not_offered,
        lambda: strict.hold_volume_modification("optimizing"),
    )


def test_power_and_the_type(machine: Machine) -> None:
    hub = machine.port
    assert hub.describe().state == "running" and hub.describe().instance_type == "t3.medium"
    with pytest.raises(OperationFailed, match="stopped instance only"):
        hub.set_instance_type("t3.large")
    hub.stop()
    assert hub.describe().state == "stopped"
    with pytest.raises(TypeUnsupported):
        hub.set_instance_type("t4g.large")  # another architecture
    hub.set_instance_type("t3.large")
    machine.no_capacity()
    with pytest.raises(InsufficientCapacity):
        hub.start()
    hub.set_instance_type("t3.xlarge")
    hub.start()
    assert (hub.describe().state, hub.describe().instance_type) == ("running", "t3.xlarge")


def test_a_type_not_offered_in_the_zone(machine: Machine) -> None:
    hub = machine.port
    assert hub.offered_in_zone("m7i.large")
    machine.not_offered("m7i.large")
    assert not hub.offered_in_zone("m7i.large")
    hub.stop()
    hub.set_instance_type("m7i.large")
    with pytest.raises(TypeUnsupported):
        hub.start()


def test_the_volume_grows_once_its_last_change_completed(machine: Machine) -> None:
    hub = machine.port
    before = hub.volume()
    assert hub.volume_modifications() == [] and before.modification_state is None
    machine.hold_modifications()
    started: dict[str, Any] | None = hub.modify_volume(before.size_gib + 10)
    assert started is not None and started["target_size_gib"] == before.size_gib + 10
    after = hub.volume()
    assert after.size_gib == before.size_gib + 10 and after.modification_state == "optimizing"
    assert [m.target_size_gib for m in hub.volume_modifications()] == [before.size_gib + 10]
    with pytest.raises(VolumeChangeRefused):
        hub.modify_volume(before.size_gib + 20)
    assert hub.snapshot("before growing", {"workshop-hub:reason": "pre-grow"}).startswith("snap-")


# --- one-time schedules ----------------------------------------------------------------------------


@pytest.fixture(params=["scheduler", "memory"])
def schedules(request: pytest.FixtureRequest, moto: None) -> tuple[Schedules, Callable[[], list[str]]]:
    if request.param == "memory":
        twin = MemorySchedules()
        return twin, lambda: sorted(twin.created)
    client = boto3.client("scheduler", region_name=REGION)
    group = f"contract-{next(_tables)}"
    client.create_schedule_group(Name=group)
    role = "arn:aws:iam::123456789012:role/scheduler"
    target = "arn:aws:lambda:eu-west-1:123456789012:function:schedule"
    names: Callable[[], list[str]] = lambda: sorted(  # noqa: E731
        s["Name"] for s in client.list_schedules(GroupName=group)["Schedules"]
    )
    return EventBridgeSchedules(client, group, target, role), names


def test_one_time_schedules(schedules: tuple[Schedules, Callable[[], list[str]]]) -> None:
    port, names = schedules
    at = dt.datetime(2026, 12, 1, 22, 30, tzinfo=dt.UTC)
    expression = port.create("postponed-stop-1", at, "Europe/Berlin", {"action": "postponed-stop"})
    assert expression == "at(2026-12-01T23:30:00)"  # wall-clock time in the schedule's zone
    assert names() == ["postponed-stop-1"]
    port.delete("postponed-stop-1")
    port.delete("postponed-stop-1")  # gone already: no error
    assert names() == []
