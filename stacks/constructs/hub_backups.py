"""Nightly snapshots of the hub's disk: a Data Lifecycle Manager policy with its own narrow role.

The policy targets the volume tagged ``workshop-hub:hub = <hub.name>`` (the hub's root volume: the
instance's tags are copied to it at creation) and snapshots it every day at a fixed UTC time that falls
after the night stop's deadline in winter and in summer (DLM's schedules are UTC only). It keeps
``backups.retain`` snapshots, tagged ``workshop-hub:backup = <hub.name>`` (how `hubctl snapshots` finds
them) besides the volume's own tags.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from aws_cdk import CfnTag, Stack
from aws_cdk import aws_dlm as dlm
from aws_cdk import aws_iam as iam
from constructs import Construct
from workshop_hub.config import Schedule

from stacks import nag

BACKUP_TAG = "workshop-hub:backup"
# After the last possible stop (stop_deadline), or at night when there is no night stop.
AFTER_STOP_MINUTES = 30
NO_STOP_TIME = "03:00"


def snapshot_time_utc(schedule: Schedule, year: int = 2026) -> str:
    """HH:MM UTC, ``AFTER_STOP_MINUTES`` after the stop deadline in local time, whichever DST is on.

    In a zone with daylight saving the same UTC time is an hour apart locally in winter and summer: take
    the later of the two UTC times, so the snapshot is after the deadline in both seasons."""
    local = schedule.stop_deadline if schedule.night_stop else NO_STOP_TIME
    hour, minute = (int(x) for x in local.split(":"))
    zone = ZoneInfo(schedule.timezone)
    candidates = []
    for month in (1, 7):
        when = dt.datetime(year, month, 15, hour, minute, tzinfo=zone) + dt.timedelta(
            minutes=AFTER_STOP_MINUTES
        )
        utc = when.astimezone(dt.UTC)
        candidates.append(utc.hour * 60 + utc.minute)
    a, b = candidates
    # The later one on a 24-hour clock: at most 12 hours apart, so the circular difference decides.
    later = a if (a - b) % 1440 <= 720 else b
    return f"{later // 60:02d}:{later % 60:02d}"


class HubBackups(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        hub_name: str,
        tag_key: str,
        schedule: Schedule,
        retain: int,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        volumes = stack.format_arn(service="ec2", resource="volume", resource_name="*")
        snapshots = f"arn:{stack.partition}:ec2:{stack.region}::snapshot/*"
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("dlm.amazonaws.com"),
            description=f"workshop-hub {hub_name}: Data Lifecycle Manager snapshots the hub's disk",
        )
        statements = [
            # Snapshot only the hub's volume...
            iam.PolicyStatement(
                actions=["ec2:CreateSnapshot"],
                resources=[volumes],
                conditions={"StringEquals": {f"aws:ResourceTag/{tag_key}": hub_name}},
            ),
            # ...into a new snapshot (the snapshot's ARN is not known before it exists), tagged by DLM.
            iam.PolicyStatement(actions=["ec2:CreateSnapshot", "ec2:CreateTags"], resources=[snapshots]),
            # Delete only this policy's own snapshots (the tag it adds), never the pre-grow ones.
            iam.PolicyStatement(
                actions=["ec2:DeleteSnapshot"],
                resources=[snapshots],
                conditions={"StringEquals": {f"aws:ResourceTag/{BACKUP_TAG}": hub_name}},
            ),
            iam.PolicyStatement(
                actions=["ec2:DescribeVolumes", "ec2:DescribeInstances", "ec2:DescribeSnapshots"],
                resources=["*"],
            ),
        ]
        policy = iam.Policy(self, "Snapshots", statements=statements)
        policy.attach_to_role(self.role)
        nag.acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "ec2:DescribeVolumes, DescribeInstances and DescribeSnapshots support no resource-level "
            "permissions; DLM reads them to find the tagged volume and its own snapshots.",
        )
        nag.acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::{nag.resource_id(self, volumes)}]",
            "CreateSnapshot on volumes is limited by a condition to the volume tagged with this hub's name.",
        )
        nag.acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::{nag.resource_id(self, snapshots)}]",
            "A snapshot's ARN exists only once it is created; DeleteSnapshot is limited by a condition to "
            "the snapshots this policy tagged.",
        )

        self.time_utc = snapshot_time_utc(schedule)
        self.policy = dlm.CfnLifecyclePolicy(
            self,
            "Policy",
            description=f"workshop-hub {hub_name} nightly snapshot of the hub disk",  # [0-9A-Za-z _-] only
            state="ENABLED",
            execution_role_arn=self.role.role_arn,
            policy_details=dlm.CfnLifecyclePolicy.PolicyDetailsProperty(
                policy_type="EBS_SNAPSHOT_MANAGEMENT",
                resource_types=["VOLUME"],
                target_tags=[CfnTag(key=tag_key, value=hub_name)],
                schedules=[
                    dlm.CfnLifecyclePolicy.ScheduleProperty(
                        name="nightly after the night stop",
                        create_rule=dlm.CfnLifecyclePolicy.CreateRuleProperty(
                            interval=24, interval_unit="HOURS", times=[self.time_utc]
                        ),
                        retain_rule=dlm.CfnLifecyclePolicy.RetainRuleProperty(count=retain),
                        copy_tags=True,
                        tags_to_add=[CfnTag(key=BACKUP_TAG, value=hub_name)],
                    )
                ],
            ),
        )
