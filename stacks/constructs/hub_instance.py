"""The TLJH instance: role, Ubuntu image, root volume, Elastic IP, first-boot script and the readiness wait."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnWaitCondition, CfnWaitConditionHandle, Stack, Stage, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct
from workshop_hub import ec2_rules
from workshop_hub.config import WorkshopConfig

from stacks import bundles, nag
from stacks.constructs.hub_monitoring import agent_config
from stacks.user_data import BootstrapValues, render

UBUNTU_AMI_PARAMETER = "/aws/service/canonical/ubuntu/server/24.04/stable/current/{arch}/hvm/ebs-gp3/ami-id"
ROOT_DEVICE = "/dev/sda1"
# What the SSM agent itself calls: its health ping and association poll (ssm:), Run Command's messages
# (ec2messages:), Session Manager's channels (ssmmessages:). AWS's AmazonSSMManagedInstanceCore grants
# these and more on "*": ssm:GetParameter/GetParameters on every parameter of the account, documents,
# inventory, patching, compliance and association updates, none of which the hub uses.
SSM_AGENT_ACTIONS = (
    "ssm:UpdateInstanceInformation",
    "ssm:ListInstanceAssociations",
    "ec2messages:AcknowledgeMessage",
    "ec2messages:DeleteMessage",
    "ec2messages:FailMessage",
    "ec2messages:GetEndpoint",
    "ec2messages:GetMessages",
    "ec2messages:SendReply",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
)
# TLJH installs in 5-10 minutes; the packages and a slow mirror can add more.
READY_TIMEOUT_SECONDS = 1800

# Canonical's names of EC2's architectures.
CANONICAL_ARCHITECTURE = {"x86_64": "amd64", "arm64": "arm64"}


class ArchitectureChange(ValueError):
    """hub.instance_type would swap the hub's image for another architecture: CloudFormation would replace
    the instance, and with it the root disk that holds every participant's home."""


def architecture(instance_type: str) -> str:
    """``arm64`` or ``amd64`` (Canonical's names): CDK's rule (workshop_hub.ec2_rules), a1.* included."""
    return CANONICAL_ARCHITECTURE[ec2_rules.architecture(instance_type)]


def _cached_image_key(stack: Stack, arch: str) -> str:
    """The cdk.context.json entry in which a deploy caches the Ubuntu image of ``arch``."""
    parameter = UBUNTU_AMI_PARAMETER.format(arch=arch)
    return f"ssm:account={stack.account}:parameterName={parameter}:region={stack.region}"


def refuse_architecture_change(scope: Construct, instance_type: str) -> None:
    """Refuse, at synth, an instance type of another architecture than this hub was deployed with: the
    cached image (cdk.context.json) records it. Without an account (offline synth) nothing is cached."""
    stack = Stack.of(scope)
    if Token.is_unresolved(stack.account) or Token.is_unresolved(stack.region):
        return
    wanted = architecture(instance_type)
    if scope.node.try_get_context(_cached_image_key(stack, wanted)) is not None:
        return
    for deployed in sorted(set(CANONICAL_ARCHITECTURE.values()) - {wanted}):
        key = _cached_image_key(stack, deployed)
        if scope.node.try_get_context(key) is not None:
            raise ArchitectureChange(
                f"hub.instance_type: {instance_type!r} runs {wanted} images, but this hub was deployed with an "
                f"{deployed} image (cdk.context.json: {key}). Another architecture swaps the image, which "
                "REPLACES the instance and its root disk with every participant's home. Choose an "
                f"{deployed} type; to build a new hub on purpose, remove that entry from cdk.context.json "
                "(the old root volume is then kept, detached: it is not deleted with its instance)."
            )


def ubuntu_image(scope: Construct, instance_type: str) -> ec2.IMachineImage:
    """Ubuntu 24.04 LTS from Canonical's public SSM parameter.

    When the stack has a concrete account (a deploy: the CDK CLI sets CDK_DEFAULT_ACCOUNT from the
    credentials), the image id is looked up once and cached in cdk.context.json: resolving the parameter
    at every deploy would replace the instance, and lose the hub's disk, whenever Canonical publishes a
    new image. Without an account (offline synth, tests) the parameter is resolved by CloudFormation.
    """
    refuse_architecture_change(scope, instance_type)
    parameter = UBUNTU_AMI_PARAMETER.format(arch=architecture(instance_type))
    account_known = not Token.is_unresolved(Stack.of(scope).account)
    return ec2.MachineImage.from_ssm_parameter(
        parameter, os=ec2.OperatingSystemType.LINUX, cached_in_context=account_known
    )


