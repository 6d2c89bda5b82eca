"""data sync with real git repositories, real homes owned by real unix users."""

from __future__ import annotations

import os
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.agent.conftest import Agent, as_user

pytestmark = pytest.mark.root
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.org",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.org",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "PATH": os.environ["PATH"],
}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@dataclass
class Origin:
    """A bare repository (the 'remote') and a working clone that commits and pushes to it."""

    bare: Path
    work: Path

    def commit(self, files: dict[str, str], message: str = "change") -> str:
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", message)
        return git(self.work, "rev-parse", "HEAD")

    def push(self, *args: str) -> None:
        git(self.work, "push", "-q", *args, "origin", "HEAD")


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    bare, work = tmp_path / "origin.git", tmp_path / "work"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(tmp_path, "init", "-q", "-b", "main", str(work))
    git(work, "remote", "add", "origin", str(bare))
    repo = Origin(bare, work)
    repo.commit({"README.md": "hello\n", "notebooks/intro.ipynb": "{}\n"}, "first")
    repo.push()
    return repo


@pytest.fixture
def data_agent(agent: Agent, unix_users: list[str], open_dir: Path) -> Agent:
    """Local repositories allowed (the sandbox's setting) and two existing homes owned by real users."""
    agent.env["HUBAGENT_ALLOW_LOCAL_REPOS"] = "1"
    for user in unix_users:
        home = open_dir / "home" / f"jupyter-{user}"
        home.mkdir(mode=0o755)
        os.chown(home, *_ids(user))
    return agent


def _ids(user: str) -> tuple[int, int]:
    uid = int(subprocess.run(["id", "-u", user], capture_output=True, text=True, check=True).stdout)
    gid = int(subprocess.run(["id", "-g", user], capture_output=True, text=True, check=True).stdout)
    return uid, gid


def sync(agent: Agent, origin: Origin, *extra: str) -> dict[str, Any]:
    ran = agent.run("data", "sync", "--name", "workshop", "--repo", str(origin.bare), *extra)
    assert ran.code == 0, ran.result
    return ran.result


def test_new_clone_is_read_only_and_linked_everywhere(
    data_agent: Agent, origin: Origin, open_dir: Path, unix_users: list[str]
) -> None:
    head = git(origin.work, "rev-parse", "HEAD")
    result = sync(data_agent, origin)
    target = open_dir / "data" / "workshop"
    assert result["action"] == "data-sync"
    assert result["changed"] is True
    assert result["commit"] == head
    assert result["previous_commit"] is None
    assert result["path"] == str(target)
    assert (target / "notebooks" / "intro.ipynb").read_text() == "{}\n"
    assert git(target, "rev-parse", "--is-shallow-repository") == "true"
    assert os.listdir(open_dir / "data") == ["workshop"]  # no staging folder left behind

    for path in [target, *target.rglob("*")]:
        st = path.lstat()
        assert (st.st_uid, st.st_gid) == (0, 0), path
        assert stat.S_IMODE(st.st_mode) == (0o755 if path.is_dir() else 0o644), path

    homes = [open_dir / "skel"] + [open_dir / "home" / f"jupyter-{u}" for u in unix_users]
    assert result["linked_homes"] == [str(h) for h in homes]
    assert result["new_links"] == [str(h) for h in homes]
    assert result["skipped_homes"] == []
    for home in homes:
        link = home / "workshop"
        assert link.is_symlink() and os.readlink(link) == str(target)
        assert link.lstat().st_uid == home.stat().st_uid  # owned by the home's user (lchown)
    assert (homes[1] / "workshop" / "README.md").read_text() == "hello\n"


