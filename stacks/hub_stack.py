"""The hub stack: network, security group, Elastic IP, instance role, the TLJH instance and its first boot,
and CloudFront in front of it (participants reach the hub over HTTPS, and only through CloudFront).

The stack composes the constructs in stacks/constructs/ and exposes, as Python attributes, what the
control stack needs (instance, role, security group, agent bundle URL, admin secret).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct
from workshop_hub.config import WorkshopConfig

from stacks.constructs.admin_secret import AdminSecret
from stacks.constructs.hub_backups import HubBackups
from stacks.constructs.hub_budget import HubBudget
from stacks.constructs.hub_front import HubFront
from stacks.constructs.hub_instance import HubInstance
from stacks.constructs.hub_monitoring import HubMonitoring
from stacks.constructs.network import HubNetwork
from stacks.constructs.root_volume import RootVolumeId

TAG_KEY = "workshop-hub:hub"


def stack_name(config: WorkshopConfig) -> str:
    return f"{config.hub.name}-hub"


class HubStack(Stack):
    """One TLJH hub. ``cdk deploy`` of this stack ends when the hub answers (see HubInstance)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: WorkshopConfig, **kwargs: Any) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"workshop-hub {config.hub.name}: The Littlest JupyterHub on EC2",
            **kwargs,
        )
        self.config = config
        Tags.of(self).add(TAG_KEY, config.hub.name)

        self.network = HubNetwork(self, "Network", vpc_id=config.hub.vpc_id)
        self.admin_secret = AdminSecret(self, "AdminPassword", hub_name=config.hub.name)
        self.hub = HubInstance(
            self,
            "Hub",
            config=config,
            vpc=self.network.vpc,
            security_group=self.network.security_group,
            admin_secret=self.admin_secret.secret,
        )
        self.front = HubFront(
            self,
            "Front",
            hub_name=config.hub.name,
            region=config.hub.region,
            public_ip=self.hub.address,
            security_group=self.network.security_group,
            https=config.https,
        )
        self.root_volume = RootVolumeId(self, "RootVolume", instance=self.hub.instance)
        email = config.alerts.email if config.alerts else None
        self.monitoring = HubMonitoring(
            self, "Monitoring", hub_name=config.hub.name, role=self.hub.role, email=email
        )
        self.budget = HubBudget(self, "Budget", config=config, tag_key=TAG_KEY)
        self.backups = (
            HubBackups(
                self,
                "Backups",
                hub_name=config.hub.name,
                tag_key=TAG_KEY,
                schedule=config.schedule,
                retain=config.backups.retain,
            )
            if config.backups.enabled
            else None
        )

        # What the control stack builds on.
        self.vpc: ec2.IVpc = self.network.vpc
        self.security_group: ec2.SecurityGroup = self.network.security_group
        self.instance = self.hub.instance
        self.instance_id: str = self.hub.instance.instance_id
        self.role = self.hub.role
        self.secret = self.admin_secret.secret
        self.agent_asset: s3_assets.Asset = self.hub.agent_asset
        self.agent_asset_url: str = self.hub.agent_asset.http_url
        self.hub_address: str = self.hub.address
        self.hub_url: str = self.front.url

        self._outputs()

    def _outputs(self) -> None:
        secret_arn = self.admin_secret.secret.secret_arn
        CfnOutput(
            self,
            "HubUrl",
            value=self.front.url,
            description="The participants' address (HTTPS through CloudFront): hubctl link and the password sheet give it",
        )
        CfnOutput(
            self,
            "DistributionDomainName",
            value=self.front.domain_name,
            description="CloudFront's name for the hub; with https.domain, point the domain's CNAME record here",
        )
        CfnOutput(
            self,
            "DistributionId",
            value=self.front.distribution.distribution_id,
            description="The CloudFront distribution in front of the hub",
        )
        CfnOutput(
            self,
            "HubAddress",
            value=self.hub.address,
            description="The hub's Elastic IP: CloudFront's origin, reachable from CloudFront only (port 80)",
        )
        CfnOutput(
            self, "InstanceId", value=self.hub.instance.instance_id, description="The hub's EC2 instance"
        )
        CfnOutput(self, "VolumeId", value=self.root_volume.volume_id, description="The hub's root EBS volume")
        CfnOutput(
            self,
            "AdminPasswordSecret",
            value=secret_arn,
            description=(
                f"The initial password of '{self.config.hub.admin}': Secrets Manager console, or the "
                "AdminPasswordCommand output"
            ),
        )
        CfnOutput(
            self,
            "AdminPasswordCommand",
            value=(
                f"aws secretsmanager get-secret-value --region {self.region} --secret-id {secret_arn} "
                "--query SecretString --output text"
            ),
            description="Prints the admin's initial password",
        )
        CfnOutput(
            self, "AgentBundleUrl", value=self.hub.agent_asset.http_url, description="hubagent bundle (zip)"
        )
