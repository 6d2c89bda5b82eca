"""hubctl's commands for routes the domain adds (GET /operations, DELETE /packages/{spec}) and the
readable views (ops list, ops show with step times, status), against a stub API over real HTTP.

The stub answers with the shapes the lead's domain is asked to give (see the report of issue 11)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from typer.testing import CliRunner

from hubctl import views
from hubctl.cli import app
from tests.support.apigw_server import serve

TOKEN = "stub-token"
OPS_ROUTE = {"on": True}
BERLIN = views.zone("Europe/Berlin")

OPS: list[dict[str, Any]] = [
    {
        "id": "op-20261203T211503123-a1b2c3",
        "kind": "packages",
        "state": "failed",
        "created_at": "2026-12-03T21:15:03+00:00",
        "started_at": "2026-12-03T21:15:04+00:00",
        "ended_at": "2026-12-03T21:16:34+00:00",
        "error": "pip install of definitely-not-a-real-pkg failed (exit 1): ERROR: No matching distribution "
        "found for definitely-not-a-real-pkg",
    },
    {
        "id": "op-20261203T080000000-0f9e8d",
        "kind": "users-add",
        "state": "succeeded",
        "created_at": "2026-12-03T08:00:00+00:00",
        "started_at": "2026-12-03T08:00:01+00:00",
        "ended_at": "2026-12-03T08:00:03+00:00",
        "error": None,
    },
]
DETAIL: dict[str, Any] = {
    **OPS[1],
    "params": {"usernames": ["ada"], "admin": False},
    "steps": [
        {
            "name": "create users on the hub",
            "state": "succeeded",
            "started_at": "2026-12-03T08:00:01+00:00",
            "ended_at": "2026-12-03T08:00:03+00:00",
            "detail": "",
        }
    ],
    "result": {"created": ["ada"]},
}
STATUS: dict[str, Any] = {
    "instance": {"id": "i-0123", "state": "running", "type": "t3.xlarge", "public_ip": "203.0.113.10"},
    "hub_url": "http://203.0.113.10",
    "volume_gib": 64,
    "everyday_instance_type": "t3.medium",
    "hub_health": {
        "ok": True,
        "hub_ok": True,
        "hub_version": "5.3.0",
        "tljh_version": "2.0.0",
        "installed": True,
        "disk_free_bytes": 40 * 1024**3,
        "memory_available_bytes": 3 * 1024**3 // 2,
    },
    "schedule": {
        "timezone": "Europe/Berlin",
        "next": [{"name": "night-stop", "at": "2026-12-03T22:00:00+01:00"}],
    },
    "keep_awake_until": None,
    "next_stop": {"at": "2026-12-03T22:30:00+01:00", "why": "postponed: alice was active"},
    "pending": ["data:workshopdata", "users"],
    "packages_failed": [
        {
            "manager": "pip",
            "spec": "definitely-not-a-real-pkg",
            "error": "ERROR: No matching distribution found for definitely-not-a-real-pkg\x1b[0m",
            "at": "2026-12-03T21:16:34+00:00",
        }
    ],
    "operation_in_progress": "op-20261203T211503123-a1b2c3",
    "running": [{"id": "op-20261203T211503123-a1b2c3", "kind": "resize", "state": "running"}],
    "waiting": [{"id": "op-20261203T211600000-ffff01", "kind": "users-add", "state": "queued"}],
    "last_operations": OPS,
}


@pytest.fixture
def api(tmp_path, monkeypatch):
    seen: list[tuple[str, str]] = []

    def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
        method, path = event["httpMethod"], event["path"]
        seen.append((method, path))
        body: Any
        if (method, path) == ("GET", "/operations") and OPS_ROUTE["on"]:
            status, body = 200, {"operations": OPS}
        elif method == "GET" and path == f"/operations/{DETAIL['id']}":
            status, body = 200, DETAIL
        elif (method, path) == ("GET", "/status"):
            status, body = 200, STATUS
        elif method == "DELETE" and path.startswith("/packages/"):
            status, body = 202, {"operation_id": DETAIL["id"], "state": "queued"}
        else:
            status, body = 404, {"error": f"no route {method} {path}"}
        return {
            "statusCode": status,
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps(body),
        }

    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    with serve(handler, token=TOKEN) as server:
        monkeypatch.setenv("HUBCTL_API_URL", server.url)
        monkeypatch.setenv("HUBCTL_TOKEN_FILE", str(token_file))
        monkeypatch.setenv("HUBCTL_POLL_SECONDS", "0")
        monkeypatch.chdir(tmp_path)
        (tmp_path / "workshop.yaml").write_text("schedule:\n  timezone: Europe/Berlin\n")
        yield seen


def hubctl(*args: str):
    return CliRunner().invoke(app, list(args))


def test_ops_list_is_one_line_each_newest_first_within_80_columns(api):
    result = hubctl("ops", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert all(len(line) <= 80 for line in lines)
    assert lines[0].startswith("a1b2c3 03 Dec 22:15 packages            failed")  # Berlin time
    assert "1 min 30 s" in lines[0]
    assert lines[0].endswith("…")
    assert lines[1].startswith("0f9e8d 03 Dec 09:00 users-add           succeeded")
    assert ("GET", "/operations") in api


def test_ops_show_takes_a_short_id_and_shows_step_times(api):
    result = hubctl("ops", "show", "0f9e8d")
    assert result.exit_code == 0, result.output
    assert "create users on the hub" in result.stdout
    assert "09:00:01  2 s" in result.stdout
    assert "created: ada" in result.stdout
    assert ("GET", f"/operations/{DETAIL['id']}") in api


def test_an_unknown_short_id_is_not_found(api):
    result = hubctl("ops", "show", "999999")
    assert result.exit_code == 4
    assert "no recent operation has the short id '999999'" in result.stderr


def test_packages_remove_sends_delete_with_the_spec_encoded(api):
    result = hubctl("packages", "remove", "numpy>=1.26,<3")
    assert result.exit_code == 0, result.output
    assert ("DELETE", "/packages/numpy%3E%3D1.26%2C%3C3") in api  # one percent-encoded segment


def test_packages_remove_refuses_a_bad_spec_before_sending(api):
    result = hubctl("packages", "remove", "--", "-e git+https://x")
    assert result.exit_code == 2
    assert "spec:" in result.stderr
    assert not any(method == "DELETE" for method, _ in api)


def test_status_is_readable(api):
    result = hubctl("status")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "running, t3.xlarge (everyday size t3.medium)" in out
    assert "64 GiB, 40.0 GiB free" in out
    assert "JupyterHub 5.3.0, TLJH 2.0.0" in out
    assert "1.5 GiB memory free" in out
    assert "Europe/Berlin" in out
    assert "Thu 03 Dec 22:30 (postponed: alice was active)" in out
    assert "next night stop" in out and "Thu 03 Dec 22:00" in out
    assert "data repo workshopdata, users to create" in out
    words = " ".join(out.split())
    assert (
        "package failed definitely-not-a-real-pkg (pip, Thu 03 Dec 22:16): ERROR: No matching distribution"
        in words
    )
    assert "hubctl packages remove SPEC forgets one" in words
    assert "\x1b" not in out
    assert "resize a1b2c3 (running)" in out
    assert "users-add ffff01 (queued)" in out
    assert "disk_free_bytes" not in out


def test_status_json_keeps_the_raw_form(api):
    result = hubctl("-o", "json", "status")
    shown = json.loads(result.stdout)
    # the API's answer as it came, and beside it hubctl's own check of the participants' address
    address = shown.pop("hub_address")
    assert shown == STATUS
    assert address["url"] == f"{STATUS['hub_url']}/hub/api" and not address["ok"]
    assert "not https" in address["detail"]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (59, "59 s"), (90, "1 min 30 s"), (3600, "1 h 00 min"), (None, "")],
)
def test_durations(seconds, text):
    assert views.duration(seconds) == text


def test_keep_awake_marks_the_night_stop_it_skips():
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)).isoformat()
    stop = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    lines = dict(
        views.status_lines(
            {
                "keep_awake_until": until,
                "schedule": {"timezone": "UTC", "next": [{"name": "night-stop", "at": stop}]},
            }
        )
    )
    assert lines["keep-awake"].startswith("until ")
    assert lines["next night stop"].endswith("(skipped: keep-awake)")


def test_ops_list_falls_back_to_status_on_an_api_without_the_route(api):
    OPS_ROUTE["on"] = False
    try:
        result = hubctl("ops", "list")
    finally:
        OPS_ROUTE["on"] = True
    assert result.exit_code == 0, result.output
    assert "no GET /operations" in result.stderr
    assert result.stdout.splitlines()[0].startswith("a1b2c3")


def test_ops_list_columns_never_run_into_each_other() -> None:
    """Every kind's name, the longest durations and states: the columns start where the header says,
    with a space before each, and the line stays within 80 columns, an error taking what is left."""
    from workshop_hub.kinds.registry import REGISTRY

    starts = []
    at = 0
    for _, width in views.COLUMNS:
        starts.append(at)
        at += width + 1
    lines = []
    for kind in [*REGISTRY, "a-kind-name-longer-than-any-column"]:
        for state, seconds in (("succeeded", 3599), ("failed", 36000), ("queued", None)):
            created = dt.datetime(2026, 12, 3, 21, 15, tzinfo=dt.UTC)
            op = {
                "id": "op-20261203T211503123-a1b2c3",
                "kind": kind,
                "state": state,
                "created_at": created.isoformat(),
                "ended_at": (created + dt.timedelta(seconds=seconds)).isoformat() if seconds else None,
                "error": "\x1b[31mred\x1b[0m and a long error " * 5 if state == "failed" else None,
            }
            lines.append(views.op_line(op, BERLIN))
    for line in lines:
        assert len(line) <= 80 and "\x1b" not in line, line
        for start in starts[1:]:
            assert len(line) < start or line[start - 1] == " ", (line, start)  # a queued one ends early
        assert line[starts[1] : starts[1] + 12] == "03 Dec 22:15"
    kinds = {line[starts[2] : starts[3] - 1].rstrip() for line in lines}
    assert set(REGISTRY) <= kinds  # each one whole (users-set-passwords is the longest)
    assert "a-kind-name-longer…" in kinds
