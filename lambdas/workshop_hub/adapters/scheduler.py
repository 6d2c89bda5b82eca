"""The Schedules port on EventBridge Scheduler: the one-time schedules the control plane creates at run time."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_scheduler import EventBridgeSchedulerClient


class EventBridgeSchedules:
    def __init__(
        self, client: EventBridgeSchedulerClient, group: str, target_arn: str, role_arn: str
    ) -> None:
        self.client = client
        self.group = group
        self.target_arn = target_arn
        self.role_arn = role_arn

    def create(self, name: str, at: dt.datetime, timezone: str, payload: dict[str, Any]) -> str:
        """A schedule firing once at ``at`` (wall-clock time in ``timezone``), deleted after it ran."""
        local = at.astimezone(ZoneInfo(timezone))
        expression = f"at({local:%Y-%m-%dT%H:%M:%S})"
        self.client.create_schedule(
            Name=name,
            GroupName=self.group,
            ScheduleExpression=expression,
            ScheduleExpressionTimezone=timezone,
            FlexibleTimeWindow={"Mode": "OFF"},
            ActionAfterCompletion="DELETE",
            Target={"Arn": self.target_arn, "RoleArn": self.role_arn, "Input": json.dumps(payload)},
        )
        return expression

    def delete(self, name: str) -> None:
        try:
            self.client.delete_schedule(Name=name, GroupName=self.group)
        except ClientError as err:
            if err.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
