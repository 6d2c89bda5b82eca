"""Idempotency keys: pk="idem", sk=KEY -> the operation a request with that key created (24 hours).
A request that fails releases its key, so a retry is a new request, not the failure again."""

from __future__ import annotations

from workshop_hub.adapters.dynamodb.table import Table, n, number, s, text

KEEP_SECONDS = 24 * 3600


class DynamoIdempotencyKeys:
    def __init__(self, table: Table) -> None:
        self.table = table

    def lookup(self, key: str) -> tuple[str, str] | None:
        """(operation id, kind) recorded for ``key`` in the last 24 hours, if any."""
        item = self.table.get("idem", key)
        if not item or number(item, "expires_at") < self.table.epoch():
            return None
        return str(text(item, "operation_id")), str(text(item, "kind", ""))

    def claim(self, key: str, op_id: str, kind: str) -> bool:
        return self.table.put(
            {
                **self.table.key("idem", key),
                "operation_id": s(op_id),
                "kind": s(kind),
                "expires_at": n(self.table.epoch(KEEP_SECONDS)),
            },
            ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
            ExpressionAttributeValues={":now": n(self.table.epoch())},
        )

    def release(self, key: str, op_id: str) -> None:
        self.table.delete(
            "idem", key, ConditionExpression="operation_id = :op", ExpressionAttributeValues={":op": s(op_id)}
        )
