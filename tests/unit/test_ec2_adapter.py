"""The EC2 adapter (Ec2HubMachine) against a strict EC2 (moto that refuses what AWS refuses) and against
botocore's Stubber: EC2's answers and refusals become the control plane's errors."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from workshop_hub.adapters.ec2 import Ec2HubMachine
from workshop_hub.ec2_rules import VolumeModification, volume_change_check
from workshop_hub.errors import (
    InsufficientCapacity,
    OperationFailed,
    Refused,
    TypeUnsupported,
    VolumeChangeRefused,
)

from tests.support.strict_ec2 import StrictEc2

REGION = "eu-west-1"


@dataclass
class World:
    ec2: Any
    strict: StrictEc2
    hub: Ec2HubMachine
    clock: list[dt.datetime]

    def advance(self, hours: float) -> None:
        self.clock[0] += dt.timedelta(hours=hours)

    def stopped(self) -> None:
        self.ec2.stop_instances(InstanceIds=[self.hub.instance_id])


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


@pytest.fixture
def world(moto: None) -> World:
    ec2 = boto3.client("ec2", region_name=REGION)
    instance_id = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.medium")[
        "Instances"
    ][0]["InstanceId"]
    clock = [dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)]
    strict = StrictEc2(ec2, clock=lambda: clock[0])
    hub = Ec2HubMachine(ec2, instance_id)
    return World(ec2, strict, hub, clock)


# --- the volume's modifications ------------------------------------------------------------------


def test_a_never_modified_volume_raises_notfound_by_id_and_the_adapter_copes(world: World) -> None:
    with pytest.raises(ClientError) as raised:  # what AWS answers, and moto alone does not
        world.ec2.describe_volumes_modifications(VolumeIds=[world.hub.volume_id])
    assert raised.value.response["Error"]["Code"] == "InvalidVolumeModification.NotFound"
    assert world.hub.volume_modifications() == []
    view = world.hub.volume()
    assert view.last_modified is None and view.modification_state is None and view.size_gib == 8


def stubbed_hub(
    answer: dict[str, Any] | None = None, error: str | None = None
) -> tuple[Ec2HubMachine, Stubber]:
    ec2 = boto3.client("ec2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(ec2)
    expected = {"Filters": [{"Name": "volume-id", "Values": ["vol-0123456789abcdef0"]}]}
    if error:
        stub.add_client_error("describe_volumes_modifications", error, expected_params=expected)
    else:
        stub.add_response("describe_volumes_modifications", answer or {}, expected_params=expected)
    stub.activate()
    return Ec2HubMachine(ec2, "i-0123456789abcdef0", "vol-0123456789abcdef0"), stub


def test_the_empty_answer_means_never_modified() -> None:
    hub, stub = stubbed_hub({"VolumesModifications": []})
    assert hub.volume_modifications() == []
    stub.assert_no_pending_responses()


def test_the_notfound_answer_means_never_modified() -> None:
    hub, stub = stubbed_hub(error="InvalidVolumeModification.NotFound")
    assert hub.volume_modifications() == []
    stub.assert_no_pending_responses()


def test_another_error_is_not_swallowed() -> None:
    hub, _ = stubbed_hub(error="UnauthorizedOperation")
    with pytest.raises(ClientError, match="UnauthorizedOperation"):
        hub.volume_modifications()


def test_ec2_reports_only_the_latest_modification(world: World) -> None:
    world.hub.modify_volume(20)
    world.advance(1)
    answer = world.hub.modify_volume(30)
    assert answer is not None
    started = VolumeModification.from_json(answer)
    assert started.target_size_gib == 30 and VolumeModification.from_json(started.to_json()) == started
    mods = world.hub.volume_modifications()
    assert [(m.state, m.target_size_gib) for m in mods] == [("completed", 30)]
    assert mods[0].started_at == world.clock[0] == started.started_at
    assert world.hub.volume().last_modified == world.clock[0]


def test_a_change_while_the_previous_one_is_optimizing_is_refused(world: World) -> None:
    world.strict.hold_volume_modification("optimizing")
    world.hub.modify_volume(20)
    history = world.hub.volume_modifications()
    check = volume_change_check(history, world.clock[0])
    assert not check.allowed and "still optimizing" in check.reason  # the pre-check sees it...
    with pytest.raises(VolumeChangeRefused, match="IncorrectModificationState") as raised:
        world.hub.modify_volume(30)  # ...and EC2's own refusal is a clear error too
    assert isinstance(raised.value, Refused)
    world.strict.hold_volume_modification(None)
    world.hub.modify_volume(30)


def test_a_fifth_change_in_24_hours_is_refused_with_when(world: World) -> None:
    recorded = []
    for size in (20, 30, 40, 50):
        started = world.hub.modify_volume(size)
        assert started is not None
        recorded.append(VolumeModification.from_json(started))
        world.advance(1)
    # The control plane's records plus EC2's latest: the pre-check knows what EC2 will say.
    check = volume_change_check([*recorded, *world.hub.volume_modifications()], world.clock[0])
    assert not check.allowed and check.possible_at == recorded[0].started_at + dt.timedelta(hours=24)
    # EC2's latest alone cannot tell (one modification): the adapter still reports EC2's refusal.
    assert volume_change_check(world.hub.volume_modifications(), world.clock[0]).allowed
    with pytest.raises(VolumeChangeRefused, match="VolumeModificationRateExceeded"):
        world.hub.modify_volume(60)
    world.advance(20.5)  # the first one leaves the rolling window
    assert volume_change_check(recorded, world.clock[0]).allowed
    world.hub.modify_volume(60)


def test_injected_volume_refusals(world: World) -> None:
    world.strict.fail_next_modify_volume("VolumeModificationRateExceeded")
    with pytest.raises(VolumeChangeRefused, match="VolumeModificationRateExceeded"):
        world.hub.modify_volume(20)
    world.hub.modify_volume(20)  # only the next one


# --- the instance type ---------------------------------------------------------------------------


def test_moto_alone_changes_the_type_of_a_running_instance(moto: None) -> None:
    """Why the strict fake exists: this is what AWS refuses."""
    ec2 = boto3.client("ec2", region_name=REGION)
    instance_id = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.medium")[
        "Instances"
    ][0]["InstanceId"]
    ec2.modify_instance_attribute(InstanceId=instance_id, InstanceType={"Value": "t4g.large"})


def test_a_type_change_of_a_running_instance_is_refused(world: World) -> None:
    with pytest.raises(OperationFailed, match="IncorrectInstanceState"):
        world.hub.set_instance_type("t3.large")
    assert world.hub.describe().instance_type == "t3.medium"


def test_a_type_change_across_architectures_is_refused(world: World) -> None:
    world.stopped()
    for arm in ("t4g.large", "a1.large"):
        with pytest.raises(TypeUnsupported, match=r"InvalidParameterValue.*architecture 'arm64'"):
            world.hub.set_instance_type(arm)
    world.hub.set_instance_type("t3.large")
    assert world.hub.describe().instance_type == "t3.large"


@pytest.mark.parametrize(
    ("code", "error"),
    [("InsufficientInstanceCapacity", InsufficientCapacity), ("Unsupported", TypeUnsupported)],
)
def test_start_refusals(world: World, code: str, error: type[Exception]) -> None:
    world.stopped()
    world.strict.fail_next_start(code)
    with pytest.raises(error):
        world.hub.start()
    world.hub.start()  # only the next one
    assert world.hub.describe().state == "running"


def test_a_type_not_offered_in_the_zone(world: World) -> None:
    assert world.hub.offered_in_zone("t3.xlarge")
    world.strict.not_offered("t3.xlarge")
    assert not world.hub.offered_in_zone("t3.xlarge")
    world.stopped()
    world.hub.set_instance_type("t3.xlarge")  # EC2 takes the change...
    with pytest.raises(TypeUnsupported, match=r"t3.xlarge\) is not supported"):
        world.hub.start()  # ...and refuses the start


def test_offered_in_zone_asks_for_the_instances_zone() -> None:
    ec2 = boto3.client("ec2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(ec2)
    instance = {
        "InstanceId": "i-0123456789abcdef0",
        "InstanceType": "t3.medium",
        "State": {"Name": "stopped", "Code": 80},
        "Placement": {"AvailabilityZone": "eu-west-1c"},
    }
    stub.add_response("describe_instances", {"Reservations": [{"Instances": [instance]}]})
    stub.add_response(
        "describe_instance_type_offerings",
        {"InstanceTypeOfferings": []},
        expected_params={
            "LocationType": "availability-zone",
            "Filters": [
                {"Name": "location", "Values": ["eu-west-1c"]},
                {"Name": "instance-type", "Values": ["m7i.large"]},
            ],
        },
    )
    stub.activate()
    assert Ec2HubMachine(ec2, "i-0123456789abcdef0").offered_in_zone("m7i.large") is False
    stub.assert_no_pending_responses()


def test_a_start_that_never_reaches_running(world: World) -> None:
    world.stopped()
    world.strict.never_running()
    world.hub.start()
    assert world.hub.describe().state == "pending"
    assert world.hub.describe().state == "pending"  # asked again: still not running
    world.strict.reset()
    assert world.hub.describe().state == "running"