class HubInstance(Construct):
    """The hub: ``instance``, ``role``, ``address`` (Elastic IP), ``agent_asset``.

    ``cdk deploy`` waits for the hub through a CloudFormation wait condition: the first-boot script
    PUTs ``{"Status": "SUCCESS"|"FAILURE", "Reason", "UniqueId", "Data"}`` to the wait handle's presigned
    URL once ``/hub/api`` answers, or on any error with the tail of /opt/tljh/installer.log as the
    reason, which CloudFormation shows in the stack events and the failed deploy prints. Chosen over a
    creation policy because cfn-signal (aws-cfn-bootstrap) is not on Ubuntu and would have to be
    installed first, and over a polling custom resource because the presigned URL needs no IAM
    permission on the instance and no Lambda. The wait covers the instance's creation: a later change of
    user data updates the instance (stop/start) without running the script again.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: WorkshopConfig,
        vpc: ec2.IVpc,
        security_group: ec2.ISecurityGroup,
        admin_secret: secretsmanager.ISecret,
    ) -> None:
        super().__init__(scope, construct_id)
        hub = config.hub

        stage = Stage.of(self)
        if stage is None:
            raise ValueError("HubInstance must be inside a CDK App or Stage (it stages the hubagent bundle)")
        staging = Path(stage.outdir) / ".hubagent-staging"
        staging.mkdir(parents=True, exist_ok=True)
        self.agent_asset = s3_assets.Asset(self, "AgentBundle", path=str(bundles.stage_agent(staging)))

        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description=f"workshop-hub {hub.name}: the hub instance (SSM agent, first boot)",
        )
        # A hub admin has sudo, so holds these credentials too: the agent's own calls, nothing in the account.
        self.role.add_to_policy(iam.PolicyStatement(actions=list(SSM_AGENT_ACTIONS), resources=["*"]))
        nag.acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "Only the SSM agent's own calls, in place of AmazonSSMManagedInstanceCore (which adds "
            "ssm:GetParameter* on every parameter of the account): ec2messages and ssmmessages define no "
            "resource types, and ssm:UpdateInstanceInformation and ListInstanceAssociations act on the "
            "calling instance, the only one this role serves.",
        )
        # First boot reads the admin's initial password; nothing else in Secrets Manager.
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["secretsmanager:GetSecretValue"], resources=[admin_secret.secret_arn]
            )
        )
        # The SSM documents' aws:downloadContent fetches the hubagent bundle with the instance's credentials.
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[self.agent_asset.bucket.arn_for_objects(self.agent_asset.s3_object_key)],
            )
        )

        # Made before the script, which waits for it: associating it drops the launch address mid-download.
        eip = ec2.CfnEIP(self, "Address", domain="vpc")
        ready_handle = CfnWaitConditionHandle(self, "ReadyHandle")
        script = render(
            BootstrapValues(
                hub_name=hub.name,
                tljh_version=hub.tljh_version,
                admin_user=hub.admin,
                admin_secret_arn=admin_secret.secret_arn,
                region=hub.region,
                wait_handle_url=ready_handle.ref,
                pip_packages=tuple(config.packages.pip),
                conda_packages=tuple(config.packages.conda),
                memory_limit=hub.memory_limit or "",
                cloudwatch_agent_config=agent_config(hub.name),
                elastic_ip=eip.attr_public_ip,
            )
        )

        self.instance = ec2.Instance(
            self,
            "Instance",
            instance_name=f"{hub.name}-hub",
            instance_type=ec2.InstanceType(hub.instance_type),
            machine_image=ubuntu_image(self, hub.instance_type),
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            security_group=security_group,
            role=self.role,
            user_data=ec2.UserData.custom(script),
            # A changed script must not replace the instance: its disk holds the participants' homes.
            user_data_causes_replacement=False,
            http_endpoint=True,
            http_tokens=ec2.HttpTokens.REQUIRED,
            http_put_response_hop_limit=1,
            block_devices=[
                ec2.BlockDevice(
                    device_name=ROOT_DEVICE,
                    volume=ec2.BlockDeviceVolume.ebs(
                        hub.volume_gib,
                        volume_type=ec2.EbsDeviceVolumeType.GP3,
                        encrypted=True,
                        # Kept when the instance goes (a replacement, a destroy): it holds every
                        # participant's home. Delete it by hand once the workshop's work is saved.
                        delete_on_termination=False,
                    ),
                )
            ],
            propagate_tags_to_volume_on_creation=True,
            detailed_monitoring=False,
            disable_api_termination=False,
        )
        nag.acknowledge(
            self.instance,
            "AwsSolutions-EC28",
            "Detailed (1-minute) monitoring costs more than it tells for one workshop hub; the control plane "
            "checks the hub's health itself and 5-minute basic metrics remain.",
        )
        nag.acknowledge(
            self.instance,
            "AwsSolutions-EC29",
            "The hub's lifetime is the stack's: `cdk destroy` after the workshop must be able to remove it, "
            "which API termination protection would block. The instance is not in an Auto Scaling group "
            "because it is a single stateful server that the control plane stops, resizes and starts.",
        )

        ec2.CfnEIPAssociation(
            self,
            "AddressAssociation",
            allocation_id=eip.attr_allocation_id,
            instance_id=self.instance.instance_id,
        )
        # CloudFront's origin is this address's public DNS name (stacks/constructs/hub_front.py): it must
        # survive stop and start, which is why the hub keeps an Elastic IP.
        self.address: str = eip.attr_public_ip

        ready = CfnWaitCondition(
            self, "Ready", handle=ready_handle.ref, timeout=str(READY_TIMEOUT_SECONDS), count=1
        )
        ready.node.add_dependency(self.instance)
