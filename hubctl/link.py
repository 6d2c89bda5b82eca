"""nbgitpuller links (and their QR codes) that open the workshop's notebooks on the hub."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO
from urllib.parse import quote, urlencode

import segno

from hubctl.errors import BadInput


def repo_dir(repo: str) -> str:
    # nbgitpuller's default target folder: the repo URL's last segment (it keeps a '.git' suffix).
    return repo.rstrip("/").split("/")[-1]


def nbgitpuller_link(hub_url: str, repo: str, branch: str | None = None, notebook: str | None = None) -> str:
    if notebook is not None and (notebook.startswith("/") or ".." in notebook.split("/")):
        raise BadInput(
            f"notebook: {notebook!r} must be a path inside the repository", "e.g. 'intro/01-data.ipynb'"
        )
    query: list[tuple[str, str]] = [("repo", repo)]
    if branch:
        query.append(("branch", branch))
    query.append(("urlpath", f"lab/tree/{repo_dir(repo)}/{notebook or ''}"))
    return f"{hub_url.rstrip('/')}/hub/user-redirect/git-pull?{urlencode(query, quote_via=quote, safe='')}"


def print_qr(url: str, out: TextIO) -> None:
    segno.make(url, error="m").terminal(out=out, compact=True)


def save_png(url: str, path: Path) -> None:
    if path.suffix.lower() != ".png":
        raise BadInput(f"--png: {str(path)!r} does not end in .png", "e.g. --png link.png")
    # Large modules and a wide quiet zone so it scans from the back of a room.
    segno.make(url, error="m").save(str(path), scale=12, border=4)
