"""The topic an alarm mails the instructor through: TLS only, and CloudWatch allowed to publish to it.

``enforce_ssl`` writes a topic policy (a Deny for non-TLS publishing), and an ``AWS::SNS::TopicPolicy``
REPLACES the topic's default policy, which is what let the account's CloudWatch alarms publish. So the
policy carries its own Allow for ``cloudwatch.amazonaws.com``, limited to alarms of this account and
Region (``aws:SourceAccount``, ``aws:SourceArn``), as AWS's knowledge center article
"cloudwatch-receive-sns-for-alarm-trigger" gives it. tests/support/service_access.py checks every topic
an alarm or a budget notifies against its policy.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct


def alert_topic(scope: Construct, construct_id: str, *, display_name: str, email: str | None) -> sns.Topic:
    topic = sns.Topic(scope, construct_id, display_name=display_name, enforce_ssl=True)
    stack = Stack.of(topic)
    alarms = stack.format_arn(
        service="cloudwatch", resource="alarm", resource_name="*", arn_format=ArnFormat.COLON_RESOURCE_NAME
    )
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowAlarmsOfThisAccountToPublish",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions={
                "StringEquals": {"aws:SourceAccount": stack.account},
                "ArnLike": {"aws:SourceArn": alarms},
            },
        )
    )
    if email:
        topic.add_subscription(subscriptions.EmailSubscription(email))
    return topic
