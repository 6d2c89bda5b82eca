"""The one DynamoDB table (pk, sk), and the few item operations every aggregate store uses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from workshop_hub.times import utcnow

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

Clock = Callable[[], dt.datetime]
Item = dict[str, Any]


def s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}


def text(item: Item, name: str, default: str | None = None) -> str | None:
    value = item.get(name)
    return str(value["S"]) if value else default


def number(item: Item, name: str, default: int = 0) -> int:
    value = item.get(name)
    return int(value["N"]) if value else default


def is_conditional_failure(err: ClientError) -> bool:
    return err.response["Error"]["Code"] == "ConditionalCheckFailedException"


class Table:
    """Key lookups, one partition's query, conditional writes. Every read is consistent."""

    def __init__(self, client: DynamoDBClient, name: str, clock: Clock = utcnow) -> None:
        self.client = client
        self.name = name
        self.clock = clock

    def epoch(self, seconds_ahead: int = 0) -> int:
        return int(self.clock().timestamp()) + seconds_ahead

    @staticmethod
    def key(pk: str, sk: str) -> dict[str, AttributeValueTypeDef]:
        return {"pk": s(pk), "sk": s(sk)}

    def get(self, pk: str, sk: str) -> Item | None:
        found = self.client.get_item(TableName=self.name, Key=self.key(pk, sk), ConsistentRead=True)
        item = found.get("Item")
        return dict(item) if item else None

    def put(self, item: Item, **condition: Any) -> bool:
        """Put ``item``; with a ``ConditionExpression``, False when the condition does not hold."""
        try:
            self.client.put_item(TableName=self.name, Item=item, **condition)
        except ClientError as err:
            if condition and is_conditional_failure(err):
                return False
            raise
        return True

    def update(self, pk: str, sk: str, **expression: Any) -> Item | None:
        """UpdateItem; returns the new item (None when a condition did not hold)."""
        try:
            answer = self.client.update_item(
                TableName=self.name, Key=self.key(pk, sk), ReturnValues="ALL_NEW", **expression
            )
        except ClientError as err:
            if "ConditionExpression" in expression and is_conditional_failure(err):
                return None
            raise
        return dict(answer.get("Attributes") or {})

    def delete(self, pk: str, sk: str, **condition: Any) -> bool:
        try:
            self.client.delete_item(TableName=self.name, Key=self.key(pk, sk), **condition)
        except ClientError as err:
            if condition and is_conditional_failure(err):
                return False
            raise
        return True

    def query(self, pk: str, *, newest_first: bool = False, limit: int | None = None) -> list[Item]:
        items: list[Item] = []
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": s(pk)},
            "ConsistentRead": True,
            "ScanIndexForward": not newest_first,
        }
        if limit:
            kwargs["Limit"] = limit
        while True:
            page = self.client.query(**kwargs)
            items.extend(dict(i) for i in page.get("Items", []))
            if limit and len(items) >= limit:
                return items[:limit]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def get_many(self, pk: str, sks: list[str]) -> list[Item]:
        """BatchGetItem (consistent), 100 keys a request, retrying what DynamoDB left."""
        found: list[Item] = []
        unique = list(dict.fromkeys(sks))
        for start in range(0, len(unique), 100):
            keys = [self.key(pk, sk) for sk in unique[start : start + 100]]
            request: Any = {self.name: {"Keys": keys, "ConsistentRead": True}}
            while request:
                answer = self.client.batch_get_item(RequestItems=request)
                found.extend(dict(i) for i in answer.get("Responses", {}).get(self.name, []))
                request = answer.get("UnprocessedKeys") or None
        return found

    def put_many(self, items: list[Item]) -> None:
        """BatchWriteItem, 25 a request (a class of 200 is 8 writes), retrying what DynamoDB left."""
        for start in range(0, len(items), 25):
            requests: Any = {
                self.name: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
            }
            while requests:
                requests = self.client.batch_write_item(RequestItems=requests).get("UnprocessedItems") or None


def create_table(client: DynamoDBClient, table_name: str) -> None:
    """The table as the control stack defines it, for tests, the bench and the sandbox."""
    client.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
