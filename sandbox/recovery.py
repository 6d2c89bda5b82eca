"""What the control plane does when it starts after a crash: every operation the last run left
unfinished either goes on or ends in a reported state, and no lease or pending sync is left to nobody.

* its durable execution was running: it resumes (DurableExecutions.resume: Lambda's replay);
* it was accepted but its execution never began (the crash came between the two): it starts now;
* a roster sync request that had not yet joined the pending sync: forgotten, as the API does (its
  users are on the roster, and the pending sync creates them);
* anything else (its execution is gone, or ended without recording it): ``failed``, "the sandbox
  stopped while this ran", with the instance's state as it is now; its lease and its place in the
  queue are freed, and a roster sync it held is handed to a new one;
* an operation that waits for the hub is woken to look again (its callback's timeout did not survive).

Then, if roster entries are still missing on the hub and no sync is pending, one is started.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from workshop_hub.operations import Operation, new_operation_id
from workshop_hub.times import iso

if TYPE_CHECKING:
    from workshop_hub.services import Services

    from sandbox.executions import DurableExecutions

log = logging.getLogger("sandbox")

STOPPED_WHILE_RUNNING = "the sandbox stopped while this ran"


def recover(services: Services, executions: DurableExecutions) -> list[str]:
    """Resume, start or end what the last run left; returns one line per thing done."""
    stores = services.stores
    done: list[str] = []
    unfinished = stores.operations.unfinished()
    sync_op, _ = stores.roster.sync_state()
    for op in unfinished:
        status = executions.status(op.id)
        if executions.resume(op.id):
            done.append(f"{op.kind} {op.id}: resumed where it stopped")
        elif status is None and op.kind == "roster-sync" and op.id != sync_op and not op.steps:
            stores.operations.discard(op.id)  # a request that never joined the pending sync
        elif status is None and op.state == "queued" and not op.steps:
            executions.start(op.id)
            done.append(f"{op.kind} {op.id}: started (accepted before the crash, not begun)")
        else:
            why = "its execution was not found" if status is None else f"its execution ended {status}"
            _fail(services, op, f"{STOPPED_WHILE_RUNNING} ({why}); {_instance_now(services)}")
            done.append(f"{op.kind} {op.id}: failed ({STOPPED_WHILE_RUNNING})")
    for op_id in executions.left_running():
        # its operation had recorded its end already: the replay finds that and ends at once
        executions.resume(op_id)
    woken = _wake_waiters(services, executions)
    if woken:
        done.append(f"{woken} operation(s) waiting for the hub: asked to look again")
    started = _sync_if_missing(services, executions)
    if started:
        done.append(f"roster-sync {started}: started for the roster entries not yet on the hub")
    removed = executions.forget_ended()
    for line in done:
        log.info("after the restart: %s", line)
    if removed:
        log.info("after the restart: forgot %d ended executions", removed)
    return done


def _wake_waiters(services: Services, executions: DurableExecutions) -> int:
    """Complete the callback every resumed waiter sleeps on: the local runner keeps a callback's timeout
    in memory only (Lambda keeps it with the execution), so after a restart only a hand-off would wake
    one, and the holder may be gone. Each looks again, then waits on a new callback with its timeout."""
    woken = 0
    for op_id, _ in services.stores.lease.queue():
        callback = services.stores.lease.callback(op_id)
        if callback and executions.notify(callback):
            woken += 1
    return woken


def _fail(services: Services, op: Operation, error: str) -> None:
    stores = services.stores
    op.end("failed", services.clock(), error=error)
    stores.operations.save(op)
    stores.lease.release(op.id)
    stores.lease.dequeue(op.id)
    sync_op, _ = stores.roster.sync_state()
    if sync_op == op.id:
        stores.roster.abandon_sync(op.id)


def _instance_now(services: Services) -> str:
    try:
        instance = services.hub.describe()
    except Exception as err:  # moto unreachable: say so rather than guess
        return f"the instance's state could not be read ({err})"
    return f"the instance is {instance.state} ({instance.instance_type})"


def _sync_if_missing(services: Services, executions: DurableExecutions) -> str | None:
    """A roster sync when entries are missing on the hub and none is pending (the one that held the
    marker failed above, or the marker points at an operation that is over)."""
    stores = services.stores
    sync_op, _ = stores.roster.sync_state()
    if sync_op is not None:
        holder = stores.operations.get(sync_op)
        if holder is not None and holder.state in ("queued", "running"):
            return None
        stores.roster.abandon_sync(sync_op)
    entries = stores.roster.entries(include_removing=True)
    if not any(entry.removing or not entry.on_hub for entry in entries):
        return None
    now = services.clock()
    candidate = Operation(id=new_operation_id(now), kind="roster-sync", params={}, created_at=iso(now))
    stores.operations.save(candidate)
    sync_id, new = stores.roster.request_sync(candidate.id)
    if not new:
        stores.operations.discard(candidate.id)
        return None
    executions.start(candidate.id)
    return sync_id
