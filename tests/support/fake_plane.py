"""An in-memory ControlPlane with the domain's contract, for tests of the API and hubctl that are
about HTTP and the command line, not about AWS. It checks parameters with each kind's own params model
(as ControlPlane.submit does), holds one lock, honours idempotency keys, and runs an operation one step
per look.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from workshop_hub.config import WorkshopConfig
from workshop_hub.errors import Conflict, Unavailable
from workshop_hub.kinds.params import Context
from workshop_hub.kinds.registry import named
from workshop_hub.operations import Operation, Step
from workshop_hub.times import iso, utcnow


class FakePlane:
    def __init__(
        self, fail: set[str] | None = None, steps: int = 2, hub_instance_type: str | None = None
    ) -> None:
        # The deployed hub's type (a resize never crosses its architecture): workshop.yaml's default.
        self.hub_instance_type = hub_instance_type or WorkshopConfig().hub.instance_type
        self.ops: dict[str, Operation] = {}
        self.keys: dict[str, str] = {}
        self.fail = fail or set()
        self.steps = steps
        self.hold = False  # True: operations stay running (to test the 409)
        self.busy = 0  # the next N submits meet Lambda's lasting ResourceConflictException (503)
        self.submits = 0
        self.roster_: list[dict[str, Any]] = []
        self.results: dict[str, dict[str, Any]] = {}  # kind -> the result its operations end with
        self._ids = itertools.count(1)

    # --- the contract -------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return {
            "instance": {"id": "i-0123456789abcdef0", "state": "running", "type": "t3.medium"},
            "hub_url": "http://203.0.113.10",
            "volume_gib": 30,
            "keep_awake_until": None,
            "last_operations": [op.summary() for op in list(self.ops.values())[-3:]],
        }

    def roster(self) -> list[dict[str, Any]]:
        return list(self.roster_)

    def roster_now(self) -> dict[str, Any]:
        return {"users": self.roster()}

    def submit(self, kind: str, params: dict[str, Any], idempotency_key: str | None = None) -> Operation:
        checked = named(kind).parse(params, Context(now=utcnow(), hub_instance_type=self.hub_instance_type))
        self.submits += 1
        if self.busy:
            self.busy -= 1
            raise Unavailable(f"{kind} was not started: Lambda answered ResourceConflictException (busy)")
        if idempotency_key and idempotency_key in self.keys:
            return self.ops[self.keys[idempotency_key]]
        running = [op for op in self.ops.values() if op.state in ("queued", "running")]
        if running:
            raise Conflict(running[0].id, running[0].kind)
        op = Operation(
            id=f"op-{next(self._ids):04d}",
            kind=kind,
            params=checked,
            created_at=iso(utcnow()),
            idempotency_key=idempotency_key,
        )
        self.ops[op.id] = op
        if idempotency_key:
            self.keys[idempotency_key] = op.id
        return op

    def operations(self, limit: int = 20) -> list[Operation]:
        return list(reversed(self.ops.values()))[:limit]

    def operation(self, op_id: str) -> Operation | None:
        op = self.ops.get(op_id)
        if op is not None and not self.hold:
            self._advance(op)
        return op

    # --- test helpers ---------------------------------------------------------------------------
    def _advance(self, op: Operation) -> None:
        now = iso(utcnow())
        if op.state == "queued":
            op.state, op.started_at = "running", now
            op.steps.append(Step(name="step 1", state="running", started_at=now))
            return
        if op.state != "running":
            return
        op.steps[-1].state, op.steps[-1].ended_at = "succeeded", now
        if len(op.steps) < self.steps:
            op.steps.append(Step(name=f"step {len(op.steps) + 1}", state="running", started_at=now))
            return
        if op.kind in self.fail:
            op.steps[-1].state = "failed"
            op.state, op.error = "failed", f"{op.kind} failed on purpose"
        else:
            op.state = "succeeded"
            op.result = dict(self.results.get(op.kind, {}))
            if op.kind == "users-add":
                for name in op.params["usernames"]:
                    self.roster_.append({"username": name, "admin": op.params["admin"], "on_hub": True})
        op.ended_at = now

    def finish_all(self) -> None:
        for op in self.ops.values():
            while op.state in ("queued", "running"):
                self._advance(op)


def in_an_hour() -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat(timespec="seconds")
