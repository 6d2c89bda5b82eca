"""The store ports (stores.py) on DynamoDB: one table, one store per aggregate. One table because every
read is a key lookup or one partition's query, the functions share one IAM statement, and point-in-time
recovery covers everything at once; ``expires_at`` (epoch seconds) is the table's TTL attribute."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workshop_hub.adapters.dynamodb.desired import DynamoDesired
from workshop_hub.adapters.dynamodb.idempotency_keys import DynamoIdempotencyKeys
from workshop_hub.adapters.dynamodb.lease import DynamoLease
from workshop_hub.adapters.dynamodb.operation_log import DynamoOperationLog
from workshop_hub.adapters.dynamodb.password_hashes import DynamoPasswordHashes
from workshop_hub.adapters.dynamodb.roster import DynamoRoster
from workshop_hub.adapters.dynamodb.table import Clock, Table, create_table
from workshop_hub.stores import Stores
from workshop_hub.times import utcnow

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["create_table", "dynamodb_stores"]


def dynamodb_stores(client: DynamoDBClient, table_name: str, clock: Clock = utcnow) -> Stores:
    table = Table(client, table_name, clock)
    return Stores(
        operations=DynamoOperationLog(table),
        lease=DynamoLease(table),
        roster=DynamoRoster(table),
        desired=DynamoDesired(table),
        keys=DynamoIdempotencyKeys(table),
        passwords=DynamoPasswordHashes(table),
    )
