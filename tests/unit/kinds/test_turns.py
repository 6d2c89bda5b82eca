"""Whose turn it is on the hub (turns.py), on the in-memory twins under the durable SDK's local runner:
the hand-off (the releaser completes the next waiter's durable callback) and its fallbacks (the
callback's own timeout: a releaser that crashed before the hand-off, a holder found dead)."""

from __future__ import annotations

import threading
import time
from typing import Any

from workshop_hub import turns
from workshop_hub.operations import Operation
from workshop_hub.services import Timeouts
from workshop_hub.times import iso, parse_time

from tests.support.twin_world import TwinWorld, twin_world

# Each waiter's callback times out after 30 s at first: a hand-off is the only way to go on sooner.
SLOW_FALLBACK = Timeouts(turn_every_s=30, turn_max_every_s=60)
QUICK_FALLBACK = Timeouts(turn_every_s=1, turn_max_every_s=1)
# A failing reconcile tries again after 2 s (on AWS: 1, 5, 15 minutes).
RETRY_SOON = Timeouts(reconcile_retries_s=(2, 2, 2), turn_every_s=30, turn_max_every_s=60)


def timed_lease(world: TwinWorld) -> list[tuple[str, str, float]]:
    """Every take and release of the lease, with its real time."""
    lease = world.stores.lease
    events: list[tuple[str, str, float]] = []
    guard = threading.Lock()
    take, release = lease.take, lease.release

    def timed_take(op_id: str, kind: str) -> bool:
        taken = take(op_id, kind)
        with guard:
            mine = [e[0] for e in events if e[1] == op_id]
            if taken and (not mine or mine[-1] != "take"):  # a holder's look takes again: one take
                events.append(("take", op_id, time.monotonic()))
        return taken

    def timed_release(op_id: str) -> bool:
        released = release(op_id)
        if released:
            with guard:
                events.append(("release", op_id, time.monotonic()))
        return released

    lease.take, lease.release = timed_take, timed_release  # type: ignore[method-assign]
    return events


def test_the_next_waiter_takes_the_hub_within_2_seconds_of_its_release() -> None:
    with twin_world(skip_time=False, timeouts=SLOW_FALLBACK) as world:
        world.hub.slow["data-sync"] = 1.5  # the holder's command runs for real
        events = timed_lease(world)
        first = world.plane.submit("data-sync", {"name": "workshopdata"})
        second = world.plane.submit("data-sync", {"name": "workshopdata", "ref": "v2"})
        third = world.plane.submit("start", {})
        done = [world.wait(op.id) for op in (first, second, third)]
        assert [op.state for op in done] == ["succeeded"] * 3, [op.error for op in done]
        order = [(event, op_id) for event, op_id, _ in events]
        assert order == [
            ("take", first.id),
            ("release", first.id),
            ("take", second.id),
            ("release", second.id),
            ("take", third.id),
            ("release", third.id),
        ]
        gaps = [events[i + 1][2] - events[i][2] for i in (1, 3)]  # each release to the next take
        assert all(gap < 2.0 for gap in gaps), gaps  # its callback's own timeout is 30 s
        assert world.executions.notified == 2


def test_a_releaser_that_never_hands_off_still_lets_the_waiter_go_by_itself() -> None:
    """The release step crashed before its hand-off (or the callback was closed): the waiter's callback
    times out and it looks again by itself."""
    with twin_world(skip_time=False, timeouts=QUICK_FALLBACK) as world:
        world.hub.slow["data-sync"] = 1.0
        world.executions.notify = lambda callback_id: False  # type: ignore[method-assign]
        first = world.plane.submit("data-sync", {"name": "workshopdata"})
        second = world.plane.submit("start", {})
        assert world.wait(first.id).state == "succeeded"
        waited = world.wait(second.id)
        assert waited.state == "succeeded", waited.error
        [wait] = [s for s in waited.steps if s.name == "wait for the hub"]
        assert wait.state == "succeeded"


def test_a_holder_found_dead_while_the_waiter_sleeps_is_dropped_at_the_next_look() -> None:
    with twin_world(timeouts=QUICK_FALLBACK) as world:
        holder = Operation(id="op-0-holder", kind="resize", params={}, created_at=iso(world.time.now()))
        world.stores.operations.save(holder)
        assert world.stores.lease.take(holder.id, holder.kind)  # its execution never existed
        waiter = world.plane.submit("start", {})
        deadline = time.monotonic() + 30
        while world.stores.lease.callback(waiter.id) is None:  # it sleeps on its callback now
            assert time.monotonic() < deadline, "the waiter never suspended on a callback"
            time.sleep(0.05)
        world.time.advance(minutes=11)  # past the 10 minutes Lambda's async queue may take to start it
        done = world.wait(waiter.id)
        assert done.state == "succeeded", done.error
        dropped = world.stores.operations.get(holder.id)
        assert dropped is not None and dropped.state == "failed"
        assert "no execution of it was found" in (dropped.error or "")
        assert world.stores.lease.holder() is None


