"""The sandbox's processes, found again after anything: a crash, a SIGKILL, a lost state.json.

Two ways, both needed:

* records: ``up`` writes one file per process group it starts (moto, the hub, the TLS front, the control plane) and
  one for the proxy JupyterHub starts in a group of its own, in ROOT/run/groups/, each with the
  process's start time, so a pid the kernel has since given to another program is never signalled;
  the spawner writes one per participant's server in ROOT/run/servers/ (taken when it carries the mark).
* a mark: every process the sandbox starts carries ``WORKSHOP_HUB_SANDBOX=ROOT`` in its environment,
  and its children inherit it (JupyterHub hands its environment to the proxy; the spawner and the
  agent runner pass it on explicitly). ``marked`` reads /proc/*/environ for it: whatever a crashed run
  left, recorded or not, is found, and another sandbox's processes (another ROOT) never are.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.layout import PROJECT, Layout

MARK = "WORKSHOP_HUB_SANDBOX"
PROC = Path("/proc")


@dataclass(frozen=True)
class Group:
    """A process group: its leader's pid (the group id), and what it is."""

    pgid: int
    what: str


def mark(root: Path) -> dict[str, str]:
    """The environment entry every sandbox process carries."""
    return {MARK: str(root)}


def start_module(args: list[str], log_file: Path, environment: dict[str, str]) -> subprocess.Popen[bytes]:
    """``python -m ARGS`` of the project in a process group of its own, ``environment`` added to ours (the
    mark, so that `down` finds it after a crash), its output appended to ``log_file``."""
    with log_file.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=PROJECT,
            env={**os.environ, **environment},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def start_ticks(pid: int) -> int | None:
    """When the process started (clock ticks since boot), or None when there is no such process."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[19])  # field 22 of stat; fields[0] is field 3


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None


def record(groups_dir: Path, what: str, pid: int) -> None:
    """Note a process group ``up`` started (``pid`` leads it), so ``down`` finds it after a crash."""
    ticks = start_ticks(pid)
    if ticks is None:
        return
    groups_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = groups_dir / f"{what}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": pid, "start_ticks": ticks, "what": what}), encoding="utf-8")
    tmp.replace(path)


def recorded(groups_dir: Path) -> list[Group]:
    """The recorded groups whose leader still runs (the same process: same start time)."""
    found = []
    for path in sorted(groups_dir.glob("*.json")) if groups_dir.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            pid, ticks = int(data["pid"]), int(data["start_ticks"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if start_ticks(pid) == ticks and _pgid(pid) == pid:
            found.append(Group(pid, str(data.get("what") or path.stem)))
    return found


def _command(pid: int) -> str:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return "?"
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    # "node .../configurable-http-proxy ...": name it by its script, not by its interpreter
    for word in words[:3]:
        name = Path(word).name
        if name and not name.startswith(("python", "node", "-")):
            return name
    return Path(words[0]).name if words else "?"


def carries_mark(pid: int, root: Path) -> bool:
    """Whether process ``pid`` carries ROOT's mark (so a pid from a file is ours, not a reused one)."""
    try:
        environ = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return False
    return f"{MARK}={root}".encode() in environ.split(b"\0")


def servers(pid_dir: Path, root: Path) -> list[Group]:
    """The participants' servers the spawner recorded (one pid file each) that still run as ours."""
    found = []
    for path in sorted(pid_dir.glob("*.pid")) if pid_dir.is_dir() else []:
        try:
            pid = int(path.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            continue
        pgid = _pgid(pid)
        if pgid is not None and carries_mark(pid, root):
            found.append(Group(pgid, f"server {path.stem}"))
    return found


def marked(root: Path) -> list[Group]:
    """Every process group with a member that carries ROOT's mark (this process's own excluded)."""
    own = {os.getpid(), os.getpgid(0)}
    groups: dict[int, str] = {}
    for entry in PROC.iterdir() if PROC.is_dir() else []:
        if not entry.name.isdigit() or int(entry.name) in own or not carries_mark(int(entry.name), root):
            continue
        pid = int(entry.name)
        pgid = _pgid(pid)
        if pgid is None or pgid in own:
            continue
        if pgid not in groups or pid == pgid:
            groups[pgid] = _command(pgid if start_ticks(pgid) is not None else pid)
    return [Group(pgid, what) for pgid, what in sorted(groups.items())]


def alive(pgid: int) -> bool:
    """Whether a process group has a member that is not a zombie (a zombie waits for its parent, which
    may be an init that reaps slowly, and has ended all the same)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not (PROC / "self" / "stat").exists():
        return True
    for stat in PROC.glob("[0-9]*/stat"):
        try:
            # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its last ')'
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def stop(pgid: int, timeout_s: float = 15) -> bool:
    """SIGTERM a process group, then SIGKILL what is left after ``timeout_s``; True if it was running."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _reap(pgid)
        if not alive(pgid):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    _reap(pgid)
    return True


def kill(pgid: int) -> None:
    """SIGKILL a whole group at once (what a crash does; the tests use it)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    _reap(pgid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def running(layout: Layout) -> dict[str, Any] | None:
    """The state of a sandbox whose processes all run, or None."""
    state = layout.read_state()
    if not state or not state.get("pids"):
        return None
    pids = state["pids"]
    if all(pids.get(name) and alive(int(pids[name])) for name in ("moto", "hub", "front", "control")):
        return state
    return None
