"""hubctl with Typer's runner against the API handler served over local HTTP (bearer token mode)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hubctl.cli import app
from tests.support.fake_plane import FakePlane
from tests.support.hubctl_api import TOKEN, served_api, using


@pytest.fixture
def plane():
    with using(FakePlane()) as fake:
        yield fake


@pytest.fixture
def served(plane, tmp_path, monkeypatch):
    with served_api(tmp_path, monkeypatch) as server:
        yield server


def hubctl(*args: str):
    return CliRunner().invoke(app, list(args))


def last_op(plane):
    return list(plane.ops.values())[-1]


@pytest.mark.parametrize(
    ("args", "kind", "params"),
    [
        (["start"], "start", {}),
        (["stop"], "stop", {"force": False}),
        (["stop", "--force"], "stop", {"force": True}),
        (["resize", "t3.xlarge"], "resize", {"instance_type": "t3.xlarge"}),
        (["grow", "64"], "grow", {"size_gib": 64}),
        (["sync", "workshopdata"], "data-sync", {"name": "workshopdata", "ref": None}),
        (
            ["sync", "extra", "--repo", "https://github.com/a/b", "--ref", "v2"],
            "data-sync",
            {"name": "extra", "repo": "https://github.com/a/b", "ref": "v2"},
        ),
        (
            ["packages", "add", "geopandas==1.0.1", "numpy>=1.26,<3"],
            "packages",
            {"packages": ["geopandas==1.0.1", "numpy>=1.26,<3"], "manager": "pip"},
        ),
        (
            ["packages", "add", "--conda", "gdal=3.9"],
            "packages",
            {"packages": ["gdal=3.9"], "manager": "conda"},
        ),
        (["users", "add", "ada", "grace"], "users-add", {"usernames": ["ada", "grace"], "admin": False}),
        (["users", "add", "--admin", "ada"], "users-add", {"usernames": ["ada"], "admin": True}),
        (["users", "remove", "ada"], "users-remove", {"username": "ada"}),
        (["data", "remove", "workshopdata"], "data-remove", {"name": "workshopdata"}),
    ],
)
def test_a_command_sends_its_operation_and_waits_for_it(served, plane, args, kind, params):
    if args[:2] == ["users", "remove"]:
        plane.roster_.append({"username": "ada", "admin": False, "on_hub": True})
    result = hubctl(*args)
    assert result.exit_code == 0, result.output
    op = last_op(plane)
    assert (op.kind, op.params, op.state) == (kind, params, "succeeded")
    assert "succeeded" in result.stdout and "step 2" in result.stdout
    assert served.events[-1]["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_every_mutation_carries_an_idempotency_key(served, plane):
    assert hubctl("start").exit_code == 0
    post = next(e for e in served.events if e["httpMethod"] == "POST")
    assert len(post["headers"]["Idempotency-Key"]) >= 32
    assert last_op(plane).idempotency_key == post["headers"]["Idempotency-Key"]


def test_keep_awake_sends_an_iso_time_with_an_offset(served, plane):
    result = hubctl("keep-awake", "+3h")
    assert result.exit_code == 0, result.output
    assert last_op(plane).params["until"].endswith("Z")


def test_no_wait_prints_the_id_and_returns(served, plane):
    result = hubctl("start", "--no-wait")
    assert result.exit_code == 0
    op = last_op(plane)
    assert op.state == "queued" and op.id in result.stdout


def test_json_output_is_the_operation(served, plane):
    result = hubctl("--output", "json", "resize", "t3.large")
    assert result.exit_code == 0
    op = json.loads(result.stdout)
    assert op["state"] == "succeeded" and op["params"] == {"instance_type": "t3.large"}


def test_json_no_wait(served, plane):
    result = hubctl("-o", "json", "start", "--no-wait")
    assert json.loads(result.stdout) == {"operation_id": last_op(plane).id, "state": "queued"}


def test_a_failed_operation_exits_1_with_its_error(served, plane):
    plane.fail = {"grow"}
    result = hubctl("grow", "64")
    assert result.exit_code == 1
    assert "grow failed on purpose" in result.stderr
    assert "hubctl ops show" in result.stderr


def test_a_conflict_exits_3_naming_the_running_operation(served, plane):
    plane.hold = True
    running = hubctl("start", "--no-wait")
    assert running.exit_code == 0
    result = hubctl("stop")
    assert result.exit_code == 3
    first = last_op(plane).id
    assert first in result.stderr and f"hubctl ops show {first} --wait" in result.stderr
    assert len(plane.ops) == 1


def test_status_users_and_ops(served, plane):
    result = hubctl("status")
    assert result.exit_code == 0 and "i-0123456789abcdef0" in result.stdout
    assert hubctl("users", "list").stdout.startswith("no users yet")
    hubctl("users", "add", "ada")
    listed = hubctl("users", "list")
    assert "ada" in listed.stdout
    assert json.loads(hubctl("-o", "json", "users", "list").stdout) == {
        "users": [{"username": "ada", "admin": False, "on_hub": True}]
    }
    op_id = last_op(plane).id
    shown = hubctl("ops", "show", op_id)
    assert shown.exit_code == 0 and op_id in shown.stdout and "succeeded" in shown.stdout
    assert json.loads(hubctl("-o", "json", "status").stdout)["instance"]["state"] == "running"


def test_ops_show_waits_and_exits_1_when_it_failed(served, plane):
    plane.fail = {"start"}
    op_id = json.loads(hubctl("-o", "json", "start", "--no-wait").stdout)["operation_id"]
    result = hubctl("ops", "show", op_id, "--wait")
    assert result.exit_code == 1 and "failed" in result.stdout


def test_an_unknown_operation_exits_4(served):
    result = hubctl("ops", "show", "op-nope")
    assert result.exit_code == 4 and "op-nope" in result.stderr


def test_bad_input_is_refused_before_sending(served, plane):
    for args in (
        ["users", "add", "ada", "Bad Name"],
        ["resize", "t3.hyper"],
        ["packages", "add", "--", "-e ."],
        ["sync", "../x"],
        ["sync", "d", "--repo", "file:///etc"],
        ["users", "remove", "Ada"],
        ["keep-awake", "soonish"],
        ["users", "add"],
    ):
        result = hubctl(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "error:" in result.stderr
    assert plane.ops == {}
    assert served.events == []


def test_a_422_from_the_api_exits_2(served, plane):
    result = hubctl("keep-awake", "2020-01-01T10:00+00:00")
    assert result.exit_code == 2 and "is in the past" in result.stderr
    assert plane.ops == {}


def test_a_wrong_token_exits_5(served, tmp_path, monkeypatch):
    bad = tmp_path / "bad-token"
    bad.write_text("nope")
    monkeypatch.setenv("HUBCTL_TOKEN_FILE", str(bad))
    result = hubctl("status")
    assert result.exit_code == 5 and "HUBCTL_TOKEN_FILE" in result.stderr


def test_an_unreachable_api_exits_6(tmp_path, monkeypatch):
    token = tmp_path / "t"
    token.write_text("x")
    monkeypatch.setenv("HUBCTL_API_URL", "http://127.0.0.1:9/prod")  # discard port: nothing listens
    monkeypatch.setenv("HUBCTL_TOKEN_FILE", str(token))
    monkeypatch.setattr("hubctl.client.BACKOFF_S", 0.0)
    result = hubctl("status")
    assert result.exit_code == 6 and "cannot reach the API" in result.stderr


def test_a_lasting_503_is_tried_again_then_reported_as_such(served, plane, monkeypatch):
    monkeypatch.setattr("hubctl.client.BACKOFF_S", 0.0)
    monkeypatch.setattr("hubctl.client.MAX_BACKOFF_S", 0.0)  # the answer's Retry-After: 5, cut short here
    plane.busy = 100
    result = hubctl("start", "--no-wait")
    assert result.exit_code == 6, result.output
    assert plane.submits == 6  # every try reached the API
    assert "could not take the request now (503, 6 tries)" in result.stderr
    assert "ResourceConflictException" in result.stderr and "nothing was started" in result.stderr
    assert "cannot reach" not in result.stderr
    plane.busy = 2  # busy for a moment: a retry goes through
    assert hubctl("start", "--no-wait").exit_code == 0 and len(plane.ops) == 1


def test_errors_in_json_mode_are_json_too(served, plane):
    plane.hold = True
    hubctl("start", "--no-wait")
    result = hubctl("-o", "json", "stop")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["operation_id"] == last_op(plane).id


def test_more_than_200_names_go_as_one_operation_after_another(served, plane):
    names = [f"p{i:03d}" for i in range(450)]
    result = hubctl("users", "add", "--no-wait", *names)
    assert result.exit_code == 0, result.output
    batches = [op.params["usernames"] for op in plane.ops.values()]
    assert [len(batch) for batch in batches] == [200, 200, 50]
    assert [name for batch in batches for name in batch] == names


def test_the_dry_run_shows_a_row_that_registered_someone_again(served, plane, tmp_path):
    export = tmp_path / "registrations.csv"
    export.write_text(
        "Name;Email\nAda Lovelace;Ada.Lovelace@uni.org\nGrace Hopper;grace@navy.example\n"
        "Ada L.;ada.lovelace@UNI.org \n"
    )
    result = hubctl("users", "add", "--csv", str(export), "--column", "email", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "2 users (nothing sent); 1 row(s) registered someone again and are merged" in result.stdout
    row = next(line for line in result.stdout.splitlines() if line.strip().startswith("4 "))
    assert "ada.lovelace@UNI.org" in row and "(same as line 2: ada-lovelace)" in row
    as_json = hubctl("-o", "json", "users", "add", "--csv", str(export), "--column", "email", "--dry-run")
    assert json.loads(as_json.stdout)[0]["duplicates"] == [{"line": 4, "original": "ada.lovelace@UNI.org"}]
    assert plane.ops == {}


def test_users_add_dry_run_prints_the_mapping_and_sends_nothing(served, plane, tmp_path):
    export = tmp_path / "registrations.csv"
    export.write_text("Name;Email\nAda Lovelace;Ada.Lovelace@uni.org\nJosé Núñez;jose.nunez@uni.org\n")
    result = hubctl("users", "add", "--csv", str(export), "--column", "email", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "2 users (nothing sent)" in result.stdout
    assert "Ada.Lovelace@uni.org" in result.stdout and "ada-lovelace" in result.stdout
    assert "jose-nunez" in result.stdout
    assert plane.ops == {}
    as_json = hubctl("-o", "json", "users", "add", "--csv", str(export), "--column", "email", "--dry-run")
    assert json.loads(as_json.stdout)[1] == {
        "line": 3,
        "original": "jose.nunez@uni.org",
        "username": "jose-nunez",
        "duplicates": [],
    }

    sent = hubctl("users", "add", "--csv", str(export), "--column", "email")
    assert sent.exit_code == 0, sent.output
    assert last_op(plane).params["usernames"] == ["ada-lovelace", "jose-nunez"]
    assert last_op(plane).params["sources"] == {
        "ada-lovelace": "Ada.Lovelace@uni.org",
        "jose-nunez": "jose.nunez@uni.org",
    }


def test_a_registration_with_control_characters_is_sent_as_plain_text(served, plane, tmp_path):
    export = tmp_path / "registrations.csv"
    export.write_text("Name;Email\nEve;eve\x1b[2J@uni.org\nAda;[red]ada[/red]@uni.org\n")
    dry = hubctl("users", "add", "--csv", str(export), "--column", "email", "--dry-run")
    assert dry.exit_code == 0 and "\x1b" not in dry.stdout, dry.stdout
    assert "eve\\x1b[2J@uni.org" in dry.stdout and "[red]ada[/red]@uni.org" in dry.stdout
    sent = hubctl("users", "add", "--csv", str(export), "--column", "email")
    assert sent.exit_code == 0, sent.output  # the API takes it: plain printable text
    sources = last_op(plane).params["sources"]
    assert sorted(sources.values()) == ["[red]ada[/red]@uni.org", "eve\\x1b[2J@uni.org"]


def test_removing_a_name_not_on_the_roster_is_an_error_and_sends_nothing(served, plane):
    plane.roster_.append({"username": "grace", "admin": False, "on_hub": True})
    result = hubctl("users", "remove", "ada")
    assert result.exit_code == 4
    assert "'ada' is not on the roster; nothing was sent" in result.stderr
    assert "grace" in result.stderr
    assert plane.ops == {}


def test_without_credentials_a_running_sandbox_here_is_hinted(tmp_path, monkeypatch):
    import os
    import subprocess

    from sandbox.layout import Layout

    sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        layout = Layout(tmp_path / ".sandbox")
        layout.root.mkdir()
        layout.write_state(
            {"pids": {"moto": sleeper.pid, "hub": sleeper.pid, "front": sleeper.pid, "control": sleeper.pid}}
        )
        monkeypatch.setenv("SANDBOX_DIR", str(layout.root))
        for name in ("HUBCTL_API_URL", "HUBCTL_TOKEN_FILE", "HUBCTL_SANDBOX"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.chdir(tmp_path)
        result = hubctl("status")
        assert result.exit_code == 4
        assert "add --sandbox" in result.stderr
        os.killpg(sleeper.pid, 15)
        sleeper.wait()
        quiet = hubctl("status")
        assert "--sandbox" not in quiet.stderr
    finally:
        sleeper.kill()


@pytest.mark.parametrize("command", [["stop"], ["users", "add"], ["packages", "add"], ["ops", "list"], []])
def test_help_shows_no_type_noise(command):
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    assert "<bool>" not in result.stdout and "<list[str]>" not in result.stdout
    assert "...]..." not in result.stdout and "...}..." not in result.stdout


def test_status_shows_memory_and_disk_use_now(served, plane, monkeypatch):
    gib = 1024**3
    health = {
        "ok": True,
        "hub_ok": True,
        "memory": {
            "total_bytes": 8 * gib,
            "used_bytes": 7 * gib,
            "available_bytes": gib,
            "used_percent": 87.5,
        },
        "disk": {
            "mount": "/",
            "total_bytes": 30 * gib,
            "used_bytes": 12 * gib,
            "free_bytes": 18 * gib,
            "used_percent": 40.0,
        },
    }
    status = plane.status()
    monkeypatch.setattr(plane, "status", lambda: {**status, "hub_health": json.loads(json.dumps(health))})
    result = hubctl("status")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    memory = next(line for line in lines if line.startswith("memory"))
    disk = next(line for line in lines if line.startswith("disk "))
    assert memory.endswith("7.0 of 8.0 GiB used (88%)") and memory.count("█") == 9
    assert disk.endswith("12.0 of 30.0 GiB used (40%)") and disk.count("█") == 4
    assert "hub_health.memory" not in result.stdout  # shown once, as a line
    # scripts get hubagent's numbers as they are
    assert json.loads(hubctl("-o", "json", "status").stdout)["hub_health"]["memory"] == health["memory"]


def test_status_cost_adds_the_month_so_far(served, plane, monkeypatch):
    from hubctl import cost

    month = {"since": "2026-12-01T00:00:00+00:00", "running_hours": 41.5, "instance_usd": 9.24,
             "idle_usd": 3.1, "total_usd": 12.34, "prices": "table of 2026-11-28"}  # fmt: skip
    monkeypatch.setattr(cost, "month_cost", lambda target: month)
    text = hubctl("status", "--cost")
    assert text.exit_code == 0
    assert "this month $12.34 so far (41.5 h running $9.24, idle $3.10; an estimate" in " ".join(
        text.stdout.split()
    )
    assert json.loads(hubctl("-o", "json", "status", "--cost").stdout)["month_cost_estimate"] == month
    assert "month_cost_estimate" not in json.loads(hubctl("-o", "json", "status").stdout)
    monkeypatch.setattr(cost, "month_cost", lambda target: {"error": "CloudWatch: AccessDenied"})
    assert "this month cost unknown: CloudWatch: AccessDenied" in hubctl("status", "--cost").stdout


HOSTILE = "[red]Ada[/red] [link=https://evil.example]click[/link] \x1b]8;;https://evil.example\x07x\x1b]8;;\x07 \x1b[2J\x1b[31m\u202eevil\x00"


def _literal(output: str) -> None:
    """What came from the API is on the screen as it is: markup unread, escapes written out, none sent."""
    assert "\x1b" not in output and "\x00" not in output and "\u202e" not in output
    assert "[red]Ada[/red]" in output and "[link=https://evil.example]click[/link]" in output
    assert "\\x1b]8;;https://evil.example\\x07x" in output and "\\x1b[2J" in output and "\\u202e" in output


def test_users_list_shows_a_hostile_source_literally(served, plane):
    plane.roster_ = [{"username": "ada", "admin": False, "on_hub": True, "source": HOSTILE}]
    result = hubctl("users", "list")
    assert result.exit_code == 0, result.output
    _literal(result.stdout)


def test_users_list_shows_a_hostile_note_literally(served, plane, monkeypatch):
    monkeypatch.setattr(plane, "roster_now", lambda: {"users": [], "note": f"the hub said {HOSTILE}"})
    result = hubctl("users", "list")
    assert result.exit_code == 0, result.output
    _literal(result.stderr)


def test_signup_status_shows_the_door_from_the_api_literally(served, plane, monkeypatch):
    door = {"open": True, "until": "2026-12-03T12:30:00+00:00", "code": HOSTILE, "url": "http://h/hub/signup"}
    monkeypatch.setattr(plane, "status", lambda: {"signup": door})
    result = hubctl("signup", "status")
    assert result.exit_code == 0, result.output
    _literal(result.stdout.split("\n█", 1)[0])  # the QR code's blocks after it carry no text


def test_ops_show_and_list_show_hostile_steps_and_errors_literally(served, plane):
    from workshop_hub.operations import Operation, Step

    plane.ops["op-20261203T211503123-a1b2c3"] = Operation(
        id="op-20261203T211503123-a1b2c3",
        kind="data-sync",
        params={},
        created_at="2026-12-03T21:15:03.123Z",
        state="failed",
        steps=[
            Step(
                name=f"data-sync {HOSTILE}",
                state="failed",
                started_at="2026-12-03T21:15:03.200Z",
                ended_at="2026-12-03T21:15:04.200Z",
                detail=f"git said: {HOSTILE}",
            )
        ],
        error=f"fatal: {HOSTILE}",
        result={"agent": {"action": "data-sync", "stderr": HOSTILE}},
        started_at="2026-12-03T21:15:03.200Z",
        ended_at="2026-12-03T21:15:04.200Z",
    )
    shown = hubctl("ops", "show", "op-20261203T211503123-a1b2c3")
    assert shown.exit_code == 1, shown.output  # it failed: its steps, then its error
    _literal(shown.stdout)
    _literal(shown.stderr)
    listed = hubctl("ops", "list")
    assert (
        listed.exit_code == 0 and "fatal: [red]Ada[" in listed.stdout and "\x1b" not in listed.stdout
    )  # 80 columns


def test_an_api_error_with_escapes_is_shown_literally(served, plane, monkeypatch):
    import json as json_module

    from hubctl import client

    real = client._decode

    def hostile_error(raw: bytes, *, lenient: bool = False):
        answer = real(raw, lenient=lenient)
        if isinstance(answer, dict) and "error" in answer:
            answer["error"] = f"usernames[0]: {HOSTILE}"
            answer["errors"] = [f"usernames[0]: {HOSTILE}"]
        return answer

    monkeypatch.setattr(client, "_decode", hostile_error)
    result = hubctl("keep-awake", "2020-01-01T10:00+00:00")  # a 422 from the API, its error rewritten
    assert result.exit_code == 2, result.output
    _literal(result.stderr)
    as_json = hubctl("-o", "json", "keep-awake", "2020-01-01T10:00+00:00")
    assert "\x1b" not in as_json.stdout and json_module.loads(as_json.stdout)["error"].endswith("\x00")
