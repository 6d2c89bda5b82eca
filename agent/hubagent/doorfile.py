"""The sign-up door's two root-only files, written by hubagent and read by the door in the hub (door.py).

* The door file (``/etc/workshop-hub/signup.json``, 0600): whether the door is open, until when, the
  workshop code's hash (rules.CODE_HASH, never the code) and the boot it was opened in. A door opened
  before the instance last booted reads as closed: after a stop and start it stays shut until the
  reconcile has created the roster's users and opened it again, so no walk-in claims a name the roster
  is about to create.
* The spool (``/var/lib/workshop-hub/signups.jsonl``, 0600): one JSON line per walk-in, after a header
  line naming the spool. The control plane reads it through ``hubagent signup list --after N`` and keeps
  its place (spool id and count), so a walk-in reaches the roster once, and one removed later never
  comes back.

Standard library only: hubagent runs on Ubuntu's python3, the door in the hub's Python.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubagent import rules


@dataclass(frozen=True)
class Door:
    open: bool
    until: dt.datetime | None = None
    code_hash: str | None = None
    boot_id: str = ""

    def is_open(self, now: dt.datetime, boot_id: str) -> bool:
        return (
            self.open
            and self.until is not None
            and now < self.until
            and bool(self.code_hash)
            and self.boot_id == boot_id
        )


CLOSED = Door(open=False)


def parse_time(text: str) -> dt.datetime:
    # Python 3.10's fromisoformat does not take a trailing Z
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return moment


def boot_id(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except OSError:
        return ""


def read_door(path: Path) -> Door:
    """The door as the file says; a missing or unreadable file is a closed door."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        if not body.get("open"):
            return CLOSED
        code_hash = rules.CODE_HASH.check("code_hash", body.get("code_hash"))
        return Door(True, parse_time(str(body["until"])), code_hash, str(body.get("boot_id", "")))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return CLOSED


def write_door(path: Path, body: dict[str, Any]) -> None:
    """Replace the door file at once (a reader sees the old file or the new one), root-only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(body, out)
        out.write("\n")
    temporary.replace(path)


@dataclass(frozen=True)
class Signup:
    seq: int  # 1 for the spool's first walk-in
    username: str
    signed_up_at: str


def append_signup(path: Path, username: str, at: dt.datetime) -> None:
    """Add a walk-in to the spool (created root-only, with its header, on first use)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        fcntl.flock(out, fcntl.LOCK_EX)
        if out.tell() == 0:
            header = {"spool": secrets.token_hex(8), "created_at": at.isoformat()}
            out.write(json.dumps(header) + "\n")
        out.write(json.dumps({"username": username, "signed_up_at": at.isoformat()}) + "\n")


def read_signups(path: Path) -> tuple[str, list[Signup]]:
    """(the spool's id, every walk-in in it, oldest first); ("", []) when nobody signed up yet."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return "", []
    if not lines:
        return "", []
    spool = str(json.loads(lines[0])["spool"])
    found = []
    for seq, line in enumerate(lines[1:], start=1):
        entry = json.loads(line)
        found.append(Signup(seq, str(entry["username"]), str(entry["signed_up_at"])))
    return spool, found
