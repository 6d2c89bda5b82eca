"""HTTPS in front of the hub: a CloudFront distribution, and a security group that admits only CloudFront.

Participants reach the hub at ``https://dXXXX.cloudfront.net`` (CloudFront's own certificate: no domain
needed) or at ``https.domain`` with an ACM certificate from us-east-1. CloudFront talks plain HTTP/1.1 to
the hub's port 80, which admits nothing but CloudFront's origin-facing servers (the AWS-managed prefix
list); port 443 is closed. What the hub must do behind it is on the instance (stacks/userdata/bootstrap.sh,
``configure_hub_behind_cloudfront``): trust the forwarded headers, so the scheme reaches JupyterHub as
https, and leave CloudFront's changing address out of the login form's XSRF check.

Why the origin is the Elastic IP's public DNS name, and the Elastic IP is kept for it: CloudFront takes a
DNS name (never an IP address) for a custom origin, and EC2's public name ``ec2-A-B-C-D.<region>...`` is
derived from the public IP, which changes at every stop/start without an Elastic IP. The instance's own
``PublicDnsName`` attribute cannot be used: CloudFormation reads it when the instance is created, before
the Elastic IP is associated. A VPC origin (the hub in a private subnet) would need a NAT gateway for pip,
conda and git (about $33 a month and $0.045 a GB, more than the hub) instead of $3.60 for the address.
"""

from __future__ import annotations

from aws_cdk import Duration, Fn
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct
from workshop_hub.config import Https

from stacks import nag

ORIGIN_FACING_PREFIX_LIST = "com.amazonaws.global.cloudfront.origin-facing"
# CloudFront speaks HTTP to the hub's proxy (traefik's "http" entry point); nothing else is open.
ORIGIN_PORT = 80
# The most CloudFront allows without a quota increase: a POST that takes longer (a big upload, a slow
# spawn form) gets 504. Kernels and terminals are WebSockets, which this timeout does not cut.
ORIGIN_READ_TIMEOUT = Duration.seconds(60)
# How long CloudFront keeps an idle connection to the hub open for the next request (the most without a
# quota increase); traefik's own idle timeout is 10 minutes, so CloudFront closes first.
ORIGIN_KEEPALIVE_TIMEOUT = Duration.seconds(60)
# CloudFront drops a viewer's X-Forwarded-Proto; this origin header puts back what every request that reaches
# the hub was: HTTPS (the viewer policy redirects plain HTTP before it gets here).
FORWARDED_PROTO_HEADER = {"X-Forwarded-Proto": "https"}
# Every status CloudFront would otherwise keep in its cache for 10 s: a hub that just started, or a server
# a participant just started, must answer the next request, not a cached error.
UNCACHED_ERROR_CODES = (400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504)
HSTS_MAX_AGE = Duration.days(365)


def origin_domain_name(public_ip: str, region: str) -> str:
    """EC2's public DNS name for ``public_ip`` (a deploy-time value): ``ec2-203-0-113-25.eu-west-1.compute
    .amazonaws.com``, or ``...compute-1.amazonaws.com`` in us-east-1. Built in the template, since
    CloudFormation has no replace: the four octets, split on '.' and joined with '-'."""
    octets = [Fn.select(i, Fn.split(".", public_ip)) for i in range(4)]
    suffix = "compute-1.amazonaws.com" if region == "us-east-1" else f"{region}.compute.amazonaws.com"
    return Fn.join("", ["ec2-", Fn.join("-", octets), f".{suffix}"])


