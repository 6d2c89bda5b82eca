"""Whose turn it is on the hub. An operation that changes the hub waits in the queue until it is the
oldest waiting one and the lease is free, then takes the lease (a conditional write). A holder or a
waiter whose execution has ended without releasing (timed out, stopped, never started) is found from
its execution's status, dropped, and its operation marked failed with why: no lease outlives its holder.

Hand-off, not polling: a waiter suspends on a durable callback whose id it records beside its place in
the queue; the operation that releases the hub completes the callback of the first waiter in line
(SendDurableExecutionCallbackSuccess), which resumes at once and takes its turn. The waiter records its
callback BEFORE it looks at the lease and the releaser reads the queue AFTER it released, so a release
can never fall between a look and the suspension unseen. Each callback also times out (5 s, growing to
60 s): the waiter then looks by itself, which covers a releaser that crashed before the hand-off and a
holder whose execution ended without releasing (found dead from its status, as before).
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
    freed = False
    if holder is not None:
        live, why = alive(services, holder.operation_id)
        if live:
            return False
        if lease.release(holder.operation_id):
            _drop(services, holder.operation_id, why, op_id)
            freed = True
    for waiting, _ in lease.queue():
        if waiting == op_id:
            break
        live, why = alive(services, waiting)
        if live:
            if freed:  # the dead holder handed nothing to anyone: wake the one whose turn it is
                hand_off(services)
            return False  # an older operation goes first
        lease.dequeue(waiting)
        _drop(services, waiting, why, op_id)
    if lease.take(op_id, kind):
        lease.dequeue(op_id)
        return True
    return False


def hand_off(services: Services) -> str | None:
    """The hub is free: complete the callback of the first waiter in line, so it takes its turn now.
    A waiter whose callback is closed (it is between two looks, or gone) is passed over for the next
    one: whoever wakes looks at the whole queue. Returns the operation woken, if any."""
    lease = services.stores.lease
    for waiting, _ in lease.queue():
        callback = lease.callback(waiting)
        if callback and services.executions.notify(callback):
            return waiting
    return None


def wait_for_turn(run: Run, label: str = "wait for the hub") -> None:
    services, op = run.services, run.op
    t = services.timeouts

    def probe(callback_id: str) -> bool | None:
        if callback_id and not services.stores.lease.wait_here(op.id, callback_id):
            raise OperationFailed("its place in the queue for the hub was given up (found dead by another)")
        if try_turn(services, op.id, op.kind):
            return True
        holder = services.stores.lease.holder()
        run.flow.waiting(
            f"{holder.kind} {holder.operation_id} holds the hub" if holder else "older operations go first"
        )
        return None

    run.flow.wait_for_call(
        label,
        probe,
        every_s=t.turn_every_s,
        max_every_s=t.turn_max_every_s,
        is_work=False,  # the operation stays 'queued' while it waits
        timeout_s=t.turn_s,
        on_timeout=lambda note: OperationFailed(
            f"waited {t.turn_s // 60} minutes for the hub ({note}); nothing was changed"
        ),
    )


def leave(services: Services, op_id: str) -> str | None:
    """Release the lease (if held) and leave the queue (if still in it), on every path; a release hands
    the hub to the next in line. Returns the operation woken, if any."""
    released = services.stores.lease.release(op_id)
    services.stores.lease.dequeue(op_id)
    return hand_off(services) if released else None
