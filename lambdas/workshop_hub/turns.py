"""Whose turn it is on the hub. An operation that changes the hub waits in the queue until it is the
oldest waiting one and the lease is free, then takes the lease (a conditional write). A holder or a
waiter whose execution has ended without releasing (timed out, stopped, never started) is found from
its execution's status, dropped, and its operation marked failed with why: no lease outlives its holder.
"""

from __future__ import annotations

import datetime as dt

from workshop_hub.errors import OperationFailed
from workshop_hub.run import Run
from workshop_hub.services import Services
from workshop_hub.times import parse_time

LIVE = ("RUNNING", "PAUSING", "PAUSED")


def alive(services: Services, op_id: str) -> tuple[bool, str]:
    """(whether ``op_id``'s execution may still release the lease, why not)."""
    op = services.stores.operations.get(op_id)
    if op is None:
        return False, "its operation record is gone"
    if op.ended:
        return False, f"it {op.state} without releasing the hub"
    status = services.executions.status(op_id)
    if status in LIVE:
        return True, ""
    if status is None:
        age = services.clock() - parse_time(op.created_at)
        if age < dt.timedelta(seconds=services.timeouts.dead_after_s):
            return True, ""  # Lambda's async queue may not have started it yet
        return False, f"no execution of it was found {int(age.total_seconds())} s after it was asked for"
    return False, f"its execution ended ({status}) without releasing the hub"


def _drop(services: Services, op_id: str, why: str, by: str) -> None:
    log = services.stores.operations
    op = log.get(op_id)
    if op is not None and not op.ended:
        op.end("failed", services.clock(), error=f"{why}; {by} freed its place on the hub")
        log.save(op)


def try_turn(services: Services, op_id: str, kind: str) -> bool:
    """One look: True when ``op_id`` holds the lease now."""
    lease = services.stores.lease
    holder = lease.holder()
    if holder is not None and holder.operation_id == op_id:
        return True
    if holder is not None:
        live, why = alive(services, holder.operation_id)
        if live:
            return False
        if lease.release(holder.operation_id):
            _drop(services, holder.operation_id, why, op_id)
    for waiting, _ in lease.queue():
        if waiting == op_id:
            break
        live, why = alive(services, waiting)
        if live:
            return False  # an older operation goes first
        lease.dequeue(waiting)
        _drop(services, waiting, why, op_id)
    if lease.take(op_id, kind):
        lease.dequeue(op_id)
        return True
    return False


def wait_for_turn(run: Run) -> None:
    services, op = run.services, run.op
    t = services.timeouts

    def probe() -> bool | None:
        if try_turn(services, op.id, op.kind):
            return True
        holder = services.stores.lease.holder()
        run.flow.waiting(
            f"{holder.kind} {holder.operation_id} holds the hub" if holder else "older operations go first"
        )
        return None

    run.flow.wait_until(
        "wait for the hub",
        probe,
        every_s=t.turn_every_s,
        max_every_s=t.turn_max_every_s,
        is_work=False,  # the operation stays 'queued' while it waits
        timeout_s=t.turn_s,
        on_timeout=lambda note: OperationFailed(
            f"waited {t.turn_s // 60} minutes for the hub ({note}); nothing was changed"
        ),
    )


def leave(services: Services, op_id: str) -> None:
    """Release the lease (if held) and leave the queue (if still in it): on every path."""
    services.stores.lease.release(op_id)
    services.stores.lease.dequeue(op_id)
