"""The agent zip: what the CDK asset holds, and that Ubuntu's Pythons (3.10 on 22.04, 3.12 on 24.04) run it."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hubagent import users

from stacks import bundles

CANDIDATES = [
    "/usr/bin/python3",
    *(str(p) for p in sorted(Path.home().glob(".pyenv/versions/3.1[0-9]*/bin/python3"))),
]
PYTHONS = [p for p in CANDIDATES if Path(p).exists()]


def test_zip_layout(agent_zip: Path) -> None:
    names = zipfile.ZipFile(agent_zip).namelist()
    assert names[0] == "__main__.py"
    assert "hubagent/cli.py" in names and "hubagent/rules.py" in names
    assert all(n == "__main__.py" or (n.startswith("hubagent/") and n.endswith(".py")) for n in names)


def test_staged_folder_matches_the_zip(agent_zip: Path, tmp_path: Path) -> None:
    staged = bundles.stage_agent(tmp_path)
    files = sorted(str(p.relative_to(staged)) for p in staged.rglob("*") if p.is_file())
    assert files == sorted(zipfile.ZipFile(agent_zip).namelist())
    done = subprocess.run(
        ["python3", "-I", str(staged), "users", "add", "Bad"], capture_output=True, text=True
    )
    assert done.returncode == 2 and json.loads(done.stdout)["action"] == "users-add"


@pytest.mark.parametrize("python", PYTHONS)
def test_the_zip_runs_on(python: str, agent_zip: Path, tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HUBAGENT_HUB_API": "http://127.0.0.1:9/hub/api",
        "HUBAGENT_ROOT_MOUNT": "/",
    }
    done = subprocess.run([python, "-I", str(agent_zip), "health"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["hub_ok"] is False


class StubHub:
    def __init__(self, listed: list[dict[str, Any]]) -> None:
        self.listed = listed

    def users(self, state: str | None = None) -> list[dict[str, Any]]:
        return self.listed


def test_activity_window() -> None:
    now = dt.datetime(2025, 3, 1, 22, 0, tzinfo=dt.timezone.utc)  # noqa: UP017
    server = {"": {"ready": True, "last_activity": "2025-03-01T21:50:00.000000Z"}}
    listed: list[dict[str, Any]] = [
        {
            "name": "recent",
            "server": "/user/recent/",
            "servers": server,
            "last_activity": "2025-03-01T21:55:00Z",
        },
        {
            "name": "stale",
            "server": "/user/stale/",
            "servers": {},
            "last_activity": "2025-03-01T20:00:00.123456Z",
        },
        {"name": "no-server", "server": None, "servers": {}, "last_activity": "2025-03-01T21:59:00Z"},
        {"name": "never", "server": None, "servers": {}, "last_activity": None},
    ]
    hub: Any = StubHub(listed)
    assert users.activity(hub, 15, now)["active_users"] == ["recent"]
    assert users.activity(hub, 0, now)["active_users"] == ["recent", "stale"]
    assert users.activity(hub, 180, now)["active_users"] == ["recent", "stale"]
    result = users.activity(hub, 15, now)
    assert {k: v for k, v in result.items() if k != "changed"} == {
        "minutes": 15,
        "active_count": 1,
        "active_users": ["recent"],
        "active_users_complete": True,
        "running_count": 2,
        "user_count": 4,
        "last_activity": "2025-03-01T21:55:00+00:00",
    }


def test_activity_keeps_the_most_recent_names_within_its_budget() -> None:
    now = dt.datetime(2025, 3, 1, 22, 0, tzinfo=dt.timezone.utc)  # noqa: UP017
    listed: list[dict[str, Any]] = [
        {
            "name": f"user-{i:02d}",
            "server": "/x/",
            "servers": {},
            "last_activity": f"2025-03-01T21:{i:02d}:00Z",
        }
        for i in range(50)
    ]
    result = users.activity(StubHub(listed), 0, now, budget=60)  # type: ignore[arg-type]
    assert result["active_count"] == 50 and result["active_users_complete"] is False
    # each name costs 11 characters (quoted, and ", "): five fit in 60
    assert result["active_users"] == ["user-49", "user-48", "user-47", "user-46", "user-45"]


def test_users_list_pages_within_its_budget() -> None:
    listed: list[dict[str, Any]] = [{"name": f"u{i:03d}", "admin": i % 10 == 0} for i in range(100)]
    hub: Any = StubHub(list(reversed(listed)))
    seen: list[str] = []
    admins: list[str] = []
    after = ""
    pages = 0
    while True:
        page = users.list_users(hub, after, budget=100)
        pages += 1
        assert page["count"] == 100
        assert len(json.dumps(page["names"])) + len(json.dumps(page["admins"])) <= 100 + 4
        seen += page["names"]
        admins += page["admins"]
        if page["next"] is None:
            break
        assert page["next"] == page["names"][-1]
        after = page["next"]
    assert seen == [f"u{i:03d}" for i in range(100)] and pages > 5
    assert admins == [f"u{i:03d}" for i in range(0, 100, 10)]
