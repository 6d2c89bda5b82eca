"""Readable forms of what the API answers: times in the workshop's time zone, sizes in GiB, short ids.

Pure functions from JSON to lines of text, so tables of inputs test them; hubctl.output prints them.
"""

from __future__ import annotations

import datetime as dt
import re
import textwrap
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

GIB = 1024**3
MIB = 1024**2


def shown(value: object, *, newlines: bool = False) -> str:
    """``value`` as text a terminal shows as it is: each character that is not printable (C0/C1
    controls incl. ESC and NUL, DEL, line and paragraph separators, invisible format characters such
    as U+202E) written as its escape; ``newlines`` keeps line breaks (multi-line errors). The one rule
    for everything hubctl prints that came from the API, the hub or a notebook."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() or (newlines and char == "\n") else repr(char)[1:-1] for char in text
    )


def wrapped(lines: list[str], width: int = 80) -> list[str]:
    """Each line cut to ``width`` columns at spaces; a continuation keeps the line's indent, two more."""
    out: list[str] = []
    for line in lines:
        if len(line) <= width:
            out.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip()) + 2)
        out += textwrap.wrap(line, width, subsequent_indent=indent, break_on_hyphens=False) or [""]
    return out


_OP_ID = re.compile(r"^op-[0-9T]+-(?P<short>[0-9a-f]+)$")


def zone(name: object) -> dt.tzinfo:
    if isinstance(name, str) and name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return dt.UTC


def parse(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def local(value: object, tz: dt.tzinfo, fmt: str = "%a %d %b %H:%M") -> str:
    """An ISO time as the workshop's local time ('Thu 03 Dec 22:00'); '-' when absent."""
    parsed = parse(value)
    return parsed.astimezone(tz).strftime(fmt) if parsed else "-"


_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def localized(value: object, tz: dt.tzinfo, fmt: str = "%a %d %b %H:%M %Z") -> object:
    """An ISO 8601 time (what the API sends, in UTC) as the workshop's local time with its zone's name;
    any other value as it is."""
    if isinstance(value, str) and _ISO_TIME.match(value):
        return local(value, tz, fmt)
    return value


def gib(value: object) -> str:
    if not isinstance(value, int | float):
        return "-"
    return f"{value / GIB:.1f} GiB"


def duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return ""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"
    return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:02.0f} min"


def took(start: object, end: object) -> float | None:
    began, ended = parse(start), parse(end)
    return (ended - began).total_seconds() if began and ended else None


def short_id(op_id: str) -> str:
    """The random tail of an operation id ('op-20261203T081500123-a1b2c3' -> 'a1b2c3')."""
    match = _OP_ID.match(op_id)
    return match["short"] if match else op_id


def matches(op_id: str, wanted: str) -> bool:
    return op_id == wanted or short_id(op_id) == wanted


# --- ops list -------------------------------------------------------------------------------------

WIDTH = 80
# The columns of `ops list`: short id, local start, kind, state, duration; the error takes the rest.
COLUMNS = (("id", 6), ("when", 12), ("kind", 19), ("state", 9), ("took", 11))


def _column(text: str, width: int, right: bool = False) -> str:
    text = shown(text)
    if len(text) > width:
        text = text[: width - 1] + "…"
    return f"{text:>{width}}" if right else f"{text:<{width}}"


def op_line(op: dict[str, Any], tz: dt.tzinfo) -> str:
    """One operation in at most 80 columns: short id, local start, kind, state, duration, error; each
    column as wide as its longest value (the longest kind: users-set-passwords), cut with … beyond."""
    when = local(op.get("created_at"), tz, "%d %b %H:%M")
    length = duration(took(op.get("started_at") or op.get("created_at"), op.get("ended_at")))
    values = (
        short_id(str(op.get("id", "?"))),
        when,
        str(op.get("kind", "?")),
        str(op.get("state", "?")),
        length,
    )
    line = " ".join(
        _column(value, width, right=name == "took")
        for value, (name, width) in zip(values, COLUMNS, strict=True)
    )
    error = shown(str(op.get("error") or ""))
    if error:
        room = WIDTH - len(line) - 2
        line += "  " + (error if len(error) <= room else error[: max(room - 1, 0)] + "…")
    return line[:WIDTH].rstrip()


# --- ops show: step times -------------------------------------------------------------------------


def step_time(step: dict[str, Any], tz: dt.tzinfo) -> str:
    """'08:15:02  12 s' for a finished step, '08:15:02' for a running one."""
    start = local(step.get("started_at"), tz, "%H:%M:%S")
    if start == "-":
        return ""
    length = duration(took(step.get("started_at"), step.get("ended_at")))
    return f"{start}  {length}".rstrip()


# --- status ---------------------------------------------------------------------------------------


