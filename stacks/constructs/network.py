"""The hub's network: a VPC with public subnets only (or an existing one) and the security group."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct


class HubNetwork(Construct):
    """``vpc`` and ``security_group`` for the hub.

    A new VPC has public subnets in at most two zones and no NAT gateway (a NAT gateway costs more than
    the hub). Rejected traffic goes to a flow log kept for a week: cheap, and enough to see a scan.
    With ``vpc_id`` the existing VPC is looked up at synth time (``ec2.Vpc.from_lookup``), which needs
    AWS credentials and an account on the stack; the result is cached in cdk.context.json.
    """

    def __init__(self, scope: Construct, construct_id: str, *, vpc_id: str | None = None) -> None:
        super().__init__(scope, construct_id)
        if vpc_id:
            self.vpc: ec2.IVpc = ec2.Vpc.from_lookup(self, "Vpc", vpc_id=vpc_id)
        else:
            flow_log_group = logs.LogGroup(
                self,
                "FlowLogs",
                retention=logs.RetentionDays.ONE_WEEK,
                removal_policy=RemovalPolicy.DESTROY,
            )
            self.vpc = ec2.Vpc(
                self,
                "Vpc",
                ip_addresses=ec2.IpAddresses.cidr("10.42.0.0/16"),
                max_azs=2,
                nat_gateways=0,
                subnet_configuration=[
                    ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)
                ],
                # The default security group is never used; stripping its rules needs a custom resource.
                restrict_default_security_group=False,
                flow_logs={
                    "Rejected": ec2.FlowLogOptions(
                        destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
                        traffic_type=ec2.FlowLogTrafficType.REJECT,
                    )
                },
            )

        self.security_group = ec2.SecurityGroup(
            self,
            "HubSecurityGroup",
            vpc=self.vpc,
            description="workshop hub: HTTP from CloudFront only (HubFront adds it); no SSH (use SSM Session Manager)",
            # git, pip, conda, TLJH's bootstrap and the SSM agent all reach out to the internet.
            allow_all_outbound=True,
        )
