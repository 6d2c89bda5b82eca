"""The control plane's one DynamoDB table: desired state, roster, operations, lock, idempotency keys.

The key schema matches ``workshop_hub.adapters.dynamodb.create_table`` (pk/sk strings, TTL on ``expires_at``), which
tests/infra checks so the table the functions expect is the table CloudFormation makes.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct


class StateTable(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.TableV2(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing=dynamodb.Billing.on_demand(),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute="expires_at",
            # The roster and the operation history outlive a `cdk destroy` of the control plane.
            removal_policy=RemovalPolicy.RETAIN,
        )
