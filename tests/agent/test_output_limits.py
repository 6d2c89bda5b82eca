"""SSM keeps the first 24,000 characters of stdout: hubagent's users-list and activity results fit for
1,000 users on a real JupyterHub, run through the local command runner, which cuts stdout as SSM does."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from workshop_hub.adapters.local_commands import LocalCommands
from workshop_hub.ports import SSM_STDOUT_LIMIT, AgentFailed, hub_users

from tests.agent.conftest import BASE_PATH
from tests.support.localhub import LocalHub

# 700 names like a registration export (16 characters), 300 of the longest JupyterHub/TLJH take (32)
SHORT = [f"participant-{i:04d}" for i in range(700)]
LONG = [f"a-very-long-participant-nam{i:05d}" for i in range(300)]
ADMINS = ["instructor-one", "instructor-two"]


@pytest.fixture(scope="module")
def big_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    with LocalHub(tmp_path_factory.mktemp("bighub")) as running:
        names = SHORT + LONG
        assert all(len(n) <= 32 for n in names) and len(LONG[0]) == 32
        for start in range(0, len(names), 200):
            status, _ = running.api("POST", "/users", {"usernames": names[start : start + 200]})
            assert status == 201, status
        for admin in ADMINS:
            assert running.api("POST", f"/users/{admin}", {"admin": True})[0] == 201
        for name in ("participant-0001", LONG[-1]):
            running.start_server(name)
        yield running


@pytest.fixture
def runner(agent_zip: Path, big_hub: LocalHub, tmp_path: Path) -> LocalCommands:
    return LocalCommands(
        agent=agent_zip,
        environ={
            "PATH": BASE_PATH,
            "LANG": "C.UTF-8",
            "HUBAGENT_HUB_API": big_hub.api_url,
            "HUBAGENT_TOKEN_FILE": str(big_hub.token_file),
            "HUBAGENT_READY_MARKER": str(tmp_path / "ready"),
        },
        instance_state=lambda: "running",
        log_dir=tmp_path,
    )


def printed(log_dir: Path) -> list[str]:
    """The JSON lines the agent printed (the runner's log holds each run's stdout)."""
    return [line for line in (log_dir / "hubagent.log").read_text().splitlines() if line.startswith('{"ok"')]


def test_1000_users_are_listed_through_ssm_sized_output(
    runner: LocalCommands, big_hub: LocalHub, tmp_path: Path
) -> None:
    on_hub = set(big_hub.user_names())
    assert len(on_hub) >= 1002

    users = hub_users(lambda after: runner.run("users-list", {"After": after}, 120))

    assert set(users) == on_hub
    assert {name for name, admin in users.items() if admin} >= set(ADMINS)
    assert users["participant-0001"] is False
    pages = printed(tmp_path)
    assert len(pages) == 2  # 29,600 characters of names: two pages
    sizes = [len(line) for line in pages]
    assert all(size < SSM_STDOUT_LIMIT for size in sizes), sizes
    first = json.loads(pages[0])
    assert first["count"] == len(on_hub) and first["next"] == first["names"][-1]
    print(f"\nusers-list, {len(on_hub)} users (700 x 16, 300 x 32 characters): pages of {sizes} characters")


def test_1000_short_names_fit_in_one_page(runner: LocalCommands, big_hub: LocalHub, tmp_path: Path) -> None:
    # the 700 short names and everything after them: one result
    page = runner.run("users-list", {"After": ""})
    assert page["next"] is not None
    rest = runner.run("users-list", {"After": "a-very-long-participant-nam00299"})
    assert rest["next"] is None and "participant-0699" in rest["names"]
    line = printed(tmp_path)[-1]
    print(f"\nusers-list after the long names: {len(rest['names'])} names in {len(line)} characters")


def test_activity_with_1000_users(runner: LocalCommands, big_hub: LocalHub, tmp_path: Path) -> None:
    result = runner.run("activity", {"Minutes": "0"})
    assert result["user_count"] >= 1002
    assert result["running_count"] == result["active_count"] == 2
    assert set(result["active_users"]) == {"participant-0001", LONG[-1]}
    assert result["active_users_complete"] is True
    size = len(printed(tmp_path)[-1])
    assert size < 1000
    print(f"\nactivity, {result['user_count']} users, 2 active: {size} characters")


def fake_agent(folder: Path, characters: int) -> Path:
    """An 'agent' that prints one JSON result line of ``characters`` characters."""
    folder.mkdir()
    filler = characters - len(json.dumps({"ok": True, "action": "health", "changed": False, "pad": ""}))
    (folder / "__main__.py").write_text(
        "import json\n"
        f"print(json.dumps({{'ok': True, 'action': 'health', 'changed': False, 'pad': 'x' * {filler}}}))\n"
    )
    return folder


@pytest.mark.parametrize(
    ("characters", "parses"), [(SSM_STDOUT_LIMIT - 1, True), (SSM_STDOUT_LIMIT + 10, False)]
)
def test_the_runner_cuts_stdout_where_ssm_does(tmp_path: Path, characters: int, parses: bool) -> None:
    runner = LocalCommands(
        agent=fake_agent(tmp_path / "agent", characters),
        environ={"PATH": os.environ.get("PATH", BASE_PATH)},
        instance_state=lambda: "running",
    )
    if parses:
        result: dict[str, Any] = runner.run("health", {})
        assert len(result["pad"]) > 23_000
    else:
        with pytest.raises(
            AgentFailed, match=f"printed no JSON result \\(printed {characters + 1} characters"
        ):
            runner.run("health", {})
