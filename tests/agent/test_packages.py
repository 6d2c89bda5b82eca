"""packages install into a throwaway venv standing in for TLJH's user environment (/opt/tljh/user).

The packages are wheels built here, installed with pip's own --no-index/--find-links settings from
the environment (PIP_NO_INDEX, PIP_FIND_LINKS), so the tests need no package index."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.agent.conftest import Agent

PACKAGE = "wsh-demo"  # a name no index has, so nothing but our wheels can satisfy it
OTHER = "wsh-other"


def build_wheel(dest: Path, name: str, version: str) -> Path:
    """A minimal pure-Python wheel (PEP 427), written directly."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{dist}/__init__.py": f"VERSION = {version!r}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: hubagent-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    wheel = dest / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
        archive.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return wheel


@pytest.fixture(scope="session")
def user_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = tmp_path_factory.mktemp("user-env")
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    return env


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheels")
    for version in ("1.0", "1.1"):
        build_wheel(folder, PACKAGE, version)
    build_wheel(folder, OTHER, "2.0")
    return folder


@pytest.fixture
def pip_agent(agent: Agent, user_env: Path, wheels: Path) -> Agent:
    agent.env |= {"HUBAGENT_USER_ENV": str(user_env), "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)}
    return agent


def test_pip_install_upgrade_and_unchanged(pip_agent: Agent, user_env: Path) -> None:
    ran = pip_agent.run("packages", "install", "--manager", "pip", "--", f"{PACKAGE}==1.0")
    assert ran.code == 0, ran.stderr
    assert ran.result["action"] == "packages-install"
    assert ran.result["manager"] == "pip"
    assert ran.result["installed"] == {PACKAGE: "1.0"}
    assert ran.result["changed"] is True
    check = [str(user_env / "bin" / "python"), "-c", "import wsh_demo; print(wsh_demo.VERSION)"]
    assert subprocess.run(check, capture_output=True, text=True).stdout.strip() == "1.0"

    again = pip_agent.run("packages", "install", "--manager", "pip", f"{PACKAGE}==1.0")
    assert again.result["changed"] is False

    upgraded = pip_agent.run("packages", "install", "--manager", "pip", f"{PACKAGE}>=1.1,<2")
    assert upgraded.result["installed"] == {PACKAGE: "1.1"}
    assert upgraded.result["previous"] == {PACKAGE: "1.0"}
    assert upgraded.result["changed"] is True


def test_pip_failure_names_the_package(pip_agent: Agent) -> None:
    ran = pip_agent.run("packages", "install", "--manager", "pip", "no-such-package-hubagent==9.9")
    assert ran.code == 1
    assert "pip install of no-such-package-hubagent==9.9 failed" in ran.result["error"]
    assert [f["spec"] for f in ran.result["failed"]] == ["no-such-package-hubagent==9.9"]


def test_one_bad_spec_never_keeps_the_others_out(pip_agent: Agent, user_env: Path) -> None:
    """pip refuses the whole list when one spec cannot install: each is then tried on its own."""
    bad = "definitely-not-a-real-pkg-hubagent"
    ran = pip_agent.run("packages", "install", "--manager", "pip", "--", f"{bad} {OTHER}==2.0 {PACKAGE}>=1.0")
    assert ran.code == 0, ran.result
    assert ran.result["ok"] is True
    assert ran.result["installed"] == {OTHER: "2.0", PACKAGE: "1.1"}
    assert [f["spec"] for f in ran.result["failed"]] == [bad]
    assert f"pip install of {bad} failed" in ran.result["failed"][0]["error"]
    check = [str(user_env / "bin" / "python"), "-c", "import wsh_other; print(wsh_other.VERSION)"]
    assert subprocess.run(check, capture_output=True, text=True).stdout.strip() == "2.0"

    two_bad = pip_agent.run("packages", "install", "--manager", "pip", f"{bad}==1", f"{PACKAGE}==7.7")
    assert two_bad.code == 1
    assert [f["spec"] for f in two_bad.result["failed"]] == [f"{bad}==1", f"{PACKAGE}==7.7"]
    assert "no package could be installed" in two_bad.result["error"]


def test_missing_user_environment(agent: Agent) -> None:
    ran = agent.run("packages", "install", "--manager", "pip", "six")
    assert ran.code == 1
    assert "has no bin/python" in ran.result["error"] or "has no bin/pip" in ran.result["error"]


FAKE_MAMBA = """#!/usr/bin/env python3
import json, sys
from pathlib import Path
state = Path(__file__).with_name("mamba-state.json")
packages = json.loads(state.read_text()) if state.exists() else {}
with Path(__file__).with_name("mamba-calls.log").open("a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
if sys.argv[1:3] == ["list", "--json"]:
    print(json.dumps([{"name": n, "version": v, "channel": "conda-forge"} for n, v in packages.items()]))
elif sys.argv[1] == "install":
    for spec in sys.argv[5:]:
        name, _, version = spec.partition("=")
        packages[name] = version or "1.0"
    state.write_text(json.dumps(packages))
"""


def test_conda_uses_mamba_from_conda_forge(agent: Agent, tmp_path: Path) -> None:
    """No mamba here: a stand-in records the exact command line and keeps a package list."""
    env_bin = tmp_path / "conda-env" / "bin"
    env_bin.mkdir(parents=True)
    (env_bin / "mamba").write_text(FAKE_MAMBA)
    (env_bin / "mamba").chmod(0o755)
    agent.env["HUBAGENT_USER_ENV"] = str(env_bin.parent)

    ran = agent.run("packages", "install", "--manager", "conda", "--", "gdal=3.9 xarray")
    assert ran.code == 0, ran.stderr
    assert ran.result["installed"] == {"gdal": "3.9", "xarray": "1.0"}
    assert ran.result["changed"] is True
    calls = [json.loads(line) for line in (env_bin / "mamba-calls.log").read_text().splitlines()]
    assert calls == [
        ["list", "--json"],
        ["install", "--yes", "--channel", "conda-forge", "gdal=3.9", "xarray"],
        ["list", "--json"],
    ]
