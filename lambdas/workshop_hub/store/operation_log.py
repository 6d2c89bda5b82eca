"""Operations: pk="op", sk=OPERATION_ID (ids sort by creation time), the whole record as JSON.

Only the operation's own execution writes its record after submit (and the lease keeper, once that
execution has ended), so a read-modify-write of one record needs no condition.
"""

from __future__ import annotations

import json
from typing import Any

from workshop_hub.operations import Operation, Step, iso
from workshop_hub.store.table import Table, n, s

KEEP_SECONDS = 180 * 24 * 3600


class OperationLog:
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

    def begin_step(self, op_id: str, name: str, *, starts_work: bool = True) -> None:
        """A step starts: recorded as running (once, even when a replay runs the step again). The
        operation itself is running from its first step of work (waiting for its turn is not work)."""
        op = self._must(op_id)
        now = iso(self.table.clock())
        if op.state == "queued" and starts_work:
            op.state, op.started_at = "running", now
        last = op.steps[-1] if op.steps else None
        if last is None or last.name != name or last.state != "running":
            op.steps.append(Step(name=name, state="running", started_at=now))
        self.save(op)

    def end_step(self, op_id: str, name: str, state: str, detail: str = "") -> None:
        op = self._must(op_id)
        step = next((st for st in reversed(op.steps) if st.name == name and st.state == "running"), None)
        if step is None:
            step = Step(name=name, state=state, started_at=iso(self.table.clock()))
            op.steps.append(step)
        step.state, step.detail, step.ended_at = state, detail, iso(self.table.clock())
        self.save(op)

    def finish(
        self, op_id: str, *, state: str, error: str | None = None, result: dict[str, Any] | None = None
    ) -> Operation:
        op = self.ended(op_id, state=state, error=error, result=result)
        self.save(op)
        return op

    def ended(
        self, op_id: str, *, state: str, error: str | None = None, result: dict[str, Any] | None = None
    ) -> Operation:
        """The record as it ends (not saved yet)."""
        op = self._must(op_id)
        now = iso(self.table.clock())
        op.state, op.error, op.ended_at = state, error, now
        op.started_at = op.started_at or now
        if result:
            op.result.update(result)
        for step in op.steps:
            if step.state == "running":  # cut short by the execution's end
                step.state, step.ended_at = "failed", now
        return op

    def _must(self, op_id: str) -> Operation:
        op = self.get(op_id)
        if op is None:
            raise LookupError(f"no operation {op_id}")
        return op
