"""The hub's lease and its queue. At most one operation that changes the hub holds the lease; the
others wait in the queue in the order they were asked for (their ids sort by creation time).

    pk="lease"  sk="hub"             holder (operation id), kind, since
    pk="queue"  sk=OPERATION_ID      kind: an operation waiting for the lease; callback: the durable
                                     callback it waits on (the releaser completes it: the hand-off)

Taking the lease is a conditional put (free, or already ours), releasing a conditional delete (only
ours): a holder can never release or overwrite another's lease.
"""

from __future__ import annotations

from workshop_hub.adapters.dynamodb.table import Table, s, text
from workshop_hub.stores import Holder
from workshop_hub.times import iso


class DynamoLease:
    def __init__(self, table: Table) -> None:
        self.table = table

    def holder(self) -> Holder | None:
        item = self.table.get("lease", "hub")
        if not item:
            return None
        return Holder(str(text(item, "holder")), str(text(item, "kind", "")), str(text(item, "since", "")))

    def take(self, op_id: str, kind: str) -> bool:
        return self.table.put(
            {
                **self.table.key("lease", "hub"),
                "holder": s(op_id),
                "kind": s(kind),
                "since": s(iso(self.table.clock())),
            },
            ConditionExpression="attribute_not_exists(pk) OR holder = :me",
            ExpressionAttributeValues={":me": s(op_id)},
        )

    def release(self, op_id: str) -> bool:
        """Free the lease if ``op_id`` holds it; False when it does not (nothing changes)."""
        return self.table.delete(
            "lease",
            "hub",
            ConditionExpression="holder = :me",
            ExpressionAttributeValues={":me": s(op_id)},
        )

    def enqueue(self, op_id: str, kind: str) -> None:
        self.table.put({**self.table.key("queue", op_id), "kind": s(kind)})

    def queue(self) -> list[tuple[str, str]]:
        """(operation id, kind) of every waiting operation, oldest first."""
        return [(str(i["sk"]["S"]), str(text(i, "kind", ""))) for i in self.table.query("queue")]

    def dequeue(self, op_id: str) -> None:
        self.table.delete("queue", op_id)

    def wait_here(self, op_id: str, callback_id: str) -> bool:
        updated = self.table.update(
            "queue",
            op_id,
            UpdateExpression="SET callback = :c",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":c": s(callback_id)},
        )
        return updated is not None

    def callback(self, op_id: str) -> str | None:
        item = self.table.get("queue", op_id)
        return text(item, "callback") if item else None
