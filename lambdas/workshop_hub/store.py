"""DynamoDB: desired state, roster, operations, the lock and idempotency keys, in one table.

One table (pk, sk) because every read is a key lookup or one partition's query, the functions share
one IAM statement, and point-in-time recovery covers everything at once. Items:

    pk="desired"  sk="hub"            instance_type, volume_gib, keep_awake_until, reconcile_pending
    pk="data"     sk=NAME             a data repo asked for through the API (repo, ref)
    pk="package"  sk=MANAGER#NAME     a package asked for through the API (spec replaces an older one)
    pk="user"     sk=USERNAME         the roster: admin, on_hub, added_at, removing
    pk="op"       sk=OPERATION_ID     an operation (ids sort by creation time); state + JSON body
    pk="lock"     sk="hub"            operation_id, kind, expires_at (epoch s): one mutating operation
    pk="idem"     sk=KEY              operation_id, kind, expires_at: a retried request's operation

``expires_at`` (epoch seconds) is the table's TTL attribute; the lock does not depend on TTL
deletion (an expired lock is overwritten by the conditional put).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from workshop_hub.errors import Conflict
from workshop_hub.operations import Operation, iso, utcnow

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

Clock = Callable[[], dt.datetime]

# Longer than the worker's 15-minute Lambda limit: a worker that died leaves a lock that expires.
LOCK_SECONDS = 20 * 60
IDEMPOTENCY_SECONDS = 24 * 3600
OPERATION_SECONDS = 180 * 24 * 3600


def _s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def _n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}


def package_key(manager: str, spec: str) -> str:
    # PEP 503 normalized name: "Pandas>=2" and "pandas==2.2" are the same package.
    name = re.match(r"[A-Za-z0-9._-]+", spec)
    normalized = re.sub(r"[-_.]+", "-", (name.group(0) if name else spec)).lower()
    return f"{manager}#{normalized}"


@dataclass
class DesiredState:
    instance_type: str | None = None
    volume_gib: int | None = None
    keep_awake_until: str | None = None
    reconcile_pending: bool = False
    data_repos: dict[str, dict[str, str | None]] = field(default_factory=dict)
    packages: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class RosterEntry:
    username: str
    admin: bool
    on_hub: bool
    added_at: str
    removing: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "admin": self.admin,
            "on_hub": self.on_hub,
            "added_at": self.added_at,
        }


class Store:
    def __init__(self, client: DynamoDBClient, table_name: str, clock: Clock = utcnow) -> None:
        self.client = client
        self.table = table_name
        self.clock = clock

    def _epoch(self, seconds_ahead: int = 0) -> int:
        return int(self.clock().timestamp()) + seconds_ahead

    def _key(self, pk: str, sk: str) -> dict[str, AttributeValueTypeDef]:
        return {"pk": _s(pk), "sk": _s(sk)}

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self.client.get_item(TableName=self.table, Key=self._key(pk, sk), ConsistentRead=True).get(
            "Item"
        )
        return dict(item) if item else None

    def _query(
        self, pk: str, *, newest_first: bool = False, limit: int | None = None
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": _s(pk)},
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

    # --- desired state ---------------------------------------------------------------------

    def desired(self) -> DesiredState:
        state = DesiredState()
        item = self._get("desired", "hub") or {}
        if "instance_type" in item:
            state.instance_type = item["instance_type"]["S"]
        if "volume_gib" in item:
            state.volume_gib = int(item["volume_gib"]["N"])
        if "keep_awake_until" in item:
            state.keep_awake_until = item["keep_awake_until"]["S"]
        state.reconcile_pending = bool(item.get("reconcile_pending", {}).get("BOOL", False))
        for repo in self._query("data"):
            body = json.loads(repo["data"]["S"])
            state.data_repos[repo["sk"]["S"]] = {"repo": body["repo"], "ref": body.get("ref")}
        for package in self._query("package"):
            manager = package["sk"]["S"].split("#", 1)[0]
            state.packages.setdefault(manager, []).append(package["spec"]["S"])
        return state

    def set_desired(self, **values: str | int | bool) -> None:
        names = {f"#{k}": k for k in values}
        attrs: dict[str, AttributeValueTypeDef] = {}
        for key, value in values.items():
            if isinstance(value, bool):
                attrs[f":{key}"] = {"BOOL": value}
            elif isinstance(value, int):
                attrs[f":{key}"] = _n(value)
            else:
                attrs[f":{key}"] = _s(value)
        self.client.update_item(
            TableName=self.table,
            Key=self._key("desired", "hub"),
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in values),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=attrs,
        )

    def put_data_repo(self, name: str, repo: str, ref: str | None) -> None:
        item = {**self._key("data", name), "data": _s(json.dumps({"repo": repo, "ref": ref}))}
        self.client.put_item(TableName=self.table, Item=item)

    def put_packages(self, manager: str, specs: list[str]) -> None:
        for spec in specs:
            item = {**self._key("package", package_key(manager, spec)), "spec": _s(spec)}
            self.client.put_item(TableName=self.table, Item=item)

    # --- roster ----------------------------------------------------------------------------

    def roster(self, *, include_removing: bool = False) -> list[RosterEntry]:
        entries = [
            RosterEntry(
                username=item["sk"]["S"],
                admin=item["admin"]["BOOL"],
                on_hub=item["on_hub"]["BOOL"],
                added_at=item["added_at"]["S"],
                removing=item.get("removing", {}).get("BOOL", False),
            )
            for item in self._query("user")
        ]
        return [e for e in entries if include_removing or not e.removing]

    def put_user(self, entry: RosterEntry) -> None:
        self.put_users([entry])

    def put_users(self, entries: list[RosterEntry]) -> None:
        """Batched (25 a request): a class of 200 is 8 writes, not 200."""
        items = [self._user_item(e) for e in entries]
        for start in range(0, len(items), 25):
            requests: Any = {
                self.table: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
            }
            while requests:
                requests = self.client.batch_write_item(RequestItems=requests).get("UnprocessedItems") or None

    def _user_item(self, entry: RosterEntry) -> dict[str, AttributeValueTypeDef]:
        return {
            **self._key("user", entry.username),
            "admin": {"BOOL": entry.admin},
            "on_hub": {"BOOL": entry.on_hub},
            "added_at": _s(entry.added_at),
            "removing": {"BOOL": entry.removing},
        }

    def delete_user(self, username: str) -> None:
        self.client.delete_item(TableName=self.table, Key=self._key("user", username))

    # --- operations ------------------------------------------------------------------------

    def save_operation(self, op: Operation) -> None:
        item = {
            **self._key("op", op.id),
            "state": _s(op.state),
            "data": _s(json.dumps(op.to_dict(), default=str)),
            "expires_at": _n(self._epoch(OPERATION_SECONDS)),
        }
        self.client.put_item(TableName=self.table, Item=item)

    def claim_operation(self, op: Operation) -> bool:
        """queued -> running, once: a redelivered worker event does not run an operation twice."""
        op.state = "running"
        op.started_at = iso(self.clock())
        try:
            self.client.put_item(
                TableName=self.table,
                Item={
                    **self._key("op", op.id),
                    "state": _s(op.state),
                    "data": _s(json.dumps(op.to_dict(), default=str)),
                    "expires_at": _n(self._epoch(OPERATION_SECONDS)),
                },
                ConditionExpression="#st = :queued",
                ExpressionAttributeNames={"#st": "state"},
                ExpressionAttributeValues={":queued": _s("queued")},
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def operation(self, op_id: str) -> Operation | None:
        item = self._get("op", op_id)
        return Operation.from_dict(json.loads(item["data"]["S"])) if item else None

    def recent_operations(self, limit: int = 5) -> list[Operation]:
        return [
            Operation.from_dict(json.loads(i["data"]["S"]))
            for i in self._query("op", newest_first=True, limit=limit)
        ]

    # --- the lock --------------------------------------------------------------------------

    def acquire_lock(self, op_id: str, kind: str) -> str | None:
        """Take the hub for ``op_id``; returns the id of an expired holder it replaced, if any.
        Raises Conflict naming the operation that holds it."""
        previous = self._get("lock", "hub")
        if not self._claim("lock", "hub", op_id, kind, LOCK_SECONDS):
            holder = self._get("lock", "hub") or {}
            raise Conflict(
                holder.get("operation_id", {}).get("S", "unknown"), holder.get("kind", {}).get("S", "")
            )
        if previous and previous["operation_id"]["S"] != op_id:
            return str(previous["operation_id"]["S"])
        return None

    def release_lock(self, op_id: str) -> None:
        try:
            self.client.delete_item(
                TableName=self.table,
                Key=self._key("lock", "hub"),
                ConditionExpression="operation_id = :op",
                ExpressionAttributeValues={":op": _s(op_id)},
            )
        except ClientError as err:
            # Not ours any more (expired and taken over): leave the new holder's lock alone.
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def lock_holder(self) -> str | None:
        item = self._get("lock", "hub")
        if not item or int(item["expires_at"]["N"]) < self._epoch():
            return None
        return str(item["operation_id"]["S"])

    # --- idempotency keys ------------------------------------------------------------------

    def idempotent_operation(self, key: str) -> tuple[str, str] | None:
        """(operation id, kind) recorded for ``key`` in the last 24 hours, if any."""
        item = self._get("idem", key)
        if not item or int(item["expires_at"]["N"]) < self._epoch():
            return None
        return str(item["operation_id"]["S"]), str(item["kind"]["S"])

    def claim_idempotency_key(self, key: str, op_id: str, kind: str) -> bool:
        return self._claim("idem", key, op_id, kind, IDEMPOTENCY_SECONDS)

    def _claim(self, pk: str, sk: str, op_id: str, kind: str, seconds: int) -> bool:
        """Write the item naming ``op_id`` unless a live (unexpired) one is there; True when written."""
        try:
            self.client.put_item(
                TableName=self.table,
                Item={
                    **self._key(pk, sk),
                    "operation_id": _s(op_id),
                    "kind": _s(kind),
                    "expires_at": _n(self._epoch(seconds)),
                },
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues={":now": _n(self._epoch())},
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True


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
