"""``hubctl plan --apply``: write the plan into workshop.yaml by editing its text, so every comment and
the order of the instructor's settings stay as they were.

Two edits: ``hub.memory_limit`` (replaced in place, or added at the end of the ``hub:`` block) and a
top-level ``plan:`` block with a comment saying when and from what (replaced when there is one). The
result is checked with the settings model before the file is replaced; nothing is written otherwise.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml
from workshop_hub import config as workshop_config

PLAN_COMMENT = "# Written by `hubctl plan --apply`"
PLAN_COMMENT_END = "use plan.instance_type."
_TOP = re.compile(r"^\S")


@dataclass(frozen=True)
class Applied:
    instance_type: str
    memory_limit: str
    participants: int
    planned_at: str
    source: str
    monthly_usd: float | None


def _block(lines: list[str], key: str) -> tuple[int, int] | None:
    """[start, end) of the top-level mapping ``key:`` (its own line to its last indented line)."""
    start = next((i for i, line in enumerate(lines) if re.match(rf"^{re.escape(key)}:(\s|$)", line)), None)
    if start is None:
        return None
    end = start + 1
    last = start + 1
    while end < len(lines) and not _TOP.match(lines[end]):
        if lines[end].strip() and not lines[end].lstrip().startswith("#"):
            last = end + 1
        end += 1
    return start, last


def _set_memory_limit(lines: list[str], value: str, note: str) -> list[str]:
    entry = f"  memory_limit: {value}    # {note}\n"
    found = _block(lines, "hub")
    if found is None:
        return [*lines, *([] if not lines or lines[-1].endswith("\n") else ["\n"]), "hub:\n", entry]
    start, end = found
    for i in range(start + 1, end):
        if re.match(r"^\s+memory_limit:", lines[i]):
            indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
            return [*lines[:i], indent + entry.lstrip(), *lines[i + 1 :]]
    indent = next((ln[: len(ln) - len(ln.lstrip())] for ln in lines[start + 1 : end] if ln.strip()), "  ")
    return [*lines[:end], indent + entry.lstrip(), *lines[end:]]


def _set_plan(lines: list[str], applied: Applied) -> list[str]:
    found = _block(lines, "plan")
    if found is not None:
        start, end = found
        # Our own two comment lines above it go too (the instructor's comments stay).
        if start > 0 and lines[start - 1].rstrip().endswith(PLAN_COMMENT_END):
            start -= 1
        if start > 0 and lines[start - 1].startswith(PLAN_COMMENT):
            start -= 1
        lines = [*lines[:start], *lines[end:]]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    block = [
        "\n",
        f"{PLAN_COMMENT} on {applied.planned_at} from {applied.source}:\n",
        f"# {applied.participants} participants; sessions with `instance_type: auto` {PLAN_COMMENT_END}\n",
        "plan:\n",
        f"  instance_type: {applied.instance_type}\n",
        f"  participants: {applied.participants}\n",
        f"  planned_at: {json.dumps(applied.planned_at)}\n",
        f"  source: {json.dumps(applied.source)}\n",
    ]
    if applied.monthly_usd is not None:
        block.append(f"  monthly_usd: {applied.monthly_usd:.2f}\n")
    return [*lines, *block]


def edited(text: str, applied: Applied) -> str:
    lines = text.splitlines(keepends=True)
    note = f"from `hubctl plan` on {applied.planned_at[:10]}"
    lines = _set_memory_limit(lines, applied.memory_limit, note)
    lines = _set_plan(lines, applied)
    return "".join(lines)


def apply(path: Path, applied: Applied) -> workshop_config.WorkshopConfig:
    """Edit ``path`` in place; returns the settings as they now read. Raises ConfigError, writing nothing,
    when the edited file would not be valid."""
    text = path.read_text(encoding="utf-8")
    new = edited(text, applied)
    checked = workshop_config.parse(yaml.safe_load(new), str(path))
    if checked.plan is None or checked.plan.instance_type != applied.instance_type:
        raise workshop_config.ConfigError(f"{path}: the plan block could not be written")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(new)
        Path(tmp).chmod(path.stat().st_mode & 0o777)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return checked
