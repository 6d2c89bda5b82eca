"""The sandbox's clock jumps, its night-stop hint and its hub port: tables, no processes started."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path
from typing import Any

import pytest

from sandbox import cli, control
from sandbox.clock import firings
from sandbox.layout import Layout
from sandbox.server import Sandbox

UTC = dt.UTC


def t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


class Recorder(Sandbox):
    """The sandbox's scheduler with its schedules given and its handler recorded."""

    def __init__(self, schedules: list[dict[str, Any]]) -> None:
        self._schedules = schedules
        self.calls: list[dict[str, Any]] = []
        self.fired = []
        self.skipped = []
        self.group = "g"

    def schedules(self) -> list[dict[str, Any]]:
        return self._schedules

    def _invoke(self, which: str, event: dict[str, Any]) -> Any:
        self.calls.append(event)
        return {"ok": True}


def schedule(name: str, expression: str, zone: str = "Europe/Berlin") -> dict[str, Any]:
    return {
        "Name": name,
        "ScheduleExpression": expression,
        "ScheduleExpressionTimezone": zone,
        "Target": {"Input": f'{{"action": "{name}"}}'},
        "State": "ENABLED",
    }


def test_firings_of_a_daily_cron_in_its_time_zone_across_daylight_saving():
    found = firings("cron(0 22 * * ? *)", "Europe/Berlin", t("2026-03-27T00:00Z"), t("2026-03-31T00:00Z"))
    assert [f.isoformat() for f in found] == [
        "2026-03-27T21:00:00+00:00",
        "2026-03-28T21:00:00+00:00",
        "2026-03-29T20:00:00+00:00",  # summer time from 29 March: still 22:00 in Berlin
        "2026-03-30T20:00:00+00:00",
    ]


def test_a_jump_fires_every_one_time_schedule_in_order_and_reports_skipped_repeats():
    sandbox = Recorder(
        [
            schedule("night-stop", "cron(0 22 * * ? *)"),
            schedule("postponed-2", "at(2026-12-02T22:30:00)"),
            schedule("postponed-1", "at(2026-12-01T22:30:00)"),
            schedule("too-late", "at(2026-12-09T09:00:00)"),
        ]
    )
    fired = sandbox.fire_due(t("2026-12-01T12:00Z"), t("2026-12-03T21:05Z"), jump=True)
    assert [(f["schedule"], f["due"]) for f in fired] == [
        ("postponed-1", "2026-12-01T21:30:00+00:00"),
        ("postponed-2", "2026-12-02T21:30:00+00:00"),
        ("night-stop", "2026-12-03T21:00:00+00:00"),
    ]
    assert sandbox.skipped == [
        {"schedule": "night-stop", "due": ["2026-12-01T21:00:00+00:00", "2026-12-02T21:00:00+00:00"]}
    ]


def test_without_a_jump_every_firing_runs():
    sandbox = Recorder([schedule("every-minute", "cron(* * * * ? *)", "UTC")])
    fired = sandbox.fire_due(t("2026-12-01T12:00Z"), t("2026-12-01T12:03Z"))
    assert len(fired) == 3 and sandbox.skipped == []


@pytest.mark.parametrize(
    ("now", "days", "expected"),
    [
        ("2026-12-03T12:00Z", ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"], "2026-12-03T22:00+01:00"),
        ("2026-12-03T21:30Z", ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"], "2026-12-04T22:00+01:00"),
        ("2026-12-04T22:00Z", ["MON", "TUE", "WED", "THU", "FRI"], "2026-12-07T22:00+01:00"),  # Fri late
        ("2026-07-01T12:00Z", ["WED"], "2026-07-01T22:00+02:00"),  # summer time
    ],
)
def test_the_night_stop_hint_is_the_next_stop_in_the_schedules_zone(now, days, expected):
    assert cli.next_local("22:00", "Europe/Berlin", days, t(now)) == expected


def test_the_hub_port_is_kept_and_a_busy_one_is_a_clear_error(tmp_path: Path, monkeypatch):
    monkeypatch.delenv(control.HUB_PORT_ENV, raising=False)
    layout = Layout(tmp_path)
    first = control.hub_port(layout, 0)
    assert (tmp_path / "hub-port").read_text().strip() == str(first)
    assert control.hub_port(layout, None) == first  # the next up: the same port
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", first))
        busy.listen()
        with pytest.raises(control.SandboxError, match=rf"port {first} \(the port of the last up"):
            control.hub_port(layout, None)
        monkeypatch.setenv(control.HUB_PORT_ENV, "not-a-port")
        with pytest.raises(control.SandboxError, match="SANDBOX_HUB_PORT: 'not-a-port' must be a port"):
            control.hub_port(layout, None)