def test_the_hand_off_passes_over_a_closed_callback_to_the_next_in_line() -> None:
    with twin_world() as world:
        lease = world.stores.lease
        for op_id in ("op-1", "op-2", "op-3"):
            lease.enqueue(op_id, "start")
        lease.wait_here("op-1", "Y2xvc2Vk")
        lease.wait_here("op-2", "b3Blbg==")
        lease.wait_here("op-3", "bmV4dA==")
        called: list[str] = []

        def notify(callback_id: str) -> bool:
            called.append(callback_id)
            return callback_id != "Y2xvc2Vk"  # op-1 is between two looks: its callback is closed

        world.executions.notify = notify  # type: ignore[method-assign]
        assert turns.hand_off(world.plane.services) == "op-2"
        assert called == ["Y2xvc2Vk", "b3Blbg=="]  # only the one whose turn it is, not everyone


def test_the_waiter_records_its_callback_before_it_looks_at_the_lease() -> None:
    """Record, then look: a release that falls between the look and the suspension finds the callback."""
    with twin_world() as world:
        lease = world.stores.lease
        asked: list[str] = []
        real_holder, real_wait_here = lease.holder, lease.wait_here

        def holder_() -> Any:
            asked.append("holder")
            return real_holder()

        def wait_here(op_id: str, callback_id: str) -> bool:
            asked.append("wait_here")
            return real_wait_here(op_id, callback_id)

        lease.holder, lease.wait_here = holder_, wait_here  # type: ignore[method-assign]
        busy = Operation(id="op-0-busy", kind="resize", params={}, created_at=iso(world.time.now()))
        world.stores.operations.save(busy)
        lease.take(busy.id, busy.kind)  # alive for 10 minutes: no execution yet, as if just asked
        waiter = world.plane.submit("stop", {"force": True})
        deadline = time.monotonic() + 30
        while "wait_here" not in asked:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert asked.index("wait_here") < len(asked) - 1 and asked[asked.index("wait_here") + 1] == "holder"
        lease.release(busy.id)
        turns.hand_off(world.plane.services)  # what the busy one's release step does
        assert world.wait(waiter.id).state == "succeeded"


def test_a_failing_reconcile_lets_go_of_the_hub_between_its_tries() -> None:
    """A data repo that fails never holds the hub through the reconcile's backoff: what was asked for
    meanwhile runs in the wait, and the reconcile takes its turn again for each try."""
    with twin_world(skip_time=False, timeouts=RETRY_SOON) as world:
        world.hub.fail["data-sync"] = "fatal: unable to access 'https://github.com/jupyterhub/nbgitpuller/'"
        events = timed_lease(world)
        reconcile = world.plane.submit("reconcile", {})
        start = world.plane.submit("start", {})
        failed, started = world.wait(reconcile.id), world.wait(start.id)
        assert started.state == "succeeded", started.error
        assert failed.state == "failed" and "after 4 tries" in (failed.error or "")
        takes = [op_id for event, op_id, _ in events if event == "take"]
        assert takes == [reconcile.id, start.id, reconcile.id, reconcile.id, reconcile.id]
        assert parse_time(started.ended_at or "") < parse_time(failed.ended_at or "")
        names = [s.name for s in failed.steps]
        assert "1 part(s) failed; trying again in 2 s (the hub is free meanwhile)" in names
        assert [n for n in names if n.startswith("wait for the hub (try")] == [
            "wait for the hub (try 2)",
            "wait for the hub (try 3)",
            "wait for the hub (try 4)",
        ]


def test_a_reconcile_that_finds_the_hub_stopped_after_its_wait_leaves_the_rest_to_the_next_start() -> None:
    with twin_world(skip_time=False, timeouts=RETRY_SOON) as world:
        world.hub.fail["data-sync"] = "fatal: unable to access 'https://github.com/jupyterhub/nbgitpuller/'"
        reconcile = world.plane.submit("reconcile", {})
        stop = world.plane.submit("stop", {"force": True})  # runs in the reconcile's first wait
        assert world.wait(stop.id).state == "succeeded"
        done = world.wait(reconcile.id)
        assert done.state == "succeeded" and done.result.get("skipped") == "stopped", done.error
        assert done.result["failed_parts"][0].startswith("data-sync workshopdata: fatal")
        assert "stopped retrying: the hub is stopped now; the next start reconciles" in [
            s.name for s in done.steps
        ]
