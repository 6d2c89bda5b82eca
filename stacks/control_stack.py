"""The control stack: the functions, table, SSM documents, schedules, state-change rule, API and alarms
that run the hub stack's instance through a workshop's life."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct
from workshop_hub.config import WorkshopConfig

from stacks.constructs.agent_documents import AgentDocuments
from stacks.constructs.alarms import ControlAlarms
from stacks.constructs.control_api import ControlApi
from stacks.constructs.control_functions import ControlFunctions
from stacks.constructs.hub_schedules import HubSchedules, InstanceStateRule, group_name
from stacks.constructs.state_table import StateTable
from stacks.hub_stack import TAG_KEY, HubStack


def stack_name(config: WorkshopConfig) -> str:
    return f"{config.hub.name}-control"


class ControlStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: WorkshopConfig, hub: HubStack, **kwargs: Any
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"workshop-hub {config.hub.name}: the control plane (API, operations, schedules)",
            **kwargs,
        )
        Tags.of(self).add(TAG_KEY, config.hub.name)
        self.table = StateTable(self, "State").table
        self.documents = AgentDocuments(
            self, "AgentDocuments", hub_name=config.hub.name, agent_url=hub.agent_asset_url
        )
        self.schedule_group = scheduler.ScheduleGroup(
            self, "ScheduleGroup", schedule_group_name=group_name(config.hub.name)
        )
        self.functions = ControlFunctions(
            self,
            "Functions",
            config=config,
            table_arn=self.table.table_arn,
            table_name=self.table.table_name,
            instance_id=hub.instance_id,
            volume_id=hub.root_volume.volume_id,
            document_names=self.documents.names,
            hub_url=hub.hub_url,
            schedule_group_name=group_name(config.hub.name),
        )
        self.schedules = HubSchedules(
            self,
            "Schedules",
            config=config,
            group=self.schedule_group,
            target=self.functions.schedule,
            role=self.functions.scheduler_role,
        )
        self.state_rule = InstanceStateRule(
            self, "InstanceState", instance_id=hub.instance_id, target=self.functions.reconcile
        )
        self.api = ControlApi(self, "Api", handler=self.functions.api, hub_name=config.hub.name)
        self.alarms = ControlAlarms(
            self,
            "Alarms",
            functions=self.functions.functions,
            email=config.alerts.email if config.alerts else None,
        )

        CfnOutput(self, "ApiUrl", value=self.api.url, description="hubctl finds the API here (IAM auth)")
        CfnOutput(
            self, "TableName", value=self.table.table_name, description="desired state, roster, operations"
        )
        CfnOutput(self, "AlertsTopic", value=self.alarms.topic.topic_arn, description="subscribe for alarms")
