"""The hub's queue drains by hand-off, not polling: 40 operations asked for at once, each of a known
length (a data sync whose hubagent command runs 2 s for real), through the real worker handler under the
durable SDK's local runner with real waits, on the in-memory twins.

It prints the drain time (the first operation's start to the last one's end) against the sum of the
operations' own durations (each one's start to its end, as its record says), the gap from each release
of the hub to the next operation taking it, and the goal: at most 1.1 x the sum plus 2 s per operation.
Then the same with the hand-off switched off (the waiters' callbacks only time out: the old polling),
for a few operations, to show what the hand-off saves.

    .venv/bin/python bench/handoff.py [N] [SECONDS]
"""

from __future__ import annotations

import contextlib
import itertools
import os
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workshop_hub.operations import Operation
from workshop_hub.services import Timeouts
from workshop_hub.times import parse_time, utcnow

from tests.support.twin_world import TwinWorld, twin_world


def timed_takes(world: TwinWorld) -> list[tuple[str, str, float]]:
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


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """The worker's JSON logs and metrics and the runner's notes go nowhere while it drains."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


def drain(count: int, seconds: float, *, hand_off: bool) -> dict[str, float]:
    with quiet(), twin_world(skip_time=False, timeouts=Timeouts()) as world:
        world.plane.services.clock = utcnow  # real time in the records: their durations are real
        world.hub.slow["data-sync"] = seconds
        if not hand_off:
            world.executions.notify = lambda callback_id: False  # type: ignore[method-assign]
        events = timed_takes(world)
        ops = [
            world.plane.submit("data-sync", {"name": "workshopdata", "ref": f"v{i}"}) for i in range(count)
        ]
        done: list[Operation] = [world.wait(op.id) for op in ops]
        failed = [op for op in done if op.state != "succeeded"]
        if failed:
            raise SystemExit(f"{len(failed)} operation(s) failed: {failed[0].error}")
        own = [
            (parse_time(op.ended_at or "") - parse_time(op.started_at or "")).total_seconds() for op in done
        ]
        first = min(parse_time(op.started_at or "") for op in done)
        last = max(parse_time(op.ended_at or "") for op in done)
        gaps = [
            after[2] - before[2]
            for before, after in itertools.pairwise(events)
            if before[0] == "release" and after[0] == "take"
        ]
        return {
            "count": count,
            "drain": (last - first).total_seconds(),
            "sum": sum(own),
            "own_mean": statistics.mean(own),
            "gap_median": statistics.median(gaps) if gaps else 0.0,
            "gap_max": max(gaps) if gaps else 0.0,
            "handoffs": float(world.executions.notified),
        }


def show(title: str, r: dict[str, float]) -> None:
    n = int(r["count"])
    goal = 1.1 * r["sum"] + 2.0 * n
    print(title)
    print(f"  drain (first start to last end)     {r['drain']:8.1f} s")
    print(f"  sum of their own durations          {r['sum']:8.1f} s   ({r['own_mean']:.2f} s each)")
    print(f"  drain / sum                         {r['drain'] / r['sum']:8.3f}")
    print(f"  release -> next take: median        {r['gap_median']:8.2f} s, max {r['gap_max']:.2f} s")
    print(f"  hand-offs (callbacks completed)     {int(r['handoffs']):8d}")
    verdict = "met" if r["drain"] <= goal else "NOT met"
    print(f"  goal: drain <= 1.1 x sum + 2 s x {n} = {goal:.1f} s: {verdict}")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
    show(f"{count} queued data syncs of {seconds:g} s each, hand-off:", drain(count, seconds, hand_off=True))
    show(
        "\n4 of them with the hand-off off (each waiter looks only when its callback times out: 5 s, 7.5 s, ... 60 s):",
        drain(4, seconds, hand_off=False),
    )


if __name__ == "__main__":
    main()
