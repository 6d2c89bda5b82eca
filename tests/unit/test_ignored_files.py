"""What hubctl and the sandbox write into the clone stays out of git: the password sheets and `.sandbox/`."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def ignored(path: str) -> bool:
    checked = subprocess.run(["git", "check-ignore", "--no-index", "-q", path], cwd=ROOT, check=False)
    assert checked.returncode in (0, 1), checked
    return checked.returncode == 0


@pytest.mark.parametrize(
    "path",
    [
        "hub-passwords/participants.html",  # hubctl users add --passwords, run in the project folder
        "hubctl/hub-passwords/participants.csv",  # ... or in any folder of the clone
        ".sandbox/state.json",  # make up
        ".sandbox/homes/jupyter-alice/notes.ipynb",
    ],
)
def test_git_ignores_what_hubctl_and_the_sandbox_write(path: str) -> None:
    assert ignored(path), f"{path} is not ignored by .gitignore"


def test_a_file_of_the_project_is_not_ignored() -> None:
    assert not ignored("workshop.yaml")
