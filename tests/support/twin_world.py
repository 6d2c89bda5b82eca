"""A control plane on in-memory twins (tests/support/twins.py) and the fake hub (fake_hub.py): the
domain's unit tests, without moto. The worker is the real handler under the durable SDK's local runner,
as everywhere else; durable waits end at once.

    with twin_world() as world:
        op = world.submit("resize", {"instance_type": "t3.xlarge"})   # returns once it has ended
        world.machine.instance_type, world.hub.users, world.stores.desired.get()
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from handlers import plane as handlers_plane
from handlers import worker
from workshop_hub import config
from workshop_hub.adapters.local_executions import LocalExecutions
from workshop_hub.control_plane import ControlPlane
from workshop_hub.operations import Operation
from workshop_hub.services import Services, Timeouts
from workshop_hub.stores import Stores

from tests.support.fake_hub import FakeHub, FakeTime
from tests.support.hub_world import CONFIG, settings
from tests.support.twins import MemoryHubMachine, MemorySchedules, memory_stores


@dataclass
class TwinWorld:
    plane: ControlPlane
    machine: MemoryHubMachine
    hub: FakeHub
    schedules: MemorySchedules
    stores: Stores
    time: FakeTime
    executions: LocalExecutions

    def submit(self, kind: str, params: dict[str, Any], idempotency_key: str | None = None) -> Operation:
        """Submit and let the operation's execution end (a recording-only kind ends at once)."""
        op = self.plane.submit(kind, params, idempotency_key)
        return self.wait(op.id)

    def scheduled(self, action: str, payload: dict[str, Any]) -> Operation:
        return self.wait(self.plane.scheduled(action, payload).id)

    def wait(self, op_id: str) -> Operation:
        self.executions.wait(op_id)
        op = self.plane.operation(op_id)
        assert op is not None
        return op

    def steps(self, op: Operation) -> list[str]:
        return [s.name for s in op.steps if s.name != "wait for the hub"]


@contextmanager
def twin_world(
    workshop: dict[str, Any] | None = None,
    *,
    start: dt.datetime | None = None,
    skip_time: bool = True,
    timeouts: Timeouts | None = None,
) -> Iterator[TwinWorld]:
    """A running t3.medium hub with a 30 GiB volume, hub_world's workshop.yaml (or ``workshop``).
    ``skip_time=False``: durable waits last for real (as in the sandbox), for tests about time."""
    time = FakeTime(start)
    machine = MemoryHubMachine(clock=time.now)
    hub = FakeHub(instance_state=lambda: machine.state, volume_gib=lambda: machine.size_gib)
    schedules = MemorySchedules()
    stores = memory_stores(time.now)
    executions = LocalExecutions(worker.handler, skip_time=skip_time)
    plane = ControlPlane(
        Services(
            deployment=settings(instance_id=machine.instance_id, volume_id=machine.volume_id),
            config=config.from_json(json.dumps(workshop or CONFIG)),
            stores=stores,
            hub=machine,
            commands=hub,
            schedules=schedules,
            executions=executions,
            clock=time.now,
            timeouts=timeouts or Timeouts(),
        )
    )
    handlers_plane.use_control_plane(plane)
    try:
        yield TwinWorld(plane, machine, hub, schedules, stores, time, executions)
    finally:
        executions.wait_all(timeout_s=60)
        executions.close()
        handlers_plane.use_control_plane(None)