def test_users_can_read_but_not_change_the_data(
    data_agent: Agent, origin: Origin, open_dir: Path, unix_users
):
    sync(data_agent, origin)
    user = unix_users[0]
    link = open_dir / "home" / f"jupyter-{user}" / "workshop"
    assert as_user(user, f"cat {link}/README.md").stdout == "hello\n"
    for attempt in (
        f"echo x >> {link}/README.md",
        f"touch {link}/new-file",
        f"rm -f {link}/README.md",
        f"mkdir {link}/notebooks/mine",
        f"mv {link}/notebooks/intro.ipynb {link}/moved.ipynb",
    ):
        assert as_user(user, attempt).returncode != 0, attempt
    assert (link / "README.md").read_text() == "hello\n"
    assert not (link / "new-file").exists()


def test_update_unchanged_and_new_home(data_agent: Agent, origin: Origin, open_dir: Path) -> None:
    first = sync(data_agent, origin)
    second_commit = origin.commit({"data/new.csv": "a,b\n"}, "more data")
    origin.push()

    updated = sync(data_agent, origin)
    assert updated["changed"] is True
    assert updated["previous_commit"] == first["commit"]
    assert updated["commit"] == second_commit
    assert (open_dir / "data" / "workshop" / "data" / "new.csv").read_text() == "a,b\n"
    assert updated["new_links"] == []  # links already right: left as they are

    same = sync(data_agent, origin)
    assert same["changed"] is False
    assert same["commit"] == same["previous_commit"] == second_commit

    # a participant whose home appeared since the last sync gets the link on the next one
    late = open_dir / "home" / "jupyter-late"
    late.mkdir()
    relinked = sync(data_agent, origin)
    assert relinked["changed"] is True
    assert relinked["new_links"] == [str(late)]


def test_force_push_converges(data_agent: Agent, origin: Origin, open_dir: Path) -> None:
    origin.commit({"draft.txt": "will be dropped\n"}, "draft")
    origin.push()
    sync(data_agent, origin)
    assert (open_dir / "data" / "workshop" / "draft.txt").exists()

    git(origin.work, "reset", "-q", "--hard", "HEAD~1")
    rewritten = origin.commit({"final.txt": "final\n"}, "rewritten")
    origin.push("--force")

    result = sync(data_agent, origin)
    assert result["commit"] == rewritten
    target = open_dir / "data" / "workshop"
    assert not (target / "draft.txt").exists()
    assert (target / "final.txt").read_text() == "final\n"
    assert git(target, "status", "--porcelain") == ""


def test_ref_change_branch_and_tag(data_agent: Agent, origin: Origin, open_dir: Path) -> None:
    main = git(origin.work, "rev-parse", "HEAD")
    git(origin.work, "checkout", "-q", "-b", "day-2")
    day2 = origin.commit({"day2.ipynb": "{}\n"}, "day 2")
    git(origin.work, "push", "-q", "origin", "day-2")
    git(origin.work, "tag", "v1.0", main)
    git(origin.work, "push", "-q", "origin", "v1.0")
    target = open_dir / "data" / "workshop"

    assert sync(data_agent, origin)["commit"] == main  # no ref: the remote's default branch
    assert sync(data_agent, origin, "--ref", "day-2")["commit"] == day2
    assert (target / "day2.ipynb").exists()
    assert sync(data_agent, origin, "--ref", "v1.0")["commit"] == main
    assert not (target / "day2.ipynb").exists()
    assert sync(data_agent, origin, "--ref=")["commit"] == main  # empty ref, as the SSM document passes it


def test_a_users_own_file_is_never_clobbered(
    data_agent: Agent, origin: Origin, open_dir: Path, unix_users: list[str]
) -> None:
    home_a = open_dir / "home" / f"jupyter-{unix_users[0]}"
    home_b = open_dir / "home" / f"jupyter-{unix_users[1]}"
    (home_a / "workshop").mkdir()
    (home_a / "workshop" / "my-notes.txt").write_text("mine\n")
    (home_b / "workshop").symlink_to("/tmp")
    (open_dir / "skel" / "workshop").write_text("a file\n")

    result = sync(data_agent, origin)
    skipped = {s["home"]: s["reason"] for s in result["skipped_homes"]}
    assert set(skipped) == {str(home_a), str(home_b), str(open_dir / "skel")}
    assert "own folder" in skipped[str(home_a)]
    assert "already a link to /tmp" in skipped[str(home_b)]
    assert "own file" in skipped[str(open_dir / "skel")]
    assert (home_a / "workshop" / "my-notes.txt").read_text() == "mine\n"
    assert os.readlink(home_b / "workshop") == "/tmp"
    assert (open_dir / "skel" / "workshop").read_text() == "a file\n"


