"""The control plane's front door: what the API, the schedules and the EC2 state-change rule call.

``submit`` checks a request with its kind's params model (nothing is recorded before it passes), records
the desired state first, stores the operation and starts its durable execution, named by the operation's
id. Operations that change the hub join the queue for the hub's lease and run one at a time, in the
order asked; users need no lease: their roster entries are recorded and the one pending roster sync
creates them. The workflows themselves are the kinds' (kinds/), run by engine.run_operation inside the
worker.
"""

from __future__ import annotations

import logging
from typing import Any

from workshop_hub import reads
from workshop_hub.errors import Conflict, InvalidRequest, Unavailable
from workshop_hub.kinds.kind import Kind
from workshop_hub.kinds.params import Context
from workshop_hub.kinds.registry import named
from workshop_hub.kinds.signup import roster_walk_ins
from workshop_hub.operations import Operation, Step, new_operation_id
from workshop_hub.services import Services
from workshop_hub.times import iso

log = logging.getLogger("workshop_hub")


class ControlPlane:
    def __init__(self, services: Services) -> None:
        self.services = services

    # --- reading -------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return reads.status(self.services)

    def roster(self) -> list[dict[str, Any]]:
        return reads.roster(self.services)

    def roster_now(self) -> dict[str, Any]:
        """GET /users: the roster, with the walk-ins the door has let in so far (read from the hub while
        the door is open); ``note`` says when they could not be read."""
        note = roster_walk_ins(self.services)
        return {"users": reads.roster(self.services), **({"note": note} if note else {})}

    def operation(self, op_id: str) -> Operation | None:
        return self.services.stores.operations.get(op_id)

    def operations(self, limit: int = 20) -> list[Operation]:
        return self.services.stores.operations.recent(limit)

    # --- submitting ----------------------------------------------------------------------------

    def submit(self, kind_name: str, params: object, idempotency_key: str | None = None) -> Operation:
        """Check, record, queue and start. Raises InvalidRequest or Refused; nothing is recorded then."""
        services = self.services
        kind = named(kind_name)
        now = services.clock()
        checked = kind.parse(params, Context(now=now, hub_instance_type=services.config.hub.instance_type))
        if idempotency_key:
            earlier = self._by_key(idempotency_key, kind_name)
            if earlier is not None:
                return earlier
        if kind.check is not None:
            checked = kind.check(services, checked)
        op = Operation(
            id=new_operation_id(now),
            kind=kind_name,
            params=checked,
            created_at=iso(now),
            idempotency_key=idempotency_key,
        )
        if idempotency_key and not services.stores.keys.claim(idempotency_key, op.id, kind_name):
            earlier = self._by_key(idempotency_key, kind_name)
            if earlier is None:
                raise Conflict("unknown", kind_name)
            return earlier
        try:
            return self._accept(kind, op)
        except BaseException:
            if idempotency_key:
                # A failed request leaves no trace of its key: the retry is a new request.
                services.stores.keys.release(idempotency_key, op.id)
            raise

    def _accept(self, kind: Kind, op: Operation) -> Operation:
        services = self.services
        if kind.sensitive is None:
            return self._record_and_start(kind, op)
        # What must never be recorded goes to its own item first, and goes again if the request fails.
        op.params = kind.sensitive.keep(services, op.id, op.params)
        try:
            return self._record_and_start(kind, op)
        except BaseException:
            kind.sensitive.forget(services, op.id)
            raise

    def _record_and_start(self, kind: Kind, op: Operation) -> Operation:
        services = self.services
        stores = services.stores
        if kind.record is not None:
            kind.record(services, op.params)
        if kind.syncs_roster:
            return self._roster_sync(op)
        if kind.workflow is None:
            now = services.clock()
            op.steps.append(Step(f"recorded {kind.name}", "succeeded", iso(now), iso(now)))
            op.end("succeeded", now, result=dict(op.params))
            stores.operations.save(op)
            return op
        stores.operations.save(op)
        if kind.lease:
            stores.lease.enqueue(op.id, kind.name)
        self._start(op)
        log.info("operation queued", extra={"operation_id": op.id, "kind": kind.name})
        return op

    def _roster_sync(self, request: Operation) -> Operation:
        """The users are recorded: answer with the roster sync that will create them (starting one if
        none is pending). Concurrent requests share one sync."""
        stores = self.services.stores
        candidate = Operation(id=request.id, kind="roster-sync", params={}, created_at=request.created_at)
        # Saved before anyone can learn its id: a concurrent request may answer with it at once.
        stores.operations.save(candidate)
        sync_id, new = stores.roster.request_sync(candidate.id)
        if new:
            try:
                self._start(candidate)
            except BaseException:
                stores.roster.abandon_sync(candidate.id)
                raise
            return candidate
        stores.operations.discard(candidate.id)
        if request.idempotency_key:
            stores.keys.release(request.idempotency_key, request.id)
            stores.keys.claim(request.idempotency_key, sync_id, request.kind)
        return stores.operations.get(sync_id) or candidate

    def _start(self, op: Operation) -> None:
        stores = self.services.stores
        try:
            self.services.executions.start(op.id)
        except Exception as err:
            stores.lease.dequeue(op.id)
            op.end("failed", self.services.clock(), error=f"could not start its execution: {err}")
            stores.operations.save(op)
            if isinstance(err, Unavailable):
                raise Unavailable(f"{op.kind} was not started: {err}; nothing changed", op.id) from None
            raise

    def _by_key(self, key: str, kind: str) -> Operation | None:
        found = self.services.stores.keys.lookup(key)
        if found is None:
            return None
        op_id, earlier_kind = found
        if earlier_kind != kind:
            raise InvalidRequest("Idempotency-Key", f"was already used for a {earlier_kind} request", key)
        return self.services.stores.operations.get(op_id)

    # --- triggers other than the API -----------------------------------------------------------

    def reconcile_on_running(self, event_id: str | None = None) -> Operation:
        """The instance reached running: a reconcile, queued behind whatever holds the hub (a resize that
        started it). One that is already waiting covers this event too."""
        stores = self.services.stores
        for op_id, kind in stores.lease.queue():
            waiting = stores.operations.get(op_id) if kind == "reconcile" else None
            if waiting is not None and waiting.state == "queued":
                return waiting
        return self.submit("reconcile", {}, idempotency_key=f"ec2:{event_id}" if event_id else None)

    def scheduled(self, action: str, payload: dict[str, Any]) -> Operation:
        """A schedule fired. Its scheduled time keys the operation, so a redelivery does not repeat it."""
        params = {k: v for k, v in payload.items() if k != "action"}
        fired = str(params.get("scheduled_time") or "")
        if not fired or fired.startswith("<"):  # Scheduler did not fill in its placeholder
            params.pop("scheduled_time", None)
            fired = ""
        key = f"schedule:{action}:{fired}" if fired else None
        return self.submit(action, params, idempotency_key=key)
