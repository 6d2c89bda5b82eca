"""The hub's EC2 instance and its root EBS volume."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError, WaiterError

from workshop_hub.errors import InsufficientCapacity, OperationFailed

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

CAPACITY_CODES = ("InsufficientInstanceCapacity", "InsufficientCapacity", "InsufficientHostCapacity")


@dataclass(frozen=True)
class InstanceView:
    state: str
    instance_type: str
    public_ip: str | None
    root_volume_id: str | None


@dataclass(frozen=True)
class VolumeView:
    volume_id: str
    size_gib: int
    last_modified: dt.datetime | None  # start of the latest modification
    modification_state: str | None


class HubInstance:
    def __init__(
        self,
        ec2: EC2Client,
        instance_id: str,
        volume_id: str = "",
        *,
        waiter_delay_s: int = 5,
        waiter_max_attempts: int = 120,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        import time

        self.ec2 = ec2
        self.instance_id = instance_id
        self._volume_id = volume_id
        self.waiter_config = {"Delay": waiter_delay_s, "MaxAttempts": waiter_max_attempts}
        self.sleep = sleep or time.sleep
        self.clock = clock or time.monotonic

    def describe(self) -> InstanceView:
        reservations = self.ec2.describe_instances(InstanceIds=[self.instance_id])["Reservations"]
        instance = reservations[0]["Instances"][0]
        root = instance.get("RootDeviceName")
        volume = next(
            (
                m["Ebs"]["VolumeId"]
                for m in instance.get("BlockDeviceMappings", [])
                if m.get("DeviceName") == root
            ),
            None,
        )
        return InstanceView(
            state=instance["State"]["Name"],
            instance_type=instance["InstanceType"],
            public_ip=instance.get("PublicIpAddress"),
            root_volume_id=volume,
        )

    def start(self) -> None:
        try:
            self.ec2.start_instances(InstanceIds=[self.instance_id])
        except ClientError as err:
            if err.response["Error"]["Code"] in CAPACITY_CODES:
                raise InsufficientCapacity(err.response["Error"].get("Message", str(err))) from None
            raise

    def stop(self) -> None:
        self.ec2.stop_instances(InstanceIds=[self.instance_id])

    def _wait(self, waiter_name: str, state: str) -> None:
        waiter = self.ec2.get_waiter(waiter_name)  # type: ignore[call-overload]
        try:
            waiter.wait(InstanceIds=[self.instance_id], WaiterConfig=self.waiter_config)
        except WaiterError as err:
            raise OperationFailed(f"the instance did not reach '{state}' in time: {err}") from None

    def wait_running(self) -> None:
        self._wait("instance_running", "running")

    def wait_stopped(self) -> None:
        self._wait("instance_stopped", "stopped")

    def set_instance_type(self, instance_type: str) -> None:
        # Real EC2 refuses this unless the instance is stopped (IncorrectInstanceState).
        self.ec2.modify_instance_attribute(InstanceId=self.instance_id, InstanceType={"Value": instance_type})

    # --- the root volume -------------------------------------------------------------------

    @property
    def volume_id(self) -> str:
        if not self._volume_id:
            found = self.describe().root_volume_id
            if not found:
                raise OperationFailed(f"instance {self.instance_id} has no root EBS volume")
            self._volume_id = found
        return self._volume_id

    def volume(self) -> VolumeView:
        size = self.ec2.describe_volumes(VolumeIds=[self.volume_id])["Volumes"][0]["Size"]
        mods = self.ec2.describe_volumes_modifications(VolumeIds=[self.volume_id]).get(
            "VolumesModifications", []
        )
        latest = max(mods, key=lambda m: m["StartTime"], default=None)
        return VolumeView(
            volume_id=self.volume_id,
            size_gib=size,
            last_modified=latest["StartTime"].astimezone(dt.UTC) if latest else None,
            modification_state=latest.get("ModificationState") if latest else None,
        )

    def snapshot(self, description: str, tags: dict[str, str]) -> str:
        snapshot = self.ec2.create_snapshot(
            VolumeId=self.volume_id,
            Description=description,
            TagSpecifications=[
                {"ResourceType": "snapshot", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
            ],
        )
        return snapshot["SnapshotId"]

    def modify_volume(self, size_gib: int) -> None:
        self.ec2.modify_volume(VolumeId=self.volume_id, Size=size_gib)

    def wait_volume_usable(self, timeout_s: float = 600, poll_s: float = 10) -> str:
        """Wait until the modification is 'optimizing' or 'completed' (the filesystem can grow then)."""
        deadline = self.clock() + timeout_s
        while True:
            state = self.volume().modification_state or "completed"
            if state in ("optimizing", "completed"):
                return state
            if state == "failed":
                raise OperationFailed(f"the volume modification of {self.volume_id} failed")
            if self.clock() >= deadline:
                raise OperationFailed(f"the volume modification is still '{state}' after {timeout_s:.0f} s")
            self.sleep(poll_s)
