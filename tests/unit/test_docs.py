"""The documentation holds together: README.md's links reach a file and a heading that exist (as GitHub renders
them), the other READMEs' too, and docs/ builds with MkDocs --strict (a broken link or anchor between pages fails)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
READMES = [ROOT / "README.md", ROOT / "sandbox" / "README.md", ROOT / "agent" / "README.md"]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def unfenced(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def prose(text: str) -> str:
    """The text outside fenced code blocks and inline code (a link shown as code is not a link)."""
    return re.sub(r"`[^`\n]*`", "", unfenced(text))


def slug(heading: str) -> str:
    """GitHub's (and MkDocs' default) anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    heading = re.sub(r"`", "", heading.strip().lower())
    heading = re.sub(r"[^\w\- ]", "", heading)
    return heading.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    for line in unfenced(path.read_text(encoding="utf-8")).splitlines():
        if heading := re.match(r"#{1,6} (.+)", line):
            name = slug(heading.group(1))
            number = 1
            while name in found:  # GitHub numbers a repeated heading: name-1, name-2
                name = f"{slug(heading.group(1))}-{number}"
                number += 1
            found.add(name)
    return found


def relative_links(path: Path) -> list[str]:
    return [t for t in LINK.findall(prose(path.read_text(encoding="utf-8"))) if not re.match(r"[a-z]+:", t)]


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_reaches_a_file_and_a_heading_that_exist(readme: Path) -> None:
    broken = []
    for target in relative_links(readme):
        file_part, _, anchor = target.partition("#")
        linked = (readme.parent / file_part).resolve() if file_part else readme
        if not linked.exists():
            broken.append(f"{target}: no file {linked.relative_to(ROOT)}")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading with the anchor #{anchor} in {linked.relative_to(ROOT)}")
    assert not broken, f"{readme.relative_to(ROOT)}:\n" + "\n".join(broken)


def test_the_front_door_stays_short() -> None:
    """README.md is what the project is, the two commands, the instructor's day and where to read on; the reference
    is in docs/ (issue 18: 644 lines had buried the front door)."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= 200, f"README.md has {lines} lines: move reference into docs/"


def test_the_reference_builds_with_mkdocs_strict(tmp_path: Path) -> None:
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    assert mkdocs, "mkdocs is in the dev extra: make setup"
    run = subprocess.run(
        [mkdocs, "build", "--strict", "--quiet", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "site" / "index.html").exists()