class OriginFacingPrefixList(Construct):
    """``prefix_list_id``: the id of CloudFront's origin-facing prefix list in this stack's Region.

    AWS names the list the same everywhere, but its id differs per Region and is not published as a
    constant. ``ec2.PrefixList.from_lookup`` would need AWS credentials at synth; this custom resource asks
    EC2 at deploy time (``DescribeManagedPrefixLists`` by name), so the synth stays offline. It shares the
    stack's AwsCustomResource function with the root volume lookup.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        call = cr.AwsSdkCall(
            service="EC2",
            action="describeManagedPrefixLists",
            parameters={"Filters": [{"Name": "prefix-list-name", "Values": [ORIGIN_FACING_PREFIX_LIST]}]},
            physical_resource_id=cr.PhysicalResourceId.from_response("PrefixLists.0.PrefixListId"),
            output_paths=["PrefixLists.0.PrefixListId"],
        )
        lookup = cr.AwsCustomResource(
            self,
            "Lookup",
            on_create=call,
            on_update=call,
            log_group=logs.LogGroup(self, "Logs", retention=logs.RetentionDays.ONE_WEEK),
            install_latest_aws_sdk=False,
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["ec2:DescribeManagedPrefixLists"], resources=["*"])]
            ),
        )
        self.prefix_list_id: str = lookup.get_response_field("PrefixLists.0.PrefixListId")
        nag.acknowledge(
            lookup,
            "AwsSolutions-IAM5[Resource::*]",
            "ec2:DescribeManagedPrefixLists supports no resource-level permissions (the service authorization "
            "reference lists no resource type for it): '*' is the only possible resource. The role can only "
            "read prefix lists, at deploy time.",
        )


class HubFront(Construct):
    """``distribution``, ``url`` (https), ``domain_name`` (the distribution's own), ``origin_domain``.

    Adds the one ingress rule the hub has to ``security_group``: port 80 from CloudFront's origin-facing
    prefix list (which counts as 55 of the group's 60 rules).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        hub_name: str,
        region: str,
        public_ip: str,
        security_group: ec2.SecurityGroup,
        https: Https | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.origin_domain: str = origin_domain_name(public_ip, region)

        prefix_list = OriginFacingPrefixList(self, "CloudFrontPrefixList")
        security_group.add_ingress_rule(
            ec2.Peer.prefix_list(prefix_list.prefix_list_id),
            ec2.Port.tcp(ORIGIN_PORT),
            "the hub's proxy, from CloudFront's origin-facing servers only",
        )

        origin = origins.HttpOrigin(
            self.origin_domain,
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTP_ONLY,
            http_port=ORIGIN_PORT,
            read_timeout=ORIGIN_READ_TIMEOUT,
            keepalive_timeout=ORIGIN_KEEPALIVE_TIMEOUT,
            custom_headers=FORWARDED_PROTO_HEADER,
        )
        headers = cloudfront.ResponseHeadersPolicy(
            self,
            "Hsts",
            # CloudFront is global: the Region keeps two hubs of one name in one account apart.
            response_headers_policy_name=f"{hub_name}-{region}-hsts",
            comment=f"workshop-hub {hub_name}: browsers ask for HTTPS only, for a year",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=HSTS_MAX_AGE, include_subdomains=False, override=True
                )
            ),
        )
        certificate = (
            acm.Certificate.from_certificate_arn(self, "Certificate", https.certificate_arn)
            if https
            else None
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"workshop-hub {hub_name}: HTTPS in front of the hub",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                # A hub's every answer is per user and live: nothing is cached, everything is forwarded
                # (Host and Origin for the WebSocket origin check, cookies, Authorization, query strings).
                cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER,
                response_headers_policy=headers,
                # Without caching CloudFront cannot compress; Accept-Encoding reaches the hub as the browser sent it.
                compress=False,
            ),
            error_responses=[
                cloudfront.ErrorResponse(http_status=code, ttl=Duration.seconds(0))
                for code in UNCACHED_ERROR_CODES
            ],
            domain_names=[https.domain] if https else None,
            certificate=certificate,
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 if https else None,
            price_class=cloudfront.PriceClass.PRICE_CLASS_ALL,
            enable_ipv6=True,
        )
        self.domain_name: str = self.distribution.distribution_domain_name
        self.url: str = f"https://{https.domain}" if https else f"https://{self.domain_name}"
        self._acknowledge(https)

    def _acknowledge(self, https: Https | None) -> None:
        nag.acknowledge(
            self.distribution,
            "AwsSolutions-CFR1",
            "No geo restriction: a workshop's participants join from wherever they are, and the hub has its "
            "own login.",
        )
        nag.acknowledge(
            self.distribution,
            "AwsSolutions-CFR2",
            "No AWS WAF: a web ACL costs $5 a month plus $1 a rule, more than the hub, for one workshop "
            "server whose every page but the login needs a logged-in user.",
        )
        nag.acknowledge(
            self.distribution,
            "AwsSolutions-CFR3",
            "No CloudFront access logs: they would keep every participant's address in a bucket that needs "
            "ACLs; the hub logs its own requests, and the VPC flow log keeps rejected traffic.",
        )
        nag.acknowledge(
            self.distribution,
            "AwsSolutions-CFR5",
            "CloudFront reaches the hub over HTTP on port 80 (OriginSSLProtocols, unused, is TLSv1.2 only): "
            "an HTTPS origin needs a certificate for the origin's name, and EC2's public DNS name can have "
            "none. The hop runs from CloudFront's origin-facing servers to the instance on AWS's network, "
            "and the security group admits nothing else.",
        )
        if https is None:
            nag.acknowledge(
                self.distribution,
                "AwsSolutions-CFR4",
                "The distribution's own *.cloudfront.net certificate comes with the security policy AWS sets "
                "for it (TLSv1 minimum; no other can be chosen without a domain), and browsers negotiate TLS "
                "1.2 or 1.3. With https.domain the distribution requires TLSv1.2_2021.",
            )