def test_symlinks_in_the_repository_are_not_followed(
    data_agent: Agent, origin: Origin, open_dir: Path
) -> None:
    secret = open_dir / "secret"
    secret.write_text("root only\n")
    secret.chmod(0o600)
    (origin.work / "link-to-secret").symlink_to(secret)
    origin.commit({}, "a link out of the repository")
    origin.push()

    sync(data_agent, origin)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert (open_dir / "data" / "workshop" / "link-to-secret").is_symlink()


def test_failed_clone_leaves_nothing(data_agent: Agent, open_dir: Path, tmp_path: Path) -> None:
    ran = data_agent.run("data", "sync", "--name", "workshop", "--repo", str(tmp_path / "missing.git"))
    assert ran.code == 1
    assert "git fetch" in ran.result["error"]
    assert os.listdir(open_dir / "data") == []
    assert not (open_dir / "skel" / "workshop").exists()


def test_unknown_ref_keeps_the_current_checkout(data_agent: Agent, origin: Origin, open_dir: Path) -> None:
    first = sync(data_agent, origin)
    ran = data_agent.run(
        "data", "sync", "--name", "workshop", "--repo", str(origin.bare), "--ref", "no-such-branch"
    )
    assert ran.code == 1
    assert "no-such-branch" in ran.result["error"]
    target = open_dir / "data" / "workshop"
    assert git(target, "rev-parse", "HEAD") == first["commit"]
    assert (target / "README.md").exists()


def test_a_folder_not_made_by_sync_is_refused(data_agent: Agent, origin: Origin, open_dir: Path) -> None:
    (open_dir / "data" / "workshop").mkdir(parents=True)
    (open_dir / "data" / "workshop" / "precious.txt").write_text("x")
    ran = data_agent.run("data", "sync", "--name", "workshop", "--repo", str(origin.bare))
    assert ran.code == 1
    assert "move it away" in ran.result["error"]
    assert (open_dir / "data" / "workshop" / "precious.txt").exists()


def test_local_repositories_need_the_sandbox_setting(agent: Agent, origin: Origin, open_dir: Path) -> None:
    ran = agent.run("data", "sync", "--name", "workshop", "--repo", str(origin.bare))
    assert ran.code == 2
    assert "git URL" in ran.result["error"]
    assert not (open_dir / "data").exists()


def test_git_runs_with_arguments_only_and_no_prompts(agent: Agent, fake_tools) -> None:
    agent.env["PATH"] = f"{fake_tools.bin}:{agent.env['PATH']}"
    agent.env["HUBAGENT_RESOLVE"] = "example.org=93.184.215.14"  # what DNS would answer
    agent.run("data", "sync", "--name", "ws", "--repo", "https://example.org/group/repo.git", "--ref", "main")
    fetch = next(c for c in fake_tools.calls() if " fetch " in c)
    # git connects to the address that was checked, and follows no redirect.
    assert fetch.split() == [
        "git", "-c", "protocol.allow=never", "-c", "protocol.https.allow=always",
        "-c", "http.curloptResolve=example.org:443:93.184.215.14", "-c", "http.followRedirects=false",
        "-c", "core.hooksPath=/dev/null",
        "-C", fetch.split()[12], "fetch", "--depth=1", "--no-tags", "--", "https://example.org/group/repo.git", "main",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "answer", ["10.0.0.5", "127.0.0.1", "169.254.169.254", "::1", "::ffff:127.0.0.1", "fd00:ec2::254"]
)
def test_a_name_that_resolves_to_a_private_address_is_refused_before_git_runs(
    agent: Agent, fake_tools, open_dir: Path, answer: str
) -> None:
    agent.env["PATH"] = f"{fake_tools.bin}:{agent.env['PATH']}"
    agent.env["HUBAGENT_RESOLVE"] = f"git.example.org={answer}"
    ran = agent.run("data", "sync", "--name", "ws", "--repo", "https://git.example.org/group/repo.git")
    assert ran.code == 2 and "not a public address" in ran.result["error"] and answer in ran.result["error"]
    assert fake_tools.calls() == []  # git never ran
    assert not (open_dir / "data" / "ws").exists()