def status_lines(status: dict[str, Any]) -> list[tuple[str, str]]:
    """What an instructor reads in `hubctl status`, in the schedule's time zone. Fields the API does not
    send are left out, so an older or newer API never breaks the view."""
    schedule = status.get("schedule") if isinstance(status.get("schedule"), dict) else {}
    tz_name = str(status.get("timezone") or (schedule or {}).get("timezone") or "UTC")
    tz = zone(tz_name)
    lines: list[tuple[str, str]] = []
    instance = status.get("instance") if isinstance(status.get("instance"), dict) else {}
    if instance:
        text = f"{instance.get('state', '?')}, {instance.get('type', '?')}"
        everyday = status.get("everyday_instance_type")
        if everyday and everyday != instance.get("type"):
            text += f" (everyday size {everyday})"
        lines.append(("hub", text))
        if instance.get("id"):
            lines.append(
                (
                    "instance",
                    str(instance["id"]) + (f", {instance['public_ip']}" if instance.get("public_ip") else ""),
                )
            )
    if status.get("hub_url"):
        lines.append(("url", str(status["hub_url"])))
    reach = status.get("hub_address")
    if isinstance(reach, dict) and reach.get("detail"):
        lines.append(("address", ("" if reach.get("ok") else "PROBLEM: ") + str(reach["detail"])))
    health = status.get("hub_health")
    if isinstance(health, dict):
        lines.append(("health", _health(health)))
    elif instance and instance.get("state") != "running":
        lines.append(("health", "not checked (the hub is not running)"))
    if status.get("volume_gib") is not None:
        disk = f"{status['volume_gib']} GiB"
        if isinstance(health, dict) and isinstance(health.get("disk_free_bytes"), int | float):
            disk += f", {gib(health['disk_free_bytes'])} free"
        lines.append(("volume", disk))
    lines.append(("time zone", tz_name))
    lines += _next(status, schedule or {}, tz)
    pending = status.get("pending")
    if pending:
        lines.append(("at next start", _pending(pending)))
    failed = [f for f in status.get("packages_failed") or [] if isinstance(f, dict)]
    for package in failed:
        lines.append(("package failed", _failed_package(package, tz)))
    if failed:
        lines.append(
            ("", "never tried again unless asked for again; hubctl packages remove SPEC forgets one")
        )
    running = status.get("running")
    if isinstance(running, list) and running:
        lines.append(("running", ", ".join(_operation(op) for op in running)))
    elif status.get("operation_in_progress"):
        lines.append(("running", _operation(status["operation_in_progress"])))
    waiting = status.get("waiting", status.get("operations_waiting"))
    if isinstance(waiting, list) and waiting:
        lines.append(("waiting", ", ".join(_operation(w) for w in waiting)))
    return lines


def _health(health: dict[str, Any]) -> str:
    if not health.get("hub_ok"):
        return "the hub does not answer" + (f": {health['error']}" if health.get("error") else "")
    parts = [f"hub answers (JupyterHub {health.get('hub_version', '?')}"]
    if health.get("tljh_version") not in (None, "", "unknown"):
        parts[0] += f", TLJH {health['tljh_version']}"
    parts[0] += ")"
    if isinstance(health.get("memory_available_bytes"), int | float):
        parts.append(f"{gib(health['memory_available_bytes'])} memory free")
    if health.get("installed") is False:
        parts.append("installation not finished")
    return ", ".join(parts)


def _next(status: dict[str, Any], schedule: dict[str, Any], tz: dt.tzinfo) -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = []
    keep_awake = parse(status.get("keep_awake_until"))
    now = dt.datetime.now(dt.UTC)
    if keep_awake and keep_awake > now:
        lines.append(("keep-awake", f"until {local(status['keep_awake_until'], tz)} (the night stop waits)"))
    next_stop = status.get("next_stop")
    if isinstance(next_stop, dict) and next_stop.get("at"):
        why = f" ({next_stop['why']})" if next_stop.get("why") else ""
        lines.append(("next stop", f"{local(next_stop['at'], tz)}{why}"))
    upcoming = schedule.get("next") if isinstance(schedule.get("next"), list) else []
    for item in upcoming or []:
        if not isinstance(item, dict):
            continue
        name = str(item.get("name", "?")).replace("-", " ")
        when = local(item.get("at"), tz)
        fire = parse(item.get("at"))
        if "stop" in name and keep_awake and fire and fire < keep_awake:
            when += " (skipped: keep-awake)"
        lines.append((f"next {name}", when))
    return lines


def _failed_package(package: dict[str, Any], tz: dt.tzinfo) -> str:
    """'definitely-not-a-real-pkg (pip, Thu 03 Dec 22:15): No matching distribution found ...'"""
    error = shown(str(package.get("error") or "failed"))
    error = error if len(error) <= 200 else error[:199] + "…"
    when = f", {local(package['at'], tz)}" if package.get("at") else ""
    return f"{shown(str(package.get('spec', '?')))} ({package.get('manager', 'pip')}{when}): {error}"


_PENDING = {"users": "users to create", "packages": "packages to install", "filesystem": "the disk to grow"}


def _pending(pending: object) -> str:
    """What waits for the next start: the domain's markers ("users", "data:NAME", ...) in words."""
    if isinstance(pending, dict):
        items = [
            f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in pending.items() if v
        ]
    elif isinstance(pending, list):
        items = [
            f"data repo {str(p).split(':', 1)[1]}"
            if str(p).startswith("data:")
            else _PENDING.get(str(p), str(p))
            for p in pending
        ]
    else:
        items = [str(pending)]
    return ", ".join(items)


def _operation(op: object) -> str:
    if isinstance(op, dict):
        text = f"{op.get('kind', '?')} {short_id(str(op.get('id', '?')))}"
        return text + (f" ({op['state']})" if op.get("state") else "")
    return short_id(str(op))
