"""A hubagent command is sent in one step and awaited between durable waits (Run.command), so it is
bounded by its action's own time limit, never by one invocation's. Scaled down here: the install runs
5 s (a large conda environment: an hour) and every invocation of the worker is timed (Lambda cuts one
at 15 minutes)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from handlers import worker
from workshop_hub.services import Timeouts

from tests.support.twin_world import twin_world


@pytest.fixture
def invocations(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """How long each invocation of the worker handler lasted (the local runner calls it once per
    invocation, as Lambda does)."""
    lasted: list[float] = []
    real = worker.handler

    def timed(event: Any, context: Any) -> Any:
        began = time.monotonic()
        try:
            return real(event, context)
        finally:
            lasted.append(time.monotonic() - began)

    monkeypatch.setattr(worker, "handler", timed)
    yield lasted


def test_a_command_longer_than_an_invocation_is_awaited_across_invocations(invocations: list[float]) -> None:
    with twin_world(skip_time=False, timeouts=Timeouts(command_max_every_s=1)) as world:
        world.hub.slow["packages-install"] = 5.0
        op = world.submit("packages", {"packages": ["xarray"]})
        assert op.state == "succeeded", op.error
        assert [a for a, _ in world.hub.calls].count("packages-install") == 1  # sent once
        assert world.hub.packages["pip"] == {"xarray"}
        [step] = [s for s in op.steps if s.name == "packages-install"]
        assert step.state == "succeeded" and step.detail == "changed"
    # No invocation waited for the command: each one sent it or asked once, then suspended.
    assert len(invocations) >= 4 and max(invocations) < 2.0, invocations


def test_a_command_that_never_ends_is_given_up_and_cancelled_past_its_limit() -> None:
    # Durable waits skipped: the limit (2 x 3600 s + 60 s) passes at once, asked about every 10 minutes.
    with twin_world(timeouts=Timeouts(command_max_every_s=600)) as world:
        world.hub.hang.add("packages-install")
        op = world.submit("packages", {"packages": ["xarray"]})
        assert op.state == "failed"
        assert "packages-install did not finish within 7260 s" in (op.error or "")
        assert len(world.hub.cancelled) == 1
        assert world.stores.lease.holder() is None  # the hub is free for the next one


def test_a_command_whose_result_was_lost_is_sent_again() -> None:
    """The sandbox's runner restarted while it ran: hubagent's actions are idempotent, so it goes again."""
    from workshop_hub.ports import CommandLost

    with twin_world() as world:
        real = world.hub.result
        lost = iter([True])

        def result(command_id: str, action: str) -> Any:
            if action == "data-sync" and next(lost, False):
                raise CommandLost(f"{action}: no command {command_id} runs here")
            return real(command_id, action)

        world.hub.result = result  # type: ignore[method-assign]
        op = world.submit("data-sync", {"name": "workshopdata"})
        assert op.state == "succeeded", op.error
        assert [a for a, _ in world.hub.calls].count("data-sync") == 2
        assert [(s.name, s.state) for s in op.steps if s.name.startswith("data-sync")] == [
            ("data-sync", "failed"),
            ("data-sync (sent again)", "succeeded"),
        ]
