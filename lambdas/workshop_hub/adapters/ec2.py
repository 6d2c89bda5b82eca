"""The hub's EC2 instance and its root EBS volume: the HubMachine port on EC2.

EC2's refusals become the control plane's errors: no capacity (InsufficientCapacity), a type the
hub's zone does not offer or a type change EC2 refuses (TypeUnsupported), a type change while not
stopped (OperationFailed), a volume change refused (VolumeChangeRefused).
tests/support/strict_ec2.py raises them as AWS does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from workshop_hub.ec2_rules import VolumeModification
from workshop_hub.errors import InsufficientCapacity, OperationFailed, TypeUnsupported, VolumeChangeRefused
from workshop_hub.ports import InstanceView, VolumeView

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

CAPACITY_CODES = ("InsufficientInstanceCapacity", "InsufficientCapacity", "InsufficientHostCapacity")
# StartInstances: the instance's type is not offered in its Availability Zone.
NOT_OFFERED_CODES = ("Unsupported",)
# ModifyInstanceAttribute(InstanceType): a type the image cannot run (another architecture), not offered.
TYPE_REFUSED_CODES = ("InvalidParameterValue", "Unsupported", "InvalidInstanceType")
# ModifyVolume: the previous modification is not completed; more than four in a rolling 24 hours.
VOLUME_REFUSED_CODES = ("IncorrectModificationState", "VolumeModificationRateExceeded")
# DescribeVolumesModifications(VolumeIds=[v]) on a volume never modified.
NO_MODIFICATION_CODES = ("InvalidVolumeModification.NotFound",)


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _message(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Message", "")) or str(err)


class Ec2HubMachine:
    def __init__(self, ec2: EC2Client, instance_id: str, volume_id: str = "") -> None:
        self.ec2 = ec2
        self.instance_id = instance_id
        self._volume_id = volume_id

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
            availability_zone=instance.get("Placement", {}).get("AvailabilityZone"),
        )

    def start(self) -> None:
        try:
            self.ec2.start_instances(InstanceIds=[self.instance_id])
        except ClientError as err:
            if _code(err) in CAPACITY_CODES:
                raise InsufficientCapacity(_message(err)) from None
            if _code(err) in NOT_OFFERED_CODES:
                raise TypeUnsupported(_message(err)) from None
            raise

    def stop(self) -> None:
        self.ec2.stop_instances(InstanceIds=[self.instance_id])

    def set_instance_type(self, instance_type: str) -> None:
        """Only while stopped (EC2 refuses otherwise), and only within one architecture."""
        try:
            self.ec2.modify_instance_attribute(
                InstanceId=self.instance_id, InstanceType={"Value": instance_type}
            )
        except ClientError as err:
            if _code(err) in TYPE_REFUSED_CODES:
                raise TypeUnsupported(
                    f"EC2 refused the type change to {instance_type} ({_code(err)}): {_message(err)}"
                ) from None
            if _code(err) == "IncorrectInstanceState":
                raise OperationFailed(
                    f"EC2 changes the type of a stopped instance only ({_code(err)}): {_message(err)}"
                ) from None
            raise

    def offered_in_zone(self, instance_type: str) -> bool:
        """Whether EC2 offers ``instance_type`` in the hub's Availability Zone (ask before a resize stops the hub)."""
        zone = self.describe().availability_zone
        if not zone:
            raise OperationFailed(f"instance {self.instance_id} reports no Availability Zone")
        offerings = self.ec2.describe_instance_type_offerings(
            LocationType="availability-zone",
            Filters=[
                {"Name": "location", "Values": [zone]},
                {"Name": "instance-type", "Values": [instance_type]},
            ],
        )["InstanceTypeOfferings"]
        return any(o.get("InstanceType") == instance_type for o in offerings)

    # --- the root volume -------------------------------------------------------------------

    @property
    def volume_id(self) -> str:
        if not self._volume_id:
            found = self.describe().root_volume_id
            if not found:
                raise OperationFailed(f"instance {self.instance_id} has no root EBS volume")
            self._volume_id = found
        return self._volume_id

    def volume_modifications(self) -> list[VolumeModification]:
        """What EC2 reports of the volume's modifications, newest first: on AWS the most recent one only
        (or none on a volume never modified), so the control plane adds its own records of its grows
        before it applies ``ec2_rules.volume_change_check``."""
        try:
            # The volume-id filter answers [] for a never-modified volume, where VolumeIds=[v] raises.
            answer = self.ec2.describe_volumes_modifications(
                Filters=[{"Name": "volume-id", "Values": [self.volume_id]}]
            )
        except ClientError as err:
            if _code(err) in NO_MODIFICATION_CODES:
                return []
            raise
        mods = [
            _modification(m)
            for m in answer.get("VolumesModifications", [])
            if m.get("VolumeId", self.volume_id) == self.volume_id and "StartTime" in m
        ]
        return sorted(mods, key=lambda m: m.started_at, reverse=True)

    def volume(self) -> VolumeView:
        size = self.ec2.describe_volumes(VolumeIds=[self.volume_id])["Volumes"][0]["Size"]
        latest = next(iter(self.volume_modifications()), None)
        return VolumeView(
            volume_id=self.volume_id,
            size_gib=size,
            last_modified=latest.started_at if latest else None,
            modification_state=latest.state if latest else None,
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

    def modify_volume(self, size_gib: int) -> dict[str, Any] | None:
        """Ask EBS for ``size_gib``; the modification EC2 started, JSON-ready (``VolumeModification.to_json``:
        record it, EC2 reports only the latest). Raises VolumeChangeRefused with EC2's own reason when EBS
        will not take a change now."""
        try:
            answer = self.ec2.modify_volume(VolumeId=self.volume_id, Size=size_gib)
        except ClientError as err:
            if _code(err) in VOLUME_REFUSED_CODES:
                raise VolumeChangeRefused(
                    f"EBS refused to change {self.volume_id} to {size_gib} GiB ({_code(err)}): {_message(err)}"
                ) from None
            raise
        started = answer.get("VolumeModification")
        return _modification(started).to_json() if started and "StartTime" in started else None


def _modification(raw: Mapping[str, Any]) -> VolumeModification:
    end = raw.get("EndTime")
    return VolumeModification(
        state=str(raw.get("ModificationState", "modifying")),
        started_at=raw["StartTime"].astimezone(dt.UTC),
        target_size_gib=raw.get("TargetSize"),
        ended_at=end.astimezone(dt.UTC) if end else None,
    )
