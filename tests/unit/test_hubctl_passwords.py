"""hubctl users add --passwords against a stub API over real HTTP: what it sends (POST /users, then
POST /users/passwords with bcrypt hashes: the passwords never leave the computer), and the sheet it writes."""

from __future__ import annotations

import json
import re
import stat
from typing import Any

import bcrypt
import pytest
from typer.testing import CliRunner

from hubctl import sheet
from hubctl.cli import app
from tests.support.apigw_server import serve

TOKEN = "stub-token"


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch):
    monkeypatch.setattr(sheet, "BCRYPT_ROUNDS", 4)


@pytest.fixture
def api(tmp_path, monkeypatch):
    sent: list[tuple[str, str, Any]] = []
    ops: dict[str, dict[str, Any]] = {}
    routes = {"passwords": True}

    def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
        method, path = event["httpMethod"], event["path"]
        body: dict[str, Any] = json.loads(event["body"]) if event.get("body") else {}
        sent.append((method, path, body))
        answer: Any
        if path == "/users/passwords" and routes.get("missing"):
            status, answer = (
                404,
                {"error": "credentials[0].username: 'ada' is not on the roster (add the user first)"},
            )
        elif method == "POST" and (path == "/users" or (path == "/users/passwords" and routes["passwords"])):
            op_id = f"op-20261203T080000000-{len(ops):06x}"
            result: dict[str, Any] = {"created": body.get("usernames", [])}
            if path == "/users/passwords":
                names = [c["username"] for c in body["credentials"]]
                result = {"agent": {"set": [n for n in names if n != "grace"], "kept": ["grace"]}}
            ops[op_id] = {"id": op_id, "kind": "x", "state": "succeeded", "steps": [], "result": result}
            status, answer = 202, {"operation_id": op_id, "state": "queued"}
        elif method == "GET" and path.startswith("/operations/"):
            status, answer = 200, ops[path.rsplit("/", 1)[1]]
        else:
            status, answer = 404, {"error": f"no route {method} {path}"}
        return {"statusCode": status, "headers": {}, "body": json.dumps(answer)}

    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    with serve(handler, token=TOKEN) as server:
        monkeypatch.setenv("HUBCTL_API_URL", server.url)
        monkeypatch.setenv("HUBCTL_HUB_URL", "http://hub.example.org")
        monkeypatch.setenv("HUBCTL_TOKEN_FILE", str(token_file))
        monkeypatch.setenv("HUBCTL_POLL_SECONDS", "0")
        monkeypatch.chdir(tmp_path)
        yield sent, routes


def test_passwords_are_set_on_the_hub_and_a_sheet_is_written(api, tmp_path, monkeypatch):
    sent, _ = api
    generated: list[str] = []
    new_password = sheet.new_password

    def remembered() -> str:
        generated.append(new_password())
        return generated[-1]

    monkeypatch.setattr(sheet, "new_password", remembered)
    export = tmp_path / "registrations.csv"
    export.write_text("email\nAda.Lovelace@uni.org\ngrace@uni.org\nalan.turing@uni.org\n")
    result = CliRunner().invoke(
        app, ["users", "add", "--csv", str(export), "--column", "email", "--passwords"]
    )
    assert result.exit_code == 0, result.output
    assert [(m, p) for m, p, _ in sent if m == "POST"] == [("POST", "/users"), ("POST", "/users/passwords")]
    body = next(b for m, p, b in sent if p == "/users/passwords")
    assert all(set(c) == {"username", "hash"} for c in body["credentials"])
    hashes = {c["username"]: c["hash"] for c in body["credentials"]}
    assert list(hashes) == ["ada-lovelace", "grace", "alan-turing"]
    assert body["reset"] is False
    assert all(re.fullmatch(r"\$2b\$04\$[./A-Za-z0-9]{53}", h) for h in hashes.values())

    folder = tmp_path / "hub-passwords"
    rows = (folder / "participants.csv").read_text().splitlines()
    credentials = {row.split(",")[0]: row.split(",")[1] for row in rows[1:]}
    for name in ("ada-lovelace", "alan-turing"):
        assert re.fullmatch(r"[A-Za-z0-9]{12}", credentials[name])
        assert bcrypt.checkpw(credentials[name].encode(), hashes[name].encode())  # the sheet's opens it
    assert len(generated) == 3 and bcrypt.checkpw(generated[1].encode(), hashes["grace"].encode())
    # no password in anything sent, not even grace's (the hub kept hers, the sheet leaves it out)
    sent_text = json.dumps(sent)
    assert not any(pw in sent_text for pw in generated)
    assert rows[0] == "username,password,hub_url,registered_as"
    assert (
        rows[1]
        == f"ada-lovelace,{credentials['ada-lovelace']},http://hub.example.org/hub/login,Ada.Lovelace@uni.org"
    )
    assert rows[2].startswith("grace,(their own),")  # she had chosen one: the hub kept it
    page = (folder / "participants.html").read_text()
    assert page.count('<section class="card">') == 3
    assert credentials["alan-turing"] in page and generated[1] not in page
    assert page.count("<svg") == 3 and "http://hub.example.org/hub/login" in page
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "1 had chosen one already and keep it (grace)" in result.stdout
    assert credentials["ada-lovelace"] not in result.output  # passwords only in the sheet


def test_without_the_route_the_users_are_added_and_no_sheet_is_written(api, tmp_path):
    _, routes = api
    routes["passwords"] = False
    result = CliRunner().invoke(app, ["users", "add", "ada", "--passwords"])
    assert result.exit_code == 4
    assert "cannot set passwords yet" in result.stderr
    assert not (tmp_path / "hub-passwords").exists()


def test_a_name_not_on_the_roster_is_said_as_the_api_says_it(api, tmp_path):
    _, routes = api
    routes["missing"] = True
    result = CliRunner().invoke(app, ["users", "add", "ada", "--passwords"])
    assert result.exit_code == 4
    assert "'ada' is not on the roster" in result.stderr and "cannot set passwords yet" not in result.stderr
    assert not (tmp_path / "hub-passwords").exists()


def test_passwords_and_no_wait_do_not_mix(api):
    sent, _ = api
    result = CliRunner().invoke(app, ["users", "add", "ada", "--passwords", "--no-wait"])
    assert result.exit_code == 2 and sent == []


def test_generated_passwords_avoid_look_alikes():
    for _ in range(200):
        password = sheet.new_password()
        assert len(password) == 12
        assert not set(password) & set("0O1lI")
        assert any(c.isdigit() for c in password) and any(c.isalpha() for c in password)
