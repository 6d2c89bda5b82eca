"""CloudFront in front of the hub, in the template: the distribution, its behaviour and policies, the
origin's name and timeouts, the one ingress rule, and the https address every output and function gets."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from aws_cdk import App, Stack
from moto import mock_aws

from stacks.constructs.hub_front import (
    ORIGIN_FACING_PREFIX_LIST,
    UNCACHED_ERROR_CODES,
    origin_domain_name,
)

from .conftest import CUSTOM_SETTINGS, Synth

pytestmark = pytest.mark.synth

# AWS's managed policies, by the ids CloudFront publishes for them.
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER = "216adef6-5c7f-47e4-b989-5492eafa07d3"


def distribution(synth: Synth) -> dict[str, Any]:
    _, resource = synth.only("AWS::CloudFront::Distribution")
    config: dict[str, Any] = resource["Properties"]["DistributionConfig"]
    return config


def evaluate(node: Any, attributes: dict[str, str]) -> Any:
    """CloudFormation's Fn::Join, Fn::Split, Fn::Select and Fn::GetAtt, with GetAtt answered from
    ``attributes`` ("LogicalId.Attribute"): what the template makes of a deploy-time value."""
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return [evaluate(item, attributes) for item in node]
    (function, argument), *rest = node.items()
    assert not rest, node
    if function == "Fn::GetAtt":
        return attributes[".".join(argument)]
    if function == "Fn::Join":
        delimiter, items = argument
        return delimiter.join(evaluate(items, attributes))
    if function == "Fn::Split":
        delimiter, source = argument
        return evaluate(source, attributes).split(delimiter)
    if function == "Fn::Select":
        index, items = argument
        return evaluate(items, attributes)[int(index)]
    raise AssertionError(f"unexpected function {function}")


@pytest.mark.parametrize("variant", ["default_synth", "custom_synth"])
def test_one_behaviour_https_only_nothing_cached_everything_forwarded(
    variant: str, request: pytest.FixtureRequest
) -> None:
    synth: Synth = request.getfixturevalue(variant)
    config = distribution(synth)
    behaviour = config["DefaultCacheBehavior"]
    headers_id, _ = synth.only("AWS::CloudFront::ResponseHeadersPolicy")
    assert behaviour == {
        "AllowedMethods": ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"],
        "CachePolicyId": CACHING_DISABLED,
        "Compress": False,
        "OriginRequestPolicyId": ALL_VIEWER,
        "ResponseHeadersPolicyId": {"Ref": headers_id},
        "TargetOriginId": config["Origins"][0]["Id"],
        "ViewerProtocolPolicy": "redirect-to-https",
    }
    assert "CacheBehaviors" not in config  # no path is treated differently
    assert config["Enabled"] is True
    assert config["HttpVersion"] == "http2"  # to browsers; CloudFront speaks HTTP/1.1 to the hub
    assert config["PriceClass"] == "PriceClass_All"


@pytest.mark.parametrize("variant", ["default_synth", "custom_synth"])
def test_origin_is_the_hubs_port_80_with_timeouts_for_a_hub(
    variant: str, request: pytest.FixtureRequest
) -> None:
    synth: Synth = request.getfixturevalue(variant)
    (origin,) = distribution(synth)["Origins"]
    assert origin["CustomOriginConfig"] == {
        "HTTPPort": 80,
        "OriginProtocolPolicy": "http-only",
        "OriginReadTimeout": 60,
        "OriginKeepaliveTimeout": 60,
        "OriginSSLProtocols": ["TLSv1.2"],
    }
    # What every request that reaches the hub was: traefik keeps it (bootstrap.sh), JupyterHub reads it.
    assert origin["OriginCustomHeaders"] == [{"HeaderName": "X-Forwarded-Proto", "HeaderValue": "https"}]
    assert "OriginPath" not in origin


@pytest.mark.parametrize(
    ("variant", "region"), [("default_synth", "eu-west-1"), ("custom_synth", "us-east-2")]
)
def test_origin_name_is_the_elastic_ips_public_dns_name(
    variant: str, region: str, request: pytest.FixtureRequest
) -> None:
    synth: Synth = request.getfixturevalue(variant)
    (origin,) = distribution(synth)["Origins"]
    eip_id, _ = synth.only("AWS::EC2::EIP")
    name = evaluate(origin["DomainName"], {f"{eip_id}.PublicIp": "203.0.113.25"})
    assert name == f"ec2-203-0-113-25.{region}.compute.amazonaws.com"
    # Never the instance's own PublicDnsName: CloudFormation reads that before the Elastic IP is associated.
    assert "PublicDnsName" not in json.dumps(origin)


def test_origin_name_in_us_east_1_is_compute_1() -> None:
    stack = Stack(App(), "Names")
    assert stack.resolve(origin_domain_name("198.51.100.7", "us-east-1")) == (
        "ec2-198-51-100-7.compute-1.amazonaws.com"
    )
    assert stack.resolve(origin_domain_name("198.51.100.7", "ap-southeast-1")) == (
        "ec2-198-51-100-7.ap-southeast-1.compute.amazonaws.com"
    )


def test_error_answers_are_never_cached(default_synth: Synth) -> None:
    errors = distribution(default_synth)["CustomErrorResponses"]
    assert errors == [{"ErrorCode": code, "ErrorCachingMinTTL": 0} for code in UNCACHED_ERROR_CODES]
    # Every status CloudFront caches by default, and no replacement page: the hub's own answer goes through.
    assert set(UNCACHED_ERROR_CODES) == {400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504}


def test_browsers_are_told_to_use_https_only(default_synth: Synth) -> None:
    _, policy = default_synth.only("AWS::CloudFront::ResponseHeadersPolicy")
    config = policy["Properties"]["ResponseHeadersPolicyConfig"]
    assert config["Name"] == "workshop-hub-eu-west-1-hsts"
    assert config["SecurityHeadersConfig"] == {
        "StrictTransportSecurity": {
            "AccessControlMaxAgeSec": 31536000,
            "IncludeSubdomains": False,
            "Override": True,
        }
    }


def test_without_a_domain_cloudfronts_own_name_and_certificate(default_synth: Synth) -> None:
    config = distribution(default_synth)
    assert "Aliases" not in config
    assert config.get("ViewerCertificate", {"CloudFrontDefaultCertificate": True}) == {
        "CloudFrontDefaultCertificate": True
    }
    assert default_synth.stack.hub_url.startswith("https://")


def test_with_a_domain_its_us_east_1_certificate_and_tls_1_2(custom_synth: Synth) -> None:
    config = distribution(custom_synth)
    assert config["Aliases"] == ["hub.example.org"]
    assert config["ViewerCertificate"] == {
        "AcmCertificateArn": CUSTOM_SETTINGS["https"]["certificate_arn"],
        "MinimumProtocolVersion": "TLSv1.2_2021",
        "SslSupportMethod": "sni-only",
    }
    outputs = custom_synth.template_json["Outputs"]
    assert outputs["HubUrl"]["Value"] == "https://hub.example.org"
    distribution_id, _ = custom_synth.only("AWS::CloudFront::Distribution")
    # Where the instructor points the domain's CNAME record.
    assert outputs["DistributionDomainName"]["Value"] == {"Fn::GetAtt": [distribution_id, "DomainName"]}


def test_every_control_function_reports_the_https_address(default_synth: Synth) -> None:
    """HUB_URL (GET /status, hubctl status) is https:// and the distribution's name, read from the hub
    stack's output."""
    control = json.loads((default_synth.outdir / "workshop-hub-control.template.json").read_text())
    hub_outputs = default_synth.template_json["Outputs"]
    distribution_id, _ = default_synth.only("AWS::CloudFront::Distribution")
    environments = [
        r["Properties"].get("Environment", {}).get("Variables", {})
        for r in control["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    ]
    urls = [variables["HUB_URL"] for variables in environments if "HUB_URL" in variables]
    assert len(urls) == 4
    for url in urls:
        prefix, reference = url["Fn::Join"][1]
        assert prefix == "https://"
        output = reference["Fn::GetStackOutput"]
        assert output["StackName"] == "workshop-hub-hub"
        assert hub_outputs[output["OutputName"]]["Value"] == {"Fn::GetAtt": [distribution_id, "DomainName"]}


def test_the_prefix_list_lookup_finds_cloudfronts_list(default_synth: Synth) -> None:
    """The lookup's own SDK call, as the custom resource makes it, against moto's EC2 (which carries
    AWS's managed prefix lists): it answers with the origin-facing list's id at the response path."""
    (lookup,) = (
        v
        for k, v in default_synth.resources("Custom::AWS").items()
        if k.startswith("FrontCloudFrontPrefixList")
    )
    call = json.loads(lookup["Properties"]["Create"])
    assert (call["service"], call["action"]) == ("EC2", "describeManagedPrefixLists")
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="eu-west-1")
        answer = ec2.describe_managed_prefix_lists(**call["parameters"])
        path = call["physicalResourceId"]["responsePath"]
        assert path == call["outputPaths"][0] == "PrefixLists.0.PrefixListId"
        (found,) = answer["PrefixLists"]
        assert found["PrefixListName"] == ORIGIN_FACING_PREFIX_LIST
        assert found["PrefixListId"].startswith("pl-")
        entries = ec2.get_managed_prefix_list_entries(PrefixListId=found["PrefixListId"])["Entries"]
        assert entries, "CloudFront's list has its ranges"
