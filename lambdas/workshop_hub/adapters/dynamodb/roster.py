"""The roster (pk="user", sk=USERNAME) and the roster sync's marker.

Adding users needs no lease: entries are idempotent per name, and one roster sync at a time creates
every entry still missing on the hub. The marker (pk="roster", sk="sync") carries a generation that
every change of the roster increments; a sync may only finish while the generation is the one it
started its last round with, so a user added during a sync is never missed:

    generation   incremented by every add/remove
    op           the id of the roster sync that runs now (absent: none)
"""

from __future__ import annotations

from typing import Any

from workshop_hub.adapters.dynamodb.table import Table, n, number, s, text
from workshop_hub.stores import RosterEntry


def _entry(item: dict[str, Any]) -> RosterEntry:
    return RosterEntry(
        username=item["sk"]["S"],
        admin=item["admin"]["BOOL"],
        on_hub=item["on_hub"]["BOOL"],
        added_at=item["added_at"]["S"],
        removing=item.get("removing", {}).get("BOOL", False),
        source=text(item, "source"),
    )


class DynamoRoster:
    def __init__(self, table: Table) -> None:
        self.table = table

    def entries(self, *, include_removing: bool = False) -> list[RosterEntry]:
        entries = [_entry(item) for item in self.table.query("user")]
        return [e for e in entries if include_removing or not e.removing]

    def find(self, names: list[str]) -> dict[str, RosterEntry]:
        """The entries of ``names`` that exist (removing ones too), by key: a request for one name
        reads one item, not the whole roster."""
        return {item["sk"]["S"]: _entry(item) for item in self.table.get_many("user", names)}

    def put(self, entries: list[RosterEntry]) -> None:
        self.table.put_many([self._item(e) for e in entries])

    def _item(self, entry: RosterEntry) -> dict[str, Any]:
        item: dict[str, Any] = {
            **self.table.key("user", entry.username),
            "admin": {"BOOL": entry.admin},
            "on_hub": {"BOOL": entry.on_hub},
            "added_at": s(entry.added_at),
            "removing": {"BOOL": entry.removing},
        }
        if entry.source:
            item["source"] = s(entry.source)
        return item

    def delete(self, username: str) -> None:
        self.table.delete("user", username)

    def mark_on_hub(self, names: set[str]) -> None:
        changed = [e for e in self.entries() if e.username in names and not e.on_hub]
        for entry in changed:
            entry.on_hub = True
        self.put(changed)

    # --- the roster sync's marker ----------------------------------------------------------------

    def request_sync(self, candidate_op_id: str) -> tuple[str, bool]:
        """Note a roster change and make sure one sync is pending: returns (the sync's operation id,
        True when that is ``candidate_op_id``, a sync the caller must now start)."""
        item = self.table.update(
            "roster",
            "sync",
            UpdateExpression="ADD generation :one SET op = if_not_exists(op, :candidate)",
            ExpressionAttributeValues={":one": n(1), ":candidate": s(candidate_op_id)},
        )
        op_id = str(text(item or {}, "op", candidate_op_id))
        return op_id, op_id == candidate_op_id

    def sync_state(self) -> tuple[str | None, int]:
        item = self.table.get("roster", "sync") or {}
        return text(item, "op"), number(item, "generation")

    def finish_sync(self, op_id: str, generation: int) -> bool:
        """The sync ends, unless the roster changed since ``generation`` (then: another round)."""
        return (
            self.table.update(
                "roster",
                "sync",
                UpdateExpression="REMOVE op",
                ConditionExpression="op = :me AND generation = :g",
                ExpressionAttributeValues={":me": s(op_id), ":g": n(generation)},
            )
            is not None
        )

    def abandon_sync(self, op_id: str) -> None:
        """The sync ended without finishing (failed, or its execution died): the next change starts one."""
        self.table.update(
            "roster",
            "sync",
            UpdateExpression="REMOVE op",
            ConditionExpression="op = :me",
            ExpressionAttributeValues={":me": s(op_id)},
        )
