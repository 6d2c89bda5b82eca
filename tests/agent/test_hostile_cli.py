"""Every hostile value, given to hubagent's command line: refused with exit 2, and nothing ran (the
git/pip/mamba/python on PATH and in the user environment only record calls; the hub got no user).

The whole corpus runs in-process through hubagent.cli.main (fast); the field-specific values also run
through the agent zip exactly as the SSM documents' scripts pass them."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hubagent import cli

from tests.agent.conftest import Agent, FakeTools
from tests.agent.hostile import _SPECIFIC, HOSTILE
from tests.support.localhub import LocalHub

REPO = "https://example.org/group/repo.git"
# The forms the SSM documents use first, then option-looking values without '--'.
COMMANDS = {
    "username": [
        ["users", "add", "--", "{}"],
        ["users", "remove", "--", "{}"],
        ["users", "add", "--admin", "ok-name", "{}"],
    ],
    "data_name": [
        ["data", "sync", "--name={}", f"--repo={REPO}"],
        ["data", "sync", "--repo", REPO, "--name", "{}"],
    ],
    "git_url": [["data", "sync", "--name=ws", "--repo={}"], ["data", "sync", "--name", "ws", "--repo", "{}"]],
    "git_ref": [["data", "sync", "--name=ws", f"--repo={REPO}", "--ref={}"]],
    "pip_spec": [
        ["packages", "install", "--manager=pip", "--", "{}"],
        ["packages", "install", "--manager=pip", "six", "{}"],
    ],
    "conda_spec": [["packages", "install", "--manager=conda", "--", "{}"]],
}


def argvs(kind: str, values: list[str], all_forms: bool) -> list[list[str]]:
    templates = COMMANDS[kind] if all_forms else COMMANDS[kind][:1]
    return [
        [part.replace("{}", value) for part in template]
        for template in templates
        for value in values
        if "\x00" not in value  # an argument cannot hold NUL at all
    ]


@pytest.fixture
def trap_env(agent: Agent, fake_tools: FakeTools) -> dict[str, str]:
    """git and friends on PATH, and the user environment's tools, only record calls."""
    (fake_tools.bin.parent / "bin").symlink_to(fake_tools.bin)
    agent.env["PATH"] = f"{fake_tools.bin}:{agent.env['PATH']}"
    agent.env["HUBAGENT_USER_ENV"] = str(fake_tools.bin.parent)
    return agent.env


@pytest.mark.parametrize("kind", sorted(COMMANDS))
def test_the_whole_corpus_is_refused_in_process(
    kind: str,
    agent: Agent,
    trap_env: dict[str, str],
    fake_tools: FakeTools,
    open_dir: Path,
    monkeypatch,
    capsys,
) -> None:
    for name, value in trap_env.items():
        monkeypatch.setenv(name, value)
    for argv in argvs(kind, HOSTILE[kind], all_forms=True):
        code = cli.main(argv)
        out = capsys.readouterr().out.splitlines()
        assert len(out) == 1, (argv, out)
        result = json.loads(out[0])
        assert (code, result["ok"]) == (2, False), (argv, result)
        assert result["error"]
    assert fake_tools.calls() == []
    assert not (open_dir / "data").exists()


@pytest.mark.parametrize("kind", ["data_name", "git_url", "git_ref", "pip_spec", "conda_spec"])
def test_field_values_are_refused_by_the_agent_zip(
    agent: Agent, trap_env: dict[str, str], fake_tools: FakeTools, open_dir: Path, kind: str
) -> None:
    runs = argvs(kind, _SPECIFIC[kind], all_forms=False)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda argv: agent.run(*argv), runs))
    for argv, ran in zip(runs, results, strict=True):
        assert ran.code == 2, (argv, ran.result)
    assert fake_tools.calls() == []
    assert not (open_dir / "data").exists()


@pytest.mark.hub
def test_hostile_user_names_never_reach_the_hub(hub_agent: Agent, hub: LocalHub, monkeypatch, capsys) -> None:
    before = hub.user_names()
    for name, value in hub_agent.env.items():
        monkeypatch.setenv(name, value)
    for argv in argvs("username", HOSTILE["username"], all_forms=True):
        assert cli.main(argv) == 2, argv
    capsys.readouterr()

    runs = argvs("username", _SPECIFIC["username"], all_forms=False)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda argv: hub_agent.run(*argv), runs))
    for argv, ran in zip(runs, results, strict=True):
        assert ran.code == 2, (argv, ran.result)
        assert ran.result["action"] == "users-add"
    assert hub.user_names() == before
