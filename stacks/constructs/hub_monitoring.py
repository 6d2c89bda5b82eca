"""Memory and disk of the hub: the CloudWatch agent's configuration, its one permission, and two alarms.

The agent is installed and started by the first-boot script (stacks/userdata/bootstrap.sh) with the
configuration made here, so no one logs in to set it up. It publishes two custom metrics to the
namespace ``WorkshopHub/<hub.name>`` every minute: ``mem_used_percent`` and ``disk_used_percent`` of
``/``, rolled up to no dimensions (one hub per namespace), which the alarms watch. The instance role may
put metrics in that namespace only.
"""

from __future__ import annotations

import json

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks import nag
from stacks.constructs.alert_topic import alert_topic

MEMORY_METRIC = "mem_used_percent"
DISK_METRIC = "disk_used_percent"
# Participants are bounced (their kernels killed) when the RAM runs out, and a full disk stops saving:
# warn while there is still room to act (`hubctl resize`, `hubctl grow`).
ALARM_PERCENT = 85
PERIOD = Duration.minutes(5)


def namespace(hub_name: str) -> str:
    return f"WorkshopHub/{hub_name}"


def agent_config(hub_name: str) -> str:
    """amazon-cloudwatch-agent's JSON: memory and root-disk use, one minute apart, rolled up.

    run_as_user root: the hub blocks the instance metadata service (the role's credentials) for every
    user but root. ``aggregation_dimensions: [[]]`` publishes each metric also without dimensions, which
    is what the alarms watch (the disk's own dimensions name the device and file system type).
    """
    config = {
        "agent": {"metrics_collection_interval": 60, "run_as_user": "root", "omit_hostname": True},
        "metrics": {
            "namespace": namespace(hub_name),
            "aggregation_dimensions": [[]],
            "metrics_collected": {
                "mem": {"measurement": [MEMORY_METRIC.removeprefix("mem_")]},
                "disk": {"measurement": ["used_percent"], "resources": ["/"], "drop_device": True},
            },
        },
    }
    return json.dumps(config, separators=(",", ":"), sort_keys=True)


class HubMonitoring(Construct):
    """``topic`` (mailed to alerts.email when set), ``memory_alarm``, ``disk_alarm``; grants ``role``
    cloudwatch:PutMetricData for the hub's namespace only."""

    def __init__(
        self, scope: Construct, construct_id: str, *, hub_name: str, role: iam.IRole, email: str | None
    ) -> None:
        super().__init__(scope, construct_id)
        self.namespace = namespace(hub_name)
        statement = iam.PolicyStatement(
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": self.namespace}},
        )
        policy = iam.Policy(self, "PutMetrics", statements=[statement])
        policy.attach_to_role(role)
        nag.acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "cloudwatch:PutMetricData has no resource-level permissions (the Service Authorization Reference "
            "lists no resource type for it): the condition on cloudwatch:namespace limits the CloudWatch agent "
            "to the hub's own namespace.",
        )

        self.topic = alert_topic(self, "Alerts", display_name=f"workshop-hub {hub_name} hub", email=email)
        action = cloudwatch_actions.SnsAction(self.topic)
        self.memory_alarm = self._alarm(
            "MemoryAlarm",
            MEMORY_METRIC,
            f"the hub's memory is over {ALARM_PERCENT}% used: participants' kernels will soon be killed. "
            "`hubctl status` shows it; `hubctl resize` to a bigger type, or lower hub.memory_limit",
        )
        self.disk_alarm = self._alarm(
            "DiskAlarm",
            DISK_METRIC,
            f"the hub's disk is over {ALARM_PERCENT}% full: `hubctl grow SIZE_GIB` before notebooks can no "
            "longer be saved",
        )
        for alarm in (self.memory_alarm, self.disk_alarm):
            alarm.add_alarm_action(action)

    def _alarm(self, construct_id: str, metric_name: str, description: str) -> cloudwatch.Alarm:
        metric = cloudwatch.Metric(
            namespace=self.namespace, metric_name=metric_name, statistic="Maximum", period=PERIOD
        )
        return metric.create_alarm(
            self,
            construct_id,
            alarm_description=description,
            threshold=ALARM_PERCENT,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=2,
            datapoints_to_alarm=2,
            # A stopped hub (every night) sends nothing: that is not an alarm.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
