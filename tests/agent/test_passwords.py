"""users set-passwords against a real JupyterHub with FirstUseAuthenticator: hubagent stores bcrypt hashes
(made as hubctl makes them, the password never given to it), the hub's login form accepts the passwords
they were made from, and a name nobody claimed can no longer be claimed."""

from __future__ import annotations

import json
import subprocess
import sys

import bcrypt
import pytest
from hubagent import documents

from tests.agent.conftest import Agent
from tests.support.localhub import LocalHub


def hashed(password: str) -> str:
    """As hubctl does it (cost 4 here, to keep the tests fast; any cost 04-31 is accepted)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


@pytest.fixture
def pw_agent(hub_agent: Agent, hub: LocalHub) -> Agent:
    hub_agent.env |= {"HUBAGENT_HUB_PYTHON": sys.executable, "HUBAGENT_PASSWORD_DB": str(hub.password_db)}
    return hub_agent


def test_initial_passwords_log_in_and_block_claims(pw_agent: Agent, hub: LocalHub) -> None:
    for name in ("pw-ada", "pw-bob", "pw-cy"):
        assert hub.api("POST", f"/users/{name}")[0] in (201, 409)
    assert hub.login("pw-cy", "cy-chose-this")  # cy logged in before: her password is hers

    ada, bob = hashed("Adapassw0rd12"), hashed("BobPassw0rd34")
    # $2a$ and $2y$ are bcrypt too: FirstUse's bcrypt checks them alike
    cy = hashed("CyNewPassw0rd5").replace("$2b$", "$2y$", 1)
    ran = pw_agent.run("users", "set-passwords", stdin=f"pw-ada:{ada}\npw-bob:{bob} pw-cy:{cy}\n")
    assert ran.code == 0, ran.result
    assert ran.result["set"] == ["pw-ada", "pw-bob"]
    assert ran.result["kept"] == ["pw-cy"]
    assert ada not in ran.stderr and ada not in json.dumps(ran.result)

    assert hub.login("pw-ada", "Adapassw0rd12")
    assert hub.login("pw-bob", "BobPassw0rd34")
    assert not hub.login("pw-bob", ada)  # the hash is not a password
    assert not hub.login("pw-ada", "someone-else-claims")  # no first-use claim on a name with a password
    assert hub.login("pw-cy", "cy-chose-this")
    assert not hub.login("pw-cy", "CyNewPassw0rd5")

    reset = pw_agent.run("users", "set-passwords", "--reset", stdin=f"pw-cy:{cy}")
    assert reset.result["set"] == ["pw-cy"]
    assert hub.login("pw-cy", "CyNewPassw0rd5")


def test_a_name_not_on_the_hub_sets_nothing(pw_agent: Agent, hub: LocalHub) -> None:
    assert hub.api("POST", "/users/pw-dan")[0] in (201, 409)
    stdin = f"pw-dan:{hashed('DanPassw0rd12')} pw-nobody:{hashed('NobodyPassw0rd')}"
    ran = pw_agent.run("users", "set-passwords", stdin=stdin)
    assert ran.code == 1
    assert ran.result["missing"] == ["pw-nobody"]
    assert hub.login("pw-dan", "DanFirstChoice")  # nothing was written for pw-dan either


HASH = "$2b$12$" + "abcdefghijklmnopqrstuv" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ./012"


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("", "credentials: give at least one NAME:HASH on stdin"),
        ("pw-ada", "credentials[0]: must be NAME:HASH"),
        ("pw-ada:Adapassw0rd12", "credentials[0] (user 'pw-ada'): the hash is not a bcrypt hash"),
        ("pw-ada:" + HASH[:-1], "credentials[0] (user 'pw-ada'): the hash is not a bcrypt hash"),
        ("pw-ada:" + HASH.replace("$12$", "$03$"), "(user 'pw-ada'): the hash is not a bcrypt hash"),
        ("pw-ada:" + HASH[:-1] + ";", "credentials[0] (user 'pw-ada'): the hash is not a bcrypt hash"),
        ("Pw-Ada:" + HASH, "credentials[0]: 'Pw-Ada' is not a valid hub user name"),
        (f"pw-ada:{HASH} pw-ada:{HASH}", "credentials[1]: 'pw-ada' is given twice"),
    ],
)
def test_bad_credentials_are_refused_without_echoing_the_hash(pw_agent: Agent, stdin: str, message: str):
    ran = pw_agent.run("users", "set-passwords", stdin=stdin)
    assert ran.code == 2
    assert message in ran.result["error"]
    if ":" in stdin:
        secret = stdin.split(":", 1)[1].split()[0]
        assert secret not in ran.result["error"] and secret not in ran.stderr


def test_the_document_passes_the_hashes_on_stdin_only() -> None:
    doc = documents.document("users-set-passwords", "https://bucket.s3.amazonaws.com/agent.zip")
    params = doc["parameters"]
    assert set(params) == {"Credentials", "Reset"}
    assert all(p["allowedPattern"] and p["interpolationType"] == "ENV_VAR" for p in params.values())
    script = "\n".join(doc["mainSteps"][1]["inputs"]["runCommand"])
    assert "{{" not in script
    assert 'printf \'%s\\n\' "$SSM_Credentials" | python3 -I "$agent" users set-passwords "$@"' in script
    # the pattern takes 50 hashes, as bcrypt makes them, and refuses passwords and shell text
    import re

    pattern = re.compile(params["Credentials"]["allowedPattern"])
    many = " ".join(f"user{i}:{hashed(f'Passw0rd{i:04d}')}" for i in range(50))
    assert pattern.fullmatch(many) and len(many) <= params["Credentials"]["maxChars"]
    assert not pattern.fullmatch(many + f" user50:{HASH}")
    assert not pattern.fullmatch("ada:Passw0rd1234")
    assert not pattern.fullmatch("ada:" + HASH[:-8] + "$(reboot)")
    assert not pattern.fullmatch(f"ada:{HASH}\nbob:{HASH}")
    ran = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