@pytest.mark.parametrize(
    "repo",
    [
        "https://169.254.169.254/latest/meta-data",
        "https://127.0.0.1:8443/x",
        "https://2130706433/x",
        "https://0x7f000001/x",
        "https://localhost/x",
        "https://instance-data.ec2.internal/latest",
    ],
)
def test_a_private_address_in_the_url_is_refused_by_hubagent_too(agent: Agent, fake_tools, repo: str) -> None:
    agent.env["PATH"] = f"{fake_tools.bin}:{agent.env['PATH']}"
    ran = agent.run("data", "sync", "--name", "ws", "--repo", repo)
    assert ran.code == 2 and "public host" in ran.result["error"]
    assert fake_tools.calls() == []


def test_the_sandbox_name_is_a_local_repository_only_in_the_sandbox(agent: Agent, fake_tools) -> None:
    """On the instance, git.sandbox.invalid (the sandbox's stand-in host) resolves to nothing."""
    agent.env["PATH"] = f"{fake_tools.bin}:{agent.env['PATH']}"
    ran = agent.run("data", "sync", "--name", "ws", "--repo", "https://git.sandbox.invalid/ws")
    assert ran.code == 1 and "cannot resolve git.sandbox.invalid" in ran.result["error"]
    assert fake_tools.calls() == []


def test_remove_takes_the_data_and_its_links_away_and_leaves_what_users_own(
    data_agent: Agent, origin: Origin, open_dir: Path, unix_users: list[str]
) -> None:
    sync(data_agent, origin)
    home_a = open_dir / "home" / f"jupyter-{unix_users[0]}"
    home_b = open_dir / "home" / f"jupyter-{unix_users[1]}"
    (home_b / "workshop").unlink()
    (home_b / "workshop").mkdir()  # home_b's user made a folder of that name meanwhile: theirs
    (home_b / "workshop" / "notes.txt").write_text("mine\n")

    ran = data_agent.run("data", "remove", "--name", "workshop")
    assert ran.code == 0, ran.result
    assert ran.result["action"] == "data-remove" and ran.result["changed"] is True
    assert ran.result["removed"] is True
    assert ran.result["unlinked_homes"] == [str(open_dir / "skel"), str(home_a)]
    assert ran.result["kept"] == [str(home_b / "workshop")]
    assert not (open_dir / "data" / "workshop").exists()
    assert os.listdir(open_dir / "data") == []  # nothing half-removed left behind
    assert not (open_dir / "skel" / "workshop").is_symlink() and not (home_a / "workshop").exists()
    assert (home_b / "workshop" / "notes.txt").read_text() == "mine\n"

    again = data_agent.run("data", "remove", "--name", "workshop")
    assert again.code == 0 and again.result["changed"] is False  # idempotent

    assert sync(data_agent, origin)["new_links"]  # and it can come back


def test_remove_refuses_a_folder_not_made_by_sync(data_agent: Agent, open_dir: Path) -> None:
    (open_dir / "data" / "precious").mkdir(parents=True)
    (open_dir / "data" / "precious" / "thesis.tex").write_text("x")
    ran = data_agent.run("data", "remove", "--name", "precious")
    assert ran.code == 1 and "left as it is" in ran.result["error"]
    assert (open_dir / "data" / "precious" / "thesis.tex").exists()
    bad = data_agent.run("data", "remove", "--name", "../etc")
    assert bad.code == 2 and "name" in bad.result["error"]
