"""The hub's root volume id, for the stack outputs.

AWS::EC2::Instance has no attribute for its volumes, so a custom resource asks EC2 once
(``DescribeVolumes`` filtered on the instance id and the root device) when the instance is created or
replaced. This costs one small Lambda function that only runs during deploys; the alternative, leaving
the id to the control plane at run time, would leave the issue's "volume id" output empty.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from stacks import nag

# Canonical's Ubuntu AMIs name the root device /dev/sda1 (it shows as nvme0n1 inside Nitro instances).
ROOT_DEVICE = "/dev/sda1"


class RootVolumeId(Construct):
    """``volume_id``: the EBS volume attached to ``instance`` as its root device."""

    def __init__(self, scope: Construct, construct_id: str, *, instance: ec2.Instance) -> None:
        super().__init__(scope, construct_id)
        call = cr.AwsSdkCall(
            service="EC2",
            action="describeVolumes",
            parameters={
                "Filters": [
                    {"Name": "attachment.instance-id", "Values": [instance.instance_id]},
                    {"Name": "attachment.device", "Values": [ROOT_DEVICE]},
                ]
            },
            # A new instance id changes the parameters, so a replaced instance gets a fresh lookup.
            physical_resource_id=cr.PhysicalResourceId.from_response("Volumes.0.VolumeId"),
            output_paths=["Volumes.0.VolumeId"],
        )
        log_group = logs.LogGroup(self, "Logs", retention=logs.RetentionDays.ONE_WEEK)
        lookup = cr.AwsCustomResource(
            self,
            "Lookup",
            on_create=call,
            on_update=call,
            log_group=log_group,
            install_latest_aws_sdk=False,
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["ec2:DescribeVolumes"], resources=["*"])]
            ),
        )
        self.volume_id: str = lookup.get_response_field("Volumes.0.VolumeId")

        nag.acknowledge(
            lookup,
            "AwsSolutions-IAM5[Resource::*]",
            "ec2:DescribeVolumes supports no resource-level permissions (the service authorization "
            "reference lists no resource type for it): '*' is the only possible resource. The role can only "
            "describe volumes.",
        )
        # The provider function is a singleton at the stack's root, named after a fixed UUID.
        provider = Stack.of(self).node.find_child(
            "AWS" + cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace("-", "")
        )
        nag.acknowledge(
            provider,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "The AWS-managed basic execution policy of CDK's AwsCustomResource provider only lets the "
            "function write its own logs.",
        )
