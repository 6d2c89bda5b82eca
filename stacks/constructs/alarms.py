"""Alarms: a failed operation or a function error notifies the instructor (when alerts.email is set)."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.constructs.alert_topic import alert_topic
from stacks.constructs.control_functions import service_name


class ControlAlarms(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, lambda_.IFunction],
        email: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = alert_topic(self, "Alerts", display_name="workshop-hub alerts", email=email)
        action = cloudwatch_actions.SnsAction(self.topic)

        self.alarms: list[cloudwatch.Alarm] = []
        failed = cloudwatch.Metric(
            namespace="WorkshopHub",
            metric_name="OperationFailed",
            dimensions_map={"service": service_name("worker")},
            statistic="Sum",
            period=Duration.minutes(5),
        )
        self.alarms.append(
            failed.create_alarm(
                self,
                "OperationFailedAlarm",
                alarm_description="a control-plane operation failed: `hubctl status` shows which and why",
                threshold=1,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )
        for name, function in functions.items():
            self.alarms.append(
                function.metric_errors(period=Duration.minutes(5)).create_alarm(
                    self,
                    f"{name.title()}ErrorsAlarm",
                    alarm_description=f"the {name} function raised an error (see its log group)",
                    threshold=1,
                    evaluation_periods=1,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )
        for alarm in self.alarms:
            alarm.add_alarm_action(action)
