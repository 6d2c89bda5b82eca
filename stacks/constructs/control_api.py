"""The instructor's HTTP API: API Gateway REST, IAM (SigV4) on every method, one proxy function behind it.

Routes and bodies are validated by the function (Powertools resolver + pydantic, with the rules shared
with hubagent); API Gateway adds authentication, stage throttling and access logs.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks import nag

# (path, methods): the table of the README's API section.
ROUTES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("status", ("GET",)),
    ("users", ("GET", "POST")),
    ("users/passwords", ("POST",)),
    ("users/{name}", ("DELETE",)),
    ("instance/start", ("POST",)),
    ("instance/stop", ("POST",)),
    ("instance/resize", ("POST",)),
    ("instance/keep-awake", ("POST",)),
    ("volume/grow", ("POST",)),
    ("data/sync", ("POST",)),
    ("packages", ("POST",)),
    ("packages/{spec}", ("DELETE",)),
    ("reconcile", ("POST",)),
    ("operations", ("GET",)),
    ("operations/{id}", ("GET",)),
)

# Sized for a room: 200 participants registering at once (a form, a script, two assistants) must all be
# accepted. The token bucket holds BURST requests and refills at RATE per second; a request that finds it
# empty gets 429, which hubctl retries with backoff. Still a cap on a runaway script.
THROTTLE_RATE_PER_SECOND = 50
THROTTLE_BURST = 200


class ControlApi(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, handler: lambda_.IFunction, hub_name: str
    ) -> None:
        super().__init__(scope, construct_id)
        access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=f"{hub_name}-control",
            description=f"workshop-hub {hub_name}: the instructor's API (IAM auth)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # The CloudWatch role is one per account and Region (AWS::ApiGateway::Account): a stack that
            # managed it would overwrite another hub's and break every API's logging when destroyed.
            cloud_watch_role=False,
            deploy_options=apigw.StageOptions(
                stage_name="v1",
                throttling_rate_limit=THROTTLE_RATE_PER_SECOND,
                throttling_burst_limit=THROTTLE_BURST,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                tracing_enabled=True,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
            default_method_options=apigw.MethodOptions(authorization_type=apigw.AuthorizationType.IAM),
        )
        validator = self.api.add_request_validator(
            "Parameters", validate_request_parameters=True, validate_request_body=True
        )
        integration = apigw.LambdaIntegration(handler, proxy=True)
        for path, methods in ROUTES:
            resource = self.api.root.resource_for_path(path)
            for method in methods:
                resource.add_method(
                    method,
                    integration,
                    authorization_type=apigw.AuthorizationType.IAM,
                    request_validator=validator,
                )
        self.url = self.api.url

        nag.acknowledge(
            self.api,
            "AwsSolutions-APIG3",
            "No WAF: every method needs SigV4-signed IAM credentials and the stage is throttled; a web ACL "
            "would cost more per month than the hub's API ever serves.",
        )
        nag.acknowledge(
            self.api,
            "AwsSolutions-COG4",
            "The API is for the instructor's AWS identity, authorized with IAM (SigV4), not a Cognito user pool.",
        )
