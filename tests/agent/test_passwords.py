"""users set-passwords against a real JupyterHub with FirstUseAuthenticator: the passwords hubagent
writes are the ones the hub's login form accepts, and a name nobody claimed can no longer be claimed."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hubagent import documents

from tests.agent.conftest import Agent
from tests.support.localhub import LocalHub


@pytest.fixture
def pw_agent(hub_agent: Agent, hub: LocalHub) -> Agent:
    hub_agent.env |= {"HUBAGENT_HUB_PYTHON": sys.executable, "HUBAGENT_PASSWORD_DB": str(hub.password_db)}
    return hub_agent


def test_initial_passwords_log_in_and_block_claims(pw_agent: Agent, hub: LocalHub) -> None:
    for name in ("pw-ada", "pw-bob", "pw-cy"):
        assert hub.api("POST", f"/users/{name}")[0] in (201, 409)
    assert hub.login("pw-cy", "cy-chose-this")  # cy logged in before: her password is hers

    ran = pw_agent.run(
        "users", "set-passwords", stdin="pw-ada:Adapassw0rd12\npw-bob:BobPassw0rd34 pw-cy:CyNewPassw0rd5\n"
    )
    assert ran.code == 0, ran.result
    assert ran.result["set"] == ["pw-ada", "pw-bob"]
    assert ran.result["kept"] == ["pw-cy"]
    assert "Adapassw0rd12" not in ran.stderr

    assert hub.login("pw-ada", "Adapassw0rd12")
    assert not hub.login("pw-ada", "someone-else-claims")  # no first-use claim on a name with a password
    assert hub.login("pw-cy", "cy-chose-this")
    assert not hub.login("pw-cy", "CyNewPassw0rd5")

    reset = pw_agent.run("users", "set-passwords", "--reset", stdin="pw-cy:CyNewPassw0rd5")
    assert reset.result["set"] == ["pw-cy"]
    assert hub.login("pw-cy", "CyNewPassw0rd5")


def test_a_name_not_on_the_hub_sets_nothing(pw_agent: Agent, hub: LocalHub) -> None:
    assert hub.api("POST", "/users/pw-dan")[0] in (201, 409)
    ran = pw_agent.run("users", "set-passwords", stdin="pw-dan:DanPassw0rd12 pw-nobody:NobodyPassw0rd")
    assert ran.code == 1
    assert ran.result["missing"] == ["pw-nobody"]
    assert hub.login("pw-dan", "DanFirstChoice")  # nothing was written for pw-dan either


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("", "credentials: give at least one NAME:PASSWORD on stdin"),
        ("pw-ada", "credentials[0]: must be NAME:PASSWORD"),
        ("pw-ada:short", "credentials[0] (user 'pw-ada'): the password is not an initial password"),
        ("pw-ada:has;semicolon1", "credentials[0] (user 'pw-ada'): the password is not an initial password"),
        ("Pw-Ada:Adapassw0rd12", "credentials[0]: 'Pw-Ada' is not a valid hub user name"),
        ("pw-ada:Adapassw0rd12 pw-ada:Adapassw0rd13", "credentials[1]: 'pw-ada' is given twice"),
    ],
)
def test_bad_credentials_are_refused_without_echoing_the_password(pw_agent: Agent, stdin: str, message: str):
    ran = pw_agent.run("users", "set-passwords", stdin=stdin)
    assert ran.code == 2
    assert message in ran.result["error"]
    if ":" in stdin:
        assert stdin.split(":", 1)[1].split()[0] not in ran.result["error"]


def test_the_document_passes_the_passwords_on_stdin_only() -> None:
    doc = documents.document("users-set-passwords", "https://bucket.s3.amazonaws.com/agent.zip")
    params = doc["parameters"]
    assert set(params) == {"Credentials", "Reset"}
    assert all(p["allowedPattern"] and p["interpolationType"] == "ENV_VAR" for p in params.values())
    script = "\n".join(doc["mainSteps"][1]["inputs"]["runCommand"])
    assert "{{" not in script
    assert 'printf \'%s\\n\' "$SSM_Credentials" | python3 -I "$agent" users set-passwords "$@"' in script
    # the pattern takes a roster's worth of generated passwords and refuses shell text
    import re

    pattern = re.compile(params["Credentials"]["allowedPattern"])
    assert pattern.fullmatch(" ".join(f"user{i}:Passw0rd{i:04d}abcd" for i in range(50)))
    assert not pattern.fullmatch("ada:Passw0rd$(reboot)")
    assert not pattern.fullmatch("ada:Passw0rd1234\nbob:Passw0rd1234")
    ran = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
