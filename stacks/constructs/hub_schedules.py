"""The hub's schedules (EventBridge Scheduler, in the instructor's IANA time zone) and the EC2 state rule.

The recurring night stop and morning start, and each workshop session's prepare and end, come from
``workshop_hub.schedules.schedule_specs`` -- the same function the sandbox uses -- so the stack and the
sandbox fire the same payloads at the same local times.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from aws_cdk import Duration, TimeZone
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from constructs import Construct
from workshop_hub.config import WorkshopConfig
from workshop_hub.schedules import schedule_specs

# cdk.json/-c key: the day a synth counts as today (YYYY-MM-DD); default: today's date in UTC.
TODAY_CONTEXT_KEY = "today"


def group_name(hub_name: str) -> str:
    return f"{hub_name}-schedules"


def sessions_cutoff(config: WorkshopConfig, today: str | None = None) -> dt.datetime:
    """The moment before which a session counts as past: the start of ``today`` in the schedule's time zone.

    Sessions that ended before it get no ``at()`` schedules (Scheduler would keep one-time schedules that can
    never fire). The cutoff is a day, not the wall clock, so every synth of one day gives the same template
    (``cdk diff`` stays quiet within a day; a session that ended yesterday drops out at the first synth of
    the next day). ``-c today=2026-12-03`` pins the day, e.g. to rebuild an old template exactly.
    """
    day = dt.date.fromisoformat(today) if today else dt.datetime.now(dt.UTC).date()
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=ZoneInfo(config.schedule.timezone))


class HubSchedules(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: WorkshopConfig,
        group: scheduler.ScheduleGroup,
        target: lambda_.IFunction,
        role: iam.IRole,
        now: dt.datetime | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.schedules: dict[str, scheduler.Schedule] = {}
        if now is None:
            today = self.node.try_get_context(TODAY_CONTEXT_KEY)
            now = sessions_cutoff(config, str(today) if today else None)
        for spec in schedule_specs(config, now):
            schedule = self.schedules[spec.name] = scheduler.Schedule(
                self,
                spec.name,
                schedule_name=f"{config.hub.name}-{spec.name}"[:64],
                description=spec.description[:512] or None,
                schedule_group=group,
                schedule=scheduler.ScheduleExpression.expression(spec.expression, TimeZone.of(spec.timezone)),
                target=scheduler_targets.LambdaInvoke(
                    target,
                    input=scheduler.ScheduleTargetInput.from_object(spec.payload),
                    role=role,
                    retry_attempts=2,
                    max_event_age=Duration.hours(1),
                ),
            )
            # The group arrives as a plain name: without this, the schedule may be created before its group.
            schedule.node.add_dependency(group)


class InstanceStateRule(Construct):
    """When the hub reaches ``running`` (a start by anyone: a schedule, the console, hubctl), reconcile:
    create the roster's users that are not on the hub yet, sync data repos, install packages."""

    def __init__(
        self, scope: Construct, construct_id: str, *, instance_id: str, target: lambda_.IFunction
    ) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "Running",
            description="the hub instance reached running: reconcile the desired state",
            event_pattern=events.EventPattern(
                source=["aws.ec2"],
                detail_type=["EC2 Instance State-change Notification"],
                detail={"state": ["running"], "instance-id": [instance_id]},
            ),
            targets=[
                events_targets.LambdaFunction(target, retry_attempts=2, max_event_age=Duration.hours(1))
            ],
        )
