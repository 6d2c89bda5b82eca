"""Initial password hashes waiting for their operation: pk="passwords", sk=OPERATION_ID -> name: bcrypt
hash. They are kept out of the operation's record (its params name only the users), out of the durable
execution's checkpoints and out of the logs: the API writes them at submit, the step that sends the
command reads them, and the operation's last step deletes them on every path. ``expires_at`` (one day)
removes any an operation never reached."""

from __future__ import annotations

from workshop_hub.adapters.dynamodb.table import Table, n, s

KEEP_SECONDS = 24 * 3600


class DynamoPasswordHashes:
    def __init__(self, table: Table) -> None:
        self.table = table

    def put(self, op_id: str, hashes: dict[str, str]) -> None:
        self.table.put(
            {
                **self.table.key("passwords", op_id),
                "hashes": {"M": {name: s(hashed) for name, hashed in hashes.items()}},
                "expires_at": n(self.table.epoch(KEEP_SECONDS)),
            }
        )

    def get(self, op_id: str) -> dict[str, str] | None:
        """The hashes of ``op_id``; None when they are gone (used, or older than a day)."""
        item = self.table.get("passwords", op_id)
        if not item or int(item["expires_at"]["N"]) < self.table.epoch():
            return None
        return {name: value["S"] for name, value in item["hashes"]["M"].items()}

    def forget(self, op_id: str) -> None:
        self.table.delete("passwords", op_id)
