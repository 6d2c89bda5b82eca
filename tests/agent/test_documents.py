"""The SSM documents: structure, parameters that follow the rules, scripts that pass values only
through quoted environment variables, shellcheck-clean, and that really run hubagent."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hubagent import actions, datasync, documents, packages, rules

from tests.agent.conftest import Agent
from tests.agent.hostile import HOSTILE, PATTERN_EXEMPT
from tests.support.localhub import LocalHub

URL = "https://cdk-assets.s3.eu-central-1.amazonaws.com/abc123.zip"

BCRYPT = "$2b$12$" + "abcdefghijklmnopqrstuv" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ./012"

# Which document parameters take values of each kind of field.
FIELDS = {
    "username": [("users-add", "Usernames"), ("users-remove", "Username"), ("users-list", "After")],
    "data_name": [("data-sync", "Name")],
    "git_url": [("data-sync", "Repo")],
    "git_ref": [("data-sync", "Ref")],
    "pip_spec": [("packages-install", "Packages")],
    "conda_spec": [("packages-install", "Packages")],
}

# Parameters whose empty value is meaningful (users-list: from the first name on).
EMPTY_MEANS_DEFAULT = {("users-list", "After")}

VALID = {
    ("users-add", "Usernames"): ["alice", "alice bob-2 c_3", " ".join(f"user{i}" for i in range(200))],
    ("users-remove", "Username"): ["alice", "a", "x" * 32],
    ("data-sync", "Name"): ["workshopdata", "day-1_data"],
    ("data-sync", "Repo"): ["https://github.com/org/repo.git", "https://git.example.org:8443/a/b/c/"],
    ("data-sync", "Ref"): ["", "main", "v1.0.2", "feature/day-2", "0123abcd"],
    ("packages-install", "Packages"): [
        "geopandas==1.0.1",
        "numpy>=1.26,<3 xarray[io]",
        "gdal=3.9 xarray>=2024.1",
    ],
    ("packages-install", "Manager"): ["pip", "conda"],
    ("users-add", "Admin"): ["true", "false"],
    ("activity", "Minutes"): ["0", "15", "999"],
    ("users-list", "After"): ["", "alice", "x" * 32],
    ("users-set-passwords", "Credentials"): [
        f"alice:{BCRYPT}",
        f"alice:{BCRYPT} b_2:{BCRYPT.replace('$2b$12$', '$2y$04$')} {'x' * 32}:{BCRYPT.replace('$2b$', '$2a$')}",
    ],
    ("users-set-passwords", "Reset"): ["true", "false"],
}


def params(action: str) -> dict[str, Any]:
    found: dict[str, Any] = documents.document(action, URL)["parameters"]
    return found


def accepts(action: str, name: str, value: str) -> bool:
    spec = params(action)[name]
    ok = bool(re.fullmatch(spec["allowedPattern"], value)) and len(value) <= spec["maxChars"]
    return ok and ("allowedValues" not in spec or value in spec["allowedValues"])


def test_one_document_per_action() -> None:
    assert set(documents.PARAMETERS) == set(actions.ACTIONS) == set(actions.TIMEOUT_SECONDS)
    with pytest.raises(ValueError, match="unknown action"):
        documents.document("reboot", URL)


@pytest.mark.parametrize("action", actions.ACTIONS)
def test_document_shape(action: str) -> None:
    doc = documents.document(action, URL)
    assert doc["schemaVersion"] == "2.2"
    download, script = doc["mainSteps"]
    assert download["action"] == "aws:downloadContent"
    assert download["inputs"]["sourceType"] == "S3"
    assert json.loads(download["inputs"]["sourceInfo"]) == {"path": URL}
    destination = download["inputs"]["destinationPath"]
    # relative: SSM Agent puts it in this command's own folder, so concurrent commands never share it
    assert not destination.startswith("/") and ".." not in destination and destination.endswith(".zip")
    folder, file = destination.split("/")
    assert download["name"] == documents.DOWNLOAD_STEP and script["name"] == documents.RUN_STEP
    assert script["inputs"]["workingDirectory"] == folder  # resolved to the same downloads folder
    assert script["action"] == "aws:runShellScript"
    assert script["inputs"]["timeoutSeconds"] == actions.TIMEOUT_SECONDS[action]
    lines = script["inputs"]["runCommand"]
    assert lines == documents.script_lines(action)
    text = "\n".join(lines)
    assert "{{" not in text and "}}" not in text
    assert f"agent=./{file}" in lines
    if (
        action == "users-set-passwords"
    ):  # the passwords reach hubagent on stdin (tests/agent/test_passwords.py)
        assert lines[-1].startswith('printf \'%s\\n\' "$SSM_Credentials" | python3 -I "$agent" ')
    elif action == "signup-open":  # so does the code's hash (tests/agent/test_signup.py)
        assert lines[-1].startswith('printf \'%s\\n\' "$SSM_CodeHash" | python3 -I "$agent" ')
    else:
        assert lines[-1].startswith('exec python3 -I "$agent" ')

    for name, spec in doc["parameters"].items():
        assert set(spec) >= {"type", "description", "allowedPattern", "maxChars", "interpolationType"}
        assert spec["type"] == "String"
        assert spec["interpolationType"] == "ENV_VAR"
        pattern = spec["allowedPattern"]
        assert pattern.startswith("^") and pattern.endswith("$") and pattern.isascii()
        assert "(?=" not in pattern and "(?!" not in pattern and "(?<" not in pattern  # no lookaround for SSM
        assert f'"$SSM_{name}"' in text  # the value only ever appears quoted
        assert text.count(f"$SSM_{name}") == text.count(f'"$SSM_{name}"')
        if "default" in spec:
            assert accepts(action, name, spec["default"])
    # every variable the script reads is a parameter of this document
    assert set(re.findall(r"\$SSM_(\w+)", text)) == set(doc["parameters"])


@pytest.mark.parametrize(("action", "name"), sorted(VALID))
def test_patterns_accept_valid_values(action: str, name: str) -> None:
    for value in VALID[(action, name)]:
        assert accepts(action, name, value), value


def test_list_parameters_stop_at_the_request_limits() -> None:
    assert not accepts("users-add", "Usernames", " ".join(f"u{i}" for i in range(201)))
    assert not accepts("packages-install", "Packages", " ".join(f"p{i}" for i in range(51)))
    assert not accepts("users-set-passwords", "Credentials", " ".join(f"u{i}:{BCRYPT}" for i in range(51)))
    assert accepts(
        "users-set-passwords",
        "Credentials",
        " ".join(f"{i:02d}".rjust(32, "u") + f":{BCRYPT}" for i in range(50)),
    )
    # the longest lists hubagent takes still fit maxChars
    longest = " ".join(f"{i:03d}".rjust(32, "u") for i in range(200))
    assert accepts("users-add", "Usernames", longest)


@pytest.mark.parametrize("kind", sorted(FIELDS))
def test_every_hostile_value_is_refused_by_the_documents(kind: str) -> None:
    for action, name in FIELDS[kind]:
        for value in HOSTILE[kind]:
            if value in PATTERN_EXEMPT.get(kind, set()) or (
                value == "" and (action, name) in EMPTY_MEANS_DEFAULT
            ):
                continue
            assert not accepts(action, name, value), (action, name, value)


def test_hostile_names_and_hashes_are_refused_in_credentials() -> None:
    for value in HOSTILE["username"]:
        if value not in PATTERN_EXEMPT.get("username", set()):
            assert not accepts("users-set-passwords", "Credentials", f"{value}:{BCRYPT}"), value
    for value in [*HOSTILE["username"], *HOSTILE["git_ref"], "Passw0rd1234", BCRYPT[:-1] + "$(id)"]:
        assert not accepts("users-set-passwords", "Credentials", f"alice:{value}"), value


def test_overlong_values_exceed_max_chars() -> None:
    for kind, fields in FIELDS.items():
        for action, name in fields:
            limit = params(action)[name]["maxChars"]
            assert any(len(v) > limit for v in HOSTILE[kind]), (kind, name)


@pytest.mark.parametrize(
    "kind", ["username", "data_name", "git_url", "git_ref", "pip_spec", "conda_spec", "instance_type"]
)
def test_every_hostile_value_breaks_the_rules(kind: str) -> None:
    check = {
        "username": rules.check_username,
        "data_name": rules.check_data_name,
        "git_url": rules.check_git_url,
        "git_ref": rules.check_git_ref,
        "pip_spec": lambda v: rules.check_package("pip", v),
        "conda_spec": lambda v: rules.check_package("conda", v),
        "instance_type": rules.check_instance_type,
    }[kind]
    for value in HOSTILE[kind]:
        with pytest.raises(rules.RuleError):
            check(value)


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="shellcheck is not installed (make setup)")
@pytest.mark.parametrize("action", actions.ACTIONS)
def test_scripts_are_shellcheck_clean(action: str, tmp_path: Path) -> None:
    script = tmp_path / f"{action}.sh"
    script.write_text("#!/bin/sh\n" + "\n".join(documents.script_lines(action)) + "\n")
    done = subprocess.run(
        ["shellcheck", "--shell=sh", "--severity=style", str(script)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout


def test_agent_time_limits_are_inside_the_documents() -> None:
    assert actions.TIMEOUT_SECONDS["data-sync"] > datasync.GIT_TIMEOUT
    assert actions.TIMEOUT_SECONDS["packages-install"] > packages.INSTALL_TIMEOUT


def run_script(action: str, agent: Agent, **ssm: str) -> subprocess.CompletedProcess[str]:
    """Run a document's script under sh as SSM would, with the zip where the download step puts it."""
    lines = [
        f"agent={agent.zip}" if line.startswith("agent=") else line for line in documents.script_lines(action)
    ]
    env = agent.env | {f"SSM_{k}": v for k, v in ssm.items()}
    return subprocess.run(
        ["sh", "-c", "\n".join(lines)], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.hub
def test_the_users_add_script_passes_lists_and_admin(hub_agent: Agent, hub: LocalHub) -> None:
    done = run_script("users-add", hub_agent, Usernames="script-a script-b", Admin="true")
    assert done.returncode == 0, done.stderr
    assert '"created": ["script-a", "script-b"]' in done.stdout
    assert hub.api("GET", "/users/script-b")[1]["admin"] is True
    done = run_script("users-add", hub_agent, Usernames="script-c", Admin="false")
    assert hub.api("GET", "/users/script-c")[1]["admin"] is False
    # a hostile value that got past SSM would still stop at hubagent, through the same script
    before = hub.user_names()
    done = run_script("users-add", hub_agent, Usernames="x; touch /tmp/pwned", Admin="false")
    assert done.returncode == 2
    assert hub.user_names() == before


def test_scripts_pass_empty_ref_and_dash_values_safely(agent: Agent, fake_tools) -> None:
    agent.env["PATH"] = f"{fake_tools.bin}:{agent.env['PATH']}"
    done = run_script("data-sync", agent, Name="ws", Repo="--upload-pack=id", Ref="")
    assert done.returncode == 2 and "git URL" in done.stdout
    done = run_script("packages-install", agent, Manager="pip", Packages="-r /etc/passwd")
    assert done.returncode == 2
    done = run_script("users-list", agent, After="--help")
    assert done.returncode == 2 and "users-list" in done.stdout  # refused as a name, not read as an option
    done = run_script("activity", agent, Minutes="5")
    assert done.returncode == 1 and '"action": "activity"' in done.stdout  # no hub here: parsed, then failed
    assert fake_tools.calls() == []
