"""Operations: pk="op", sk=OPERATION_ID (ids sort by creation time), the whole record as JSON.

Only the operation's own execution writes its record after submit (and whoever finds that execution
ended without it), so a read-modify-write of one record needs no condition.
"""

from __future__ import annotations

import json

from workshop_hub.adapters.dynamodb.table import Table, n, s
from workshop_hub.operations import Operation

KEEP_SECONDS = 180 * 24 * 3600


class DynamoOperationLog:
    def __init__(self, table: Table) -> None:
        self.table = table

    def save(self, op: Operation) -> None:
        self.table.put(
            {
                **self.table.key("op", op.id),
                "state": s(op.state),
                "data": s(json.dumps(op.to_dict(), default=str)),
                "expires_at": n(self.table.epoch(KEEP_SECONDS)),
            }
        )

    def get(self, op_id: str) -> Operation | None:
        item = self.table.get("op", op_id)
        return Operation.from_dict(json.loads(item["data"]["S"])) if item else None

    def discard(self, op_id: str) -> None:
        """Forget a record that never became an operation (a roster request that joined another's sync)."""
        self.table.delete(
            "op",
            op_id,
            ConditionExpression="#st = :queued",
            ExpressionAttributeNames={"#st": "state"},
            ExpressionAttributeValues={":queued": s("queued")},
        )

    def recent(self, limit: int = 20) -> list[Operation]:
        return [
            Operation.from_dict(json.loads(i["data"]["S"]))
            for i in self.table.query("op", newest_first=True, limit=limit)
        ]

    def unfinished(self) -> list[Operation]:
        return [
            Operation.from_dict(json.loads(i["data"]["S"]))
            for i in self.table.query("op")
            if i.get("state", {}).get("S") in ("queued", "running")
        ]
