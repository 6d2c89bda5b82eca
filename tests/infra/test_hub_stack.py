"""The hub stack's template: network exposure, instance settings, role, outputs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.constructs.hub_instance import READY_TIMEOUT_SECONDS, SSM_AGENT_ACTIONS, architecture
from stacks.hub_stack import TAG_KEY
from tests.support.iam_policy import policy_of
from tests.support.service_access import SymbolicResolver

from .conftest import Synth

pytestmark = pytest.mark.synth

# AmazonSSMManagedInstanceCore, policy version v2 (AWS managed policy reference): what the role carried.
SSM_CORE_ACTIONS = {
    "ssm:DescribeAssociation",
    "ssm:GetDeployablePatchSnapshotForInstance",
    "ssm:GetDocument",
    "ssm:DescribeDocument",
    "ssm:GetManifest",
    "ssm:GetParameter",
    "ssm:GetParameters",
    "ssm:ListAssociations",
    "ssm:ListInstanceAssociations",
    "ssm:PutInventory",
    "ssm:PutComplianceItems",
    "ssm:PutConfigurePackageResult",
    "ssm:UpdateAssociationStatus",
    "ssm:UpdateInstanceAssociationStatus",
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
    "ec2messages:AcknowledgeMessage",
    "ec2messages:DeleteMessage",
    "ec2messages:FailMessage",
    "ec2messages:GetEndpoint",
    "ec2messages:GetMessages",
    "ec2messages:SendReply",
}


def hub_security_group(synth: Synth) -> dict[str, Any]:
    _, instance = synth.only("AWS::EC2::Instance")
    (group_ref,) = instance["Properties"]["SecurityGroupIds"]
    group: dict[str, Any] = synth.template_json["Resources"][group_ref["Fn::GetAtt"][0]]
    return group


@pytest.mark.parametrize("variant", ["default_synth", "custom_synth"])
def test_ingress_is_port_80_from_cloudfront_only(variant: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(variant)
    group = hub_security_group(synth)
    # Nothing in the group itself: no 0.0.0.0/0, no 443, no SSH.
    assert "SecurityGroupIngress" not in group["Properties"]
    (rule,) = synth.resources("AWS::EC2::SecurityGroupIngress").values()
    lookup_id, lookup = next(
        (k, v) for k, v in synth.resources("Custom::AWS").items() if k.startswith("FrontCloudFrontPrefixList")
    )
    group_id, _ = next(iter((k, v) for k, v in synth.resources("AWS::EC2::SecurityGroup").items()))
    assert rule["Properties"] == {
        "Description": "the hub's proxy, from CloudFront's origin-facing servers only",
        "FromPort": 80,
        "ToPort": 80,
        "IpProtocol": "tcp",
        "GroupId": {"Fn::GetAtt": [group_id, "GroupId"]},
        "SourcePrefixListId": {"Fn::GetAtt": [lookup_id, "PrefixLists.0.PrefixListId"]},
    }
    # No other group that could be attached.
    assert len(synth.resources("AWS::EC2::SecurityGroup")) == 1
    # The prefix list is looked up by AWS's name for it at deploy time (the synth needs no credentials).
    create = json.loads(lookup["Properties"]["Create"])
    assert create["action"] == "describeManagedPrefixLists"
    assert create["parameters"] == {
        "Filters": [{"Name": "prefix-list-name", "Values": ["com.amazonaws.global.cloudfront.origin-facing"]}]
    }
    assert create["outputPaths"] == ["PrefixLists.0.PrefixListId"]
    assert lookup["Properties"]["Update"] == lookup["Properties"]["Create"]


def test_outbound_is_open_for_installs(default_synth: Synth) -> None:
    egress = hub_security_group(default_synth)["Properties"]["SecurityGroupEgress"]
    assert egress == [
        {"CidrIp": "0.0.0.0/0", "Description": "Allow all outbound traffic by default", "IpProtocol": "-1"}
    ]


@pytest.mark.parametrize("variant", ["default_synth", "custom_synth"])
def test_imdsv2_is_required_with_hop_limit_one(variant: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(variant)
    _, instance = synth.only("AWS::EC2::Instance")
    assert instance["Properties"]["MetadataOptions"] == {
        "HttpEndpoint": "enabled",
        "HttpPutResponseHopLimit": 1,
        "HttpTokens": "required",
    }
    assert synth.resources("AWS::EC2::LaunchTemplate") == {}


@pytest.mark.parametrize(("variant", "size"), [("default_synth", 30), ("custom_synth", 57)])
def test_root_volume_is_encrypted_gp3_of_the_configured_size(
    variant: str, size: int, request: pytest.FixtureRequest
) -> None:
    synth: Synth = request.getfixturevalue(variant)
    assert synth.config.hub.volume_gib == size
    _, instance = synth.only("AWS::EC2::Instance")
    assert instance["Properties"]["BlockDeviceMappings"] == [
        {
            "DeviceName": "/dev/sda1",
            # kept when the instance is replaced or destroyed: the participants' homes are on it
            "Ebs": {"DeleteOnTermination": False, "Encrypted": True, "VolumeSize": size, "VolumeType": "gp3"},
        }
    ]
    assert synth.resources("AWS::EC2::Volume") == {}


def test_elastic_ip_is_associated_with_the_instance(default_synth: Synth) -> None:
    instance_id, _ = default_synth.only("AWS::EC2::Instance")
    eip_id, eip = default_synth.only("AWS::EC2::EIP")
    assert eip["Properties"]["Domain"] == "vpc"
    _, association = default_synth.only("AWS::EC2::EIPAssociation")
    assert association["Properties"] == {
        "AllocationId": {"Fn::GetAtt": [eip_id, "AllocationId"]},
        "InstanceId": {"Ref": instance_id},
    }


def test_instance_type_and_ubuntu_image_follow_the_settings(
    default_synth: Synth, custom_synth: Synth
) -> None:
    for synth, instance_type, arch in (
        (default_synth, "t3.medium", "amd64"),
        (custom_synth, "t4g.large", "arm64"),
    ):
        _, instance = synth.only("AWS::EC2::Instance")
        assert instance["Properties"]["InstanceType"] == instance_type
        parameter = synth.template_json["Parameters"][instance["Properties"]["ImageId"]["Ref"]]
        assert parameter == {
            "Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
            "Default": f"/aws/service/canonical/ubuntu/server/24.04/stable/current/{arch}/hvm/ebs-gp3/ami-id",
        }


@pytest.mark.parametrize(
    ("instance_type", "arch"),
    [
        ("t3.medium", "amd64"),
        ("t4g.large", "arm64"),
        ("m7g.xlarge", "arm64"),
        ("c7gn.large", "arm64"),
        ("r8gd.2xlarge", "arm64"),
        ("g5g.xlarge", "arm64"),
        ("g5.xlarge", "amd64"),
        ("g4ad.xlarge", "amd64"),
        ("m7i-flex.large", "amd64"),
        ("c6in.large", "amd64"),
        ("a1.large", "arm64"),  # the first Graviton: no 'g' in its name
    ],
)
def test_architecture_follows_the_instance_family(instance_type: str, arch: str) -> None:
    assert architecture(instance_type) == arch


def instance_role(synth: Synth) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """(logical id, role, every statement of every policy attached to it)."""
    _, instance = synth.only("AWS::EC2::Instance")
    profile = synth.template_json["Resources"][instance["Properties"]["IamInstanceProfile"]["Ref"]]
    (role_ref,) = profile["Properties"]["Roles"]
    role_id = role_ref["Ref"]
    role = synth.template_json["Resources"][role_id]
    statements = [
        statement
        for p in synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for statement in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    # An AWS-managed policy counts with what it grants (the only one this test can read: SSM core).
    for arn in role["Properties"].get("ManagedPolicyArns", []):
        assert json.dumps(arn).endswith(':iam::aws:policy/AmazonSSMManagedInstanceCore"]]}'), arn
        statements.append({"Effect": "Allow", "Action": sorted(SSM_CORE_ACTIONS), "Resource": "*"})
    return role_id, role, statements


def test_instance_role_carries_only_what_is_listed(default_synth: Synth) -> None:
    synth = default_synth
    _, role, statements = instance_role(synth)
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}}
    ]
    # No AWS-managed policy: AmazonSSMManagedInstanceCore's ssm:GetParameter* covers every parameter.
    assert "ManagedPolicyArns" not in role["Properties"]
    assert "Policies" not in role["Properties"]
    assert not any(name in role["Properties"] for name in ("PermissionsBoundary", "Path"))

    secret_id, _ = synth.only("AWS::SecretsManager::Secret")
    asset_key = synth.stack.agent_asset.s3_object_key
    agent, secret_read, bundle_read, metrics = statements  # exactly these four
    assert agent == {"Action": sorted(SSM_AGENT_ACTIONS), "Effect": "Allow", "Resource": "*"}
    assert secret_read == {
        "Action": "secretsmanager:GetSecretValue",
        "Effect": "Allow",
        "Resource": {"Ref": secret_id},
    }
    assert bundle_read["Action"] == "s3:GetObject" and bundle_read["Effect"] == "Allow"
    assert f"/{asset_key}" in json.dumps(bundle_read["Resource"]) and "*" not in json.dumps(
        bundle_read["Resource"]
    )
    # The CloudWatch agent's own statement, on its namespace only (checked in test_hub_safety.py).
    assert metrics["Action"] == "cloudwatch:PutMetricData" and "cloudwatch:namespace" in json.dumps(metrics)
    # Nothing the managed policy did not have, and none of what the hub does not use.
    assert set(SSM_AGENT_ACTIONS) <= SSM_CORE_ACTIONS
    assert SSM_CORE_ACTIONS - set(SSM_AGENT_ACTIONS) == {
        "ssm:GetParameter",
        "ssm:GetParameters",
        "ssm:GetDocument",
        "ssm:DescribeDocument",
        "ssm:DescribeAssociation",
        "ssm:ListAssociations",
        "ssm:UpdateAssociationStatus",
        "ssm:UpdateInstanceAssociationStatus",
        "ssm:GetDeployablePatchSnapshotForInstance",
        "ssm:GetManifest",
        "ssm:PutInventory",
        "ssm:PutComplianceItems",
        "ssm:PutConfigurePackageResult",
    }


@pytest.mark.parametrize(
    ("action", "resource", "allowed"),
    [
        # What a hub admin (sudo: root, so the role's credentials) must NOT get.
        ("ssm:GetParameter", "arn:aws:ssm:eu-west-1:<account>:parameter/prod/database-password", False),
        ("ssm:GetParameters", "arn:aws:ssm:eu-west-1:<account>:parameter/anything", False),
        ("ssm:GetParametersByPath", "arn:aws:ssm:eu-west-1:<account>:parameter/", False),
        ("ssm:GetDocument", "arn:aws:ssm:eu-west-1:<account>:document/workshop-hub-data-sync", False),
        ("ssm:SendCommand", "arn:aws:ssm:eu-west-1::document/AWS-RunShellScript", False),
        (
            "secretsmanager:GetSecretValue",
            "arn:aws:secretsmanager:eu-west-1:<account>:secret:other-AbCdEf",
            False,
        ),
        ("s3:GetObject", "arn:aws:s3:::cdk-hnb659fds-assets-<account>-eu-west-1/other.zip", False),
        ("dynamodb:GetItem", "arn:aws:dynamodb:eu-west-1:<account>:table/workshop-hub", False),
        (
            "lambda:InvokeFunction",
            "arn:aws:lambda:eu-west-1:<account>:function:workshop-hub-worker:live",
            False,
        ),
        ("ec2:StopInstances", "arn:aws:ec2:eu-west-1:<account>:instance/i-0123456789abcdef0", False),
        # What the SSM agent needs for Run Command and Session Manager.
        ("ssm:UpdateInstanceInformation", "*", True),
        ("ec2messages:GetMessages", "*", True),
        ("ssmmessages:OpenDataChannel", "*", True),
    ],
)
def test_what_the_instance_role_lets_a_hub_admin_do(
    default_synth: Synth, action: str, resource: str, allowed: bool
) -> None:
    _, _, statements = instance_role(default_synth)
    # Unknown references stay themselves (<AdminPasswordSecret...>): another secret's ARN never matches.
    policy = policy_of(
        statements, SymbolicResolver(default_synth.template_json, default_synth.config.hub.region)
    )
    assert bool(policy.allows(action, resource)) is allowed


def test_wildcard_resources_only_for_actions_without_resource_level_permissions(default_synth: Synth) -> None:
    wildcards = []
    for logical_id, policy in default_synth.resources("AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            if "*" in resources:
                prefix = next(
                    p
                    for p in ("RootVolumeLookup", "FrontCloudFrontPrefixList", "Monitoring", "Backups", "Hub")
                    if logical_id.startswith(p)
                )
                wildcards.append((prefix, statement["Action"], statement.get("Condition")))
    assert sorted(wildcards, key=str) == sorted(
        [
            ("RootVolumeLookup", "ec2:DescribeVolumes", None),
            # the deploy-time lookup of CloudFront's origin-facing prefix list
            ("FrontCloudFrontPrefixList", "ec2:DescribeManagedPrefixLists", None),
            # the CloudWatch agent: only in the hub's namespace
            (
                "Monitoring",
                "cloudwatch:PutMetricData",
                {"StringEquals": {"cloudwatch:namespace": "WorkshopHub/workshop-hub"}},
            ),
            # the SSM agent's own calls: no resource types (ec2messages, ssmmessages) or the instance itself
            ("Hub", sorted(SSM_AGENT_ACTIONS), None),
            # Data Lifecycle Manager finds the tagged volume and its own snapshots
            ("Backups", ["ec2:DescribeInstances", "ec2:DescribeSnapshots", "ec2:DescribeVolumes"], None),
        ],
        key=str,
    )


def test_admin_password_is_generated_without_colon_or_punctuation(default_synth: Synth) -> None:
    _, secret = default_synth.only("AWS::SecretsManager::Secret")
    generate = secret["Properties"]["GenerateSecretString"]
    assert generate["ExcludePunctuation"] is True
    assert generate["IncludeSpace"] is False
    assert generate["PasswordLength"] >= 20
    assert "SecretString" not in secret["Properties"]


def test_deploy_waits_for_the_hub(default_synth: Synth) -> None:
    synth = default_synth
    instance_id, _ = synth.only("AWS::EC2::Instance")
    handle_id, _ = synth.only("AWS::CloudFormation::WaitConditionHandle")
    _, wait = synth.only("AWS::CloudFormation::WaitCondition")
    assert wait["Properties"] == {
        "Count": 1,
        "Handle": {"Ref": handle_id},
        "Timeout": str(READY_TIMEOUT_SECONDS),
    }
    assert instance_id in wait["DependsOn"]


def test_outputs(default_synth: Synth, custom_synth: Synth) -> None:
    outputs = default_synth.template_json["Outputs"]
    eip_id, _ = default_synth.only("AWS::EC2::EIP")
    instance_id, _ = default_synth.only("AWS::EC2::Instance")
    secret_id, _ = default_synth.only("AWS::SecretsManager::Secret")
    distribution_id, _ = default_synth.only("AWS::CloudFront::Distribution")
    domain = {"Fn::GetAtt": [distribution_id, "DomainName"]}
    assert outputs["HubUrl"]["Value"] == {"Fn::Join": ["", ["https://", domain]]}
    assert outputs["DistributionDomainName"]["Value"] == domain
    assert outputs["DistributionId"]["Value"] == {"Ref": distribution_id}
    assert outputs["HubAddress"]["Value"] == {"Fn::GetAtt": [eip_id, "PublicIp"]}
    assert outputs["InstanceId"]["Value"] == {"Ref": instance_id}
    assert outputs["VolumeId"]["Value"]["Fn::GetAtt"][1] == "Volumes.0.VolumeId"
    assert outputs["AdminPasswordSecret"]["Value"] == {"Ref": secret_id}
    command = outputs["AdminPasswordCommand"]["Value"]["Fn::Join"][1]
    assert command == [
        "aws secretsmanager get-secret-value --region eu-west-1 --secret-id ",
        {"Ref": secret_id},
        " --query SecretString --output text",
    ]
    assert custom_synth.template_json["Outputs"]["HubUrl"]["Value"] == "https://hub.example.org"


def test_volume_lookup_asks_for_the_instance_root_device(default_synth: Synth) -> None:
    instance_id, _ = default_synth.only("AWS::EC2::Instance")
    (lookup,) = (v for k, v in default_synth.resources("Custom::AWS").items() if k.startswith("RootVolume"))
    create = json.dumps(lookup["Properties"]["Create"])
    assert "describeVolumes" in create
    assert "attachment.instance-id" in create
    assert instance_id in create
    assert "/dev/sda1" in create


def test_every_taggable_resource_carries_the_hub_tag(custom_synth: Synth) -> None:
    untagged = []
    for logical_id, resource in custom_synth.template_json["Resources"].items():
        tags = resource.get("Properties", {}).get("Tags")
        if tags is None:
            continue
        values = tags if isinstance(tags, list) else [{"Key": k, "Value": v} for k, v in tags.items()]
        if {"Key": TAG_KEY, "Value": "geo-course"} not in values:
            untagged.append(logical_id)
    assert untagged == []
    for type_name in ("AWS::EC2::Instance", "AWS::EC2::EIP", "AWS::EC2::VPC", "AWS::SecretsManager::Secret"):
        assert all("Tags" in r["Properties"] for r in custom_synth.resources(type_name).values()), type_name


def test_stack_name_and_region_follow_the_settings(default_synth: Synth, custom_synth: Synth) -> None:
    assert default_synth.stack.stack_name == "workshop-hub-hub"
    assert custom_synth.stack.stack_name == "geo-course-hub"
    assert custom_synth.stack.region == "us-east-2"


def test_exported_attributes_for_the_control_stack(default_synth: Synth) -> None:
    hub = default_synth.stack
    assert hub.instance_id == hub.instance.instance_id
    assert hub.role is hub.hub.role
    assert hub.secret is hub.admin_secret.secret
    assert hub.agent_asset_url == hub.agent_asset.http_url
    assert hub.security_group is hub.network.security_group
