"""Times in the workshop's zone wherever hubctl prints them: keep-awake's echo and its operation's
result, an operation's result times, the roster's, the snapshots' (the API sends UTC)."""

from __future__ import annotations

import datetime as dt

import pytest
from typer.testing import CliRunner

from hubctl import snapshots, views
from hubctl.cli import app
from hubctl.output import result_lines
from tests.support.fake_plane import FakePlane
from tests.support.hubctl_api import served_api, using

WORKSHOP_YAML = "hub: {name: workshop-hub}\nschedule: {timezone: Europe/Berlin}\n"

BERLIN = views.zone("Europe/Berlin")


@pytest.fixture
def plane():
    with using(FakePlane()) as fake:
        yield fake


@pytest.fixture
def served(plane, tmp_path, monkeypatch):
    with served_api(tmp_path, monkeypatch, WORKSHOP_YAML) as server:
        yield server


def test_keep_awake_echoes_and_shows_its_result_in_the_workshops_zone(served, plane) -> None:
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).replace(second=0, microsecond=0)
    plane.results["keep-awake"] = {"until": until.isoformat().replace("+00:00", ".000Z")}
    result = CliRunner().invoke(app, ["keep-awake", until.isoformat()])
    assert result.exit_code == 0, result.output
    local = until.astimezone(BERLIN)
    assert f"keep awake until {local:%a %d %b %H:%M} Europe/Berlin" in result.stderr
    assert f"until: {local:%a %d %b %H:%M %Z}" in result.stdout  # not the API's UTC
    assert until.isoformat()[:16] not in result.stdout


def test_an_operations_result_times_are_local() -> None:
    result = {
        "until": "2026-12-06T22:30:00.000Z",
        "postponed_until": "2026-07-01T20:00:00+00:00",
        "to": "t3.large",
    }
    assert result_lines(result, BERLIN) == [
        ("until", "Sun 06 Dec 23:30 CET"),
        ("postponed_until", "Wed 01 Jul 22:00 CEST"),  # summer time
        ("to", "t3.large"),
    ]


def test_the_roster_shows_when_each_was_added_in_local_time(served, plane) -> None:
    plane.roster_.append(
        {"username": "ada", "admin": False, "on_hub": True, "added_at": "2026-12-06T22:08:27.920Z"}
    )
    result = CliRunner().invoke(app, ["users", "list"])
    assert result.exit_code == 0, result.output
    assert "Sun 06 Dec 23:08 CET" in result.stdout and "22:08:27" not in result.stdout


def test_snapshots_in_local_time() -> None:
    rows = [
        {
            "snapshot_id": "snap-1",
            "started": "2026-12-06T01:00:05+00:00",
            "kind": "nightly",
            "size_gib": 30,
            "state": "completed",
        }
    ]
    assert snapshots.for_people(rows, BERLIN)[0]["started"] == "2026-12-06 02:00 CET"
