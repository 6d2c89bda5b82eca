"""The schedules against moto: night stop (postpone, deadline, keep-awake, offline hub), morning
start, workshop sessions, and the worker/reconcile/schedule handlers."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from handlers import plane as handlers_plane
from handlers import reconcile as reconcile_handler
from handlers import schedule as schedule_handler
from moto import mock_aws
from workshop_hub.ports import AgentFailed

from sandbox.apigw import LambdaContext
from tests.support.hub_world import World, build_world

BERLIN = ZoneInfo("Europe/Berlin")
# 22:00 in Berlin on a winter evening (CET, +01:00).
NIGHT = dt.datetime(2026, 12, 1, 21, 0, tzinfo=dt.UTC)


def Context() -> Any:
    """Lambda's context as the sandbox makes it (duck-typed like Powertools' LambdaContext)."""
    return LambdaContext("workshop-hub-test")


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        world_ = build_world(start=NIGHT)
        yield world_
        world_.close()


def night_stop(world: World, **payload: str) -> dict[str, object]:
    op = world.plane.scheduled(
        "night-stop", {"action": "night-stop", "scheduled_time": NIGHT.isoformat(), **payload}
    )
    assert op is not None and op.state == "succeeded", op.error if op else None
    return dict(op.result)


def test_night_stop_with_nobody_active_stops(world: World) -> None:
    assert night_stop(world) == {"stopped": True}
    assert world.state() == "stopped"


def test_night_stop_postpones_while_users_are_active(world: World) -> None:
    world.hub.active_users = ["alice"]
    result = night_stop(world)
    assert result["stopped"] is False and result["active_users"] == ["alice"]
    assert world.state() == "running"
    [schedule] = world.schedules()
    assert schedule["ScheduleExpression"] == "at(2026-12-01T22:30:00)"  # local time
    assert schedule["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert schedule["ActionAfterCompletion"] == "DELETE"
    payload = json.loads(schedule["Target"]["Input"])
    assert payload == {"action": "postponed-stop", "deadline": "2026-12-02T01:00:00.000Z"}  # 02:00 Berlin
    assert world.hub.calls[0] == ("activity", {"Minutes": "15"})


def test_a_postponed_stop_stops_at_the_deadline_whatever_the_activity(world: World) -> None:
    world.hub.active_users = ["alice"]
    world.time.now_ = dt.datetime(2026, 12, 2, 1, 0, 5, tzinfo=dt.UTC)
    op = world.plane.scheduled(
        "postponed-stop", {"action": "postponed-stop", "deadline": "2026-12-02T01:00:00Z"}
    )
    assert op is not None and op.state == "succeeded"
    assert world.state() == "stopped"
    assert "deadline reached: stopping whatever the activity" in world.step_names(op.id)


def test_a_postponed_stop_before_the_deadline_postpones_again_but_not_past_it(world: World) -> None:
    world.hub.active_users = ["alice"]
    world.time.now_ = dt.datetime(2026, 12, 2, 0, 45, tzinfo=dt.UTC)  # 01:45 Berlin
    op = world.plane.scheduled(
        "postponed-stop", {"action": "postponed-stop", "deadline": "2026-12-02T01:00:00Z"}
    )
    assert op is not None and op.result["postponed_until"] == "2026-12-02T01:00:00.000Z"
    assert [s["ScheduleExpression"] for s in world.schedules()] == ["at(2026-12-02T02:00:00)"]


def test_keep_awake_skips_the_night_stop(world: World) -> None:
    world.plane.submit("keep-awake", {"until": "2026-12-02T06:00:00+01:00"})
    result = night_stop(world)
    assert result["reason"] == "keep-awake"
    assert world.state() == "running" and world.hub.calls == []


def test_an_unreachable_hub_is_stopped_anyway_and_says_why(world: World) -> None:
    def broken(action: str, params: object, timeout_s: int = 600) -> dict[str, object]:
        raise AgentFailed("hub API did not answer: connection refused")

    world.hub.run = broken  # type: ignore[method-assign]
    op = world.plane.scheduled("night-stop", {"action": "night-stop"})
    assert op is not None and op.state == "succeeded" and world.state() == "stopped"
    check = next(i for i, s in enumerate(op.steps) if s.name.startswith("check activity"))
    assert op.steps[check].state == "failed" and "connection refused" in op.steps[check].detail
    assert op.steps[check + 1].name == "nobody counted as active: the hub did not answer"


def test_a_scheduled_action_waits_for_its_turn_on_a_busy_hub(world: World) -> None:
    world.plane.inline = False
    first = world.plane.submit("packages", {"packages": ["xarray"]})
    stop = world.plane.scheduled("night-stop", {"action": "night-stop"})
    assert stop.state == "queued"  # no retry schedule: it waits in the queue
    assert world.wait(first.id).state == "succeeded"
    assert world.wait(stop.id).state == "succeeded" and world.state() == "stopped"
    assert world.schedules() == []


def test_a_redelivered_schedule_runs_once(world: World) -> None:
    first = world.plane.scheduled(
        "night-stop", {"action": "night-stop", "scheduled_time": "2026-12-01T21:00:00Z"}
    )
    again = world.plane.scheduled(
        "night-stop", {"action": "night-stop", "scheduled_time": "2026-12-01T21:00:00Z"}
    )
    assert first is not None and again is not None and first.id == again.id


def test_morning_start(world: World) -> None:
    world.plane.submit("stop", {"force": True})
    op = world.plane.scheduled("morning-start", {"action": "morning-start"})
    assert op is not None and op.state == "succeeded" and world.state() == "running"


def test_a_session_resizes_up_before_and_down_after(world: World) -> None:
    world.plane.submit("stop", {"force": True})
    prepare = world.plane.scheduled(
        "session-prepare", {"action": "session-prepare", "instance_type": "t3.xlarge"}
    )
    assert prepare is not None and prepare.state == "succeeded", prepare.error if prepare else None
    assert (world.state(), world.instance_type()) == ("running", "t3.xlarge")
    assert "wait for hub health" in world.step_names(prepare.id)

    end = world.plane.scheduled("session-end", {"action": "session-end"})
    assert end is not None and end.state == "succeeded"
    assert (world.state(), world.instance_type()) == ("stopped", "t3.medium")


def test_session_end_with_keep_awake_resizes_but_keeps_the_hub_up(world: World) -> None:
    world.plane.scheduled("session-prepare", {"action": "session-prepare", "instance_type": "t3.xlarge"})
    world.plane.submit("keep-awake", {"until": "2026-12-02T06:00:00Z"})
    world.plane.scheduled("session-end", {"action": "session-end"})
    assert (world.state(), world.instance_type()) == ("running", "t3.medium")


# --- the handlers ------------------------------------------------------------------------------


def test_the_schedule_handler_at_a_frozen_night() -> None:
    with freeze_time("2026-12-01 21:00:00"), mock_aws():
        world = build_world()
        try:
            world.hub.active_users = ["bob"]
            answer = schedule_handler.handler(
                {"action": "night-stop", "scheduled_time": "2026-12-01T21:00:00Z"}, Context()
            )
            assert world.wait(answer["operation_id"]).state == "succeeded"
        finally:
            world.close()
            handlers_plane.use_control_plane(None)
        [postponed] = world.schedules()
        assert postponed["ScheduleExpression"].startswith("at(2026-12-01T22:30")


def test_the_worker_handler_runs_a_queued_operation(capsys: pytest.CaptureFixture[str]) -> None:
    with mock_aws():
        world = build_world(inline=False)
        try:
            op = world.plane.submit("stop", {"force": True})  # the worker's durable execution, named by op.id
            assert world.executions.wait(op.id) == "SUCCEEDED"
            answer = world.executions.result(op.id)
        finally:
            world.close()
            handlers_plane.use_control_plane(None)
    assert json.loads(answer or "") == {"operation_id": op.id, "state": "succeeded", "error": None}
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    names = {m["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]: m for m in metrics if "kind" in m}
    assert (
        names["OperationFailed"]["OperationFailed"] in (0, [0.0])
        and names["OperationFailed"]["kind"] == "stop"
    )
    assert names["OperationDuration"]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "WorkshopHub"


def test_the_reconcile_handler_acts_on_running_of_its_instance_only() -> None:
    with mock_aws():
        world = build_world()
        world.plane.roster()
        world.plane.submit("stop", {"force": True})
        world.plane.submit("users-add", {"usernames": ["zoe"]})
        world.plane.submit("start", {})
        try:
            other = {"detail": {"instance-id": "i-other", "state": "running"}}
            assert reconcile_handler.handler(other, Context()) == {"reconcile": None}
            event = {"id": "e-1", "detail": {"instance-id": world.instance_id, "state": "running"}}
            answer = reconcile_handler.handler(event, Context())
            assert world.wait(answer["reconcile"]).state == "succeeded"
        finally:
            world.close()
            handlers_plane.use_control_plane(None)
        assert world.hub.users == {"zoe": False}
