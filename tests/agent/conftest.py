"""Fixtures for hubagent's tests: the agent zip run by the system python3 (as SSM runs it), a real
local JupyterHub, throwaway unix users, and a PATH whose git/pip/mamba/growpart only record calls."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from stacks import bundles
from tests.support.localhub import LocalHub

SYSTEM_PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else "python3"
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class Ran:
    code: int
    result: dict[str, Any]
    stderr: str


@dataclass
class Agent:
    """Runs the agent zip with HUBAGENT_* settings pointing at test paths."""

    zip: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str, timeout: float = 300, stdin: str | None = None, **env: str) -> Ran:
        done = subprocess.run(
            [SYSTEM_PYTHON, "-I", str(self.zip), *args],
            input=stdin if stdin is not None else "",
            env=self.env | env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        lines = done.stdout.splitlines()
        assert len(lines) == 1, f"expected one JSON line, got {done.stdout!r}; stderr:\n{done.stderr}"
        result = json.loads(lines[0])
        assert set(result) >= {"ok", "action", "changed"}
        assert (done.returncode == 0) == result["ok"], (done.returncode, result)
        if not result["ok"]:
            assert result["error"], result
        return Ran(done.returncode, result, done.stderr)


@pytest.fixture(scope="session")
def agent_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bundles.build_agent_zip(tmp_path_factory.mktemp("agent") / "hubagent.zip")


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    with LocalHub(tmp_path_factory.mktemp("hub")) as running:
        yield running


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder others can traverse (pytest's tmp_path is root-only), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="hubagent-test-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def agent(agent_zip: Path, open_dir: Path) -> Agent:
    """The agent with every path in a fresh folder and no hub (see ``hub_agent``)."""
    (open_dir / "skel").mkdir()
    (open_dir / "home").mkdir()
    return Agent(
        agent_zip,
        {
            "PATH": BASE_PATH,
            "LANG": "C.UTF-8",
            "HUBAGENT_HUB_API": "http://127.0.0.1:9/hub/api",
            "HUBAGENT_TOKEN_FILE": str(open_dir / "no-token"),
            "HUBAGENT_TLJH_PREFIX": str(open_dir / "tljh"),
            "HUBAGENT_DATA_ROOT": str(open_dir / "data"),
            "HUBAGENT_SKEL": str(open_dir / "skel"),
            "HUBAGENT_HOMES": str(open_dir / "home"),
            "HUBAGENT_USER_ENV": str(open_dir / "user-env"),
            "HUBAGENT_READY_MARKER": str(open_dir / "ready"),
        },
    )


@pytest.fixture
def hub_agent(agent: Agent, hub: LocalHub) -> Agent:
    agent.env |= {"HUBAGENT_HUB_API": hub.api_url, "HUBAGENT_TOKEN_FILE": str(hub.token_file)}
    return agent


RECORDER = """#!/bin/sh
printf '%s\\n' "$(basename "$0") $*" >> "{log}"
exit 0
"""


@dataclass
class FakeTools:
    bin: Path
    log: Path

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def fake_tools(tmp_path: Path) -> FakeTools:
    """A bin folder whose programs only record that they were called (and how)."""
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir()
    log = tmp_path / "calls.log"
    for name in (
        "git",
        "pip",
        "python",
        "mamba",
        "conda",
        "growpart",
        "resize2fs",
        "xfs_growfs",
        "findmnt",
        "sudo",
    ):
        tool = fake_bin / name
        tool.write_text(RECORDER.format(log=log))
        tool.chmod(0o755)
    return FakeTools(fake_bin, log)


def _user_exists(name: str) -> bool:
    return subprocess.run(["id", "-u", name], capture_output=True).returncode == 0


@pytest.fixture(scope="session")
def unix_users() -> Iterator[list[str]]:
    """Two throwaway unix users (no home folder), removed at the end."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create unix users")
    names = ["hubagent-t1", "hubagent-t2"]
    for name in names:
        if not _user_exists(name):
            subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
    yield names
    for name in names:
        subprocess.run(["userdel", name], check=False)


def as_user(user: str, command: str) -> subprocess.CompletedProcess[str]:
    """Run a shell command as ``user`` (not root)."""
    return subprocess.run(
        ["su", "-s", "/bin/sh", user, "-c", command], capture_output=True, text=True, timeout=30
    )
