"""How hubctl shows things: Rich tables for people, one JSON document for scripts, and the progress
view of a running operation (polled from GET /operations/{id}).

Every text that came from the API (user names, sources, errors, steps, results) or from a registration
file reaches the terminal through ``shown``/``safe``: as plain Text (Rich markup such as [red] or
[link=...] stays literal), with control characters and escape sequences made visible (ESC as \x1b), so a
participant's registration or a repository's git output can never colour, move or retitle the
instructor's terminal."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from hubctl import views
from hubctl.errors import HubctlError, OperationFailed

DONE = ("succeeded", "failed")
_MARK = {
    "succeeded": "[green]✔[/]",
    "failed": "[red]✘[/]",
    "running": "",
    "queued": "[dim]·[/]",
    "skipped": "[dim]-[/]",
}


def safe(value: object, style: str = "", *, newlines: bool = False) -> Text:
    """``shown(value)`` as Rich Text: never read as markup."""
    return Text(views.shown(value, newlines=newlines), style=style)


def stdout() -> Console:
    # Built per call: tests swap sys.stdout, and a pipe gets no colours.
    return Console(file=sys.stdout, highlight=False, soft_wrap=True)


def stderr() -> Console:
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def print_error(err: HubctlError) -> None:
    console = stderr()
    console.print(Text("error: ", style="bold red") + safe(err.message, newlines=True))
    for line in err.details:
        console.print(Text("  ") + safe(line, newlines=True))
    if err.hint:
        console.print(Text("hint: ", style="bold") + safe(err.hint))


def _cell(value: Any) -> Text:
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    if value is None:
        return Text("-")
    if isinstance(value, dict | list):
        return safe(json.dumps(value, default=str))
    return safe(value)


def rows(title: str, items: list[dict[str, Any]], tz: dt.tzinfo = dt.UTC) -> Table:
    """A table of ``items``; times in ``tz`` (the workshop's zone)."""
    columns: list[str] = []
    for item in items:
        columns += [k for k in item if k not in columns]
    table = Table(title=safe(title), title_justify="left")
    for column in columns:
        table.add_column(safe(column), overflow="fold")
    for item in items:
        table.add_row(*(_cell(views.localized(item.get(c), tz)) for c in columns))
    return table


def _steps(op: dict[str, Any]) -> list[dict[str, Any]]:
    steps = op.get("steps") or []
    return [s if isinstance(s, dict) else {"name": str(s)} for s in steps]


def operation_view(op: dict[str, Any], tz: dt.tzinfo = dt.UTC) -> Table:
    state = str(op.get("state", "?"))
    table = Table(
        title=safe(f"{op.get('kind', 'operation')} {op.get('id', '')}: {state}"),
        title_justify="left",
        box=None,
        show_header=False,
    )
    table.add_column(width=2)
    table.add_column()
    table.add_column(style="dim", no_wrap=True)
    table.add_column(style="dim")
    for step in _steps(op):
        step_state = str(step.get("state", ""))
        mark: Any = (
            Spinner("dots") if step_state == "running" else Text.from_markup(_MARK.get(step_state, " "))
        )
        detail = step.get("error") or step.get("detail") or ""
        when = views.step_time(step, tz)
        table.add_row(mark, safe(step.get("name", "?")), Text(when), safe(detail))
    if not _steps(op) and state not in DONE:
        table.add_row(Spinner("dots"), safe(state), Text(""), Text(""))
    return table


def show_operation(op: dict[str, Any], tz: dt.tzinfo = dt.UTC) -> None:
    console = stdout()
    console.print(operation_view(op, tz))
    began, ended = op.get("started_at") or op.get("created_at"), op.get("ended_at")
    if began:
        length = views.duration(views.took(began, ended))
        console.print(
            safe(
                f"asked {views.local(op.get('created_at'), tz, '%a %d %b %H:%M:%S %Z')}"
                + (f", took {length}" if ended and length else ""),
                style="dim",
            )
        )
    if op.get("error"):
        console.print(Text("error: ", style="bold red") + safe(op["error"], newlines=True))
    for key, value in result_lines(op.get("result") or {}, tz):
        console.print(safe(f"{key}: ", style="bold") + safe(value, newlines=True))


# hubagent's bookkeeping fields: the steps above already say them.
_QUIET = {"ok", "action", "changed"}


def result_lines(result: dict[str, Any], tz: dt.tzinfo = dt.UTC) -> list[tuple[str, str]]:
    """An operation's result for people: one line a field, lists joined, empty fields left out, times in
    ``tz`` (the workshop's zone)."""
    lines: list[tuple[str, str]] = []
    for key, value in result.items():
        value = views.localized(value, tz)
        if key in _QUIET or value in (None, "", [], {}):
            continue
        if isinstance(value, dict) and "action" in value:  # a nested hubagent result
            lines.extend((f"{key}.{k}", v) for k, v in result_lines(value, tz))
        elif isinstance(value, list) and value and all(isinstance(i, dict) and "spec" in i for i in value):
            # packages that failed, each with why: one line each
            lines.extend((f"{key} {item['spec']}", str(item.get("error", ""))) for item in value)
        elif isinstance(value, list) and all(isinstance(item, str | int | float) for item in value):
            lines.append((key, ", ".join(str(item) for item in value)))
        elif isinstance(value, dict | list):
            lines.append((key, json.dumps(value, default=str)))
        else:
            lines.append((key, str(value)))
    return lines


def poll_seconds() -> float:
    return float(os.environ.get("HUBCTL_POLL_SECONDS", "2"))


def wait(
    fetch: Callable[[], dict[str, Any]], op_id: str, *, live: bool, timeout_s: float, tz: dt.tzinfo = dt.UTC
) -> dict[str, Any]:
    """Poll until the operation is done; a Rich live view of its steps on a terminal."""
    deadline = time.monotonic() + timeout_s
    op = fetch()
    if live:
        with Live(operation_view(op, tz), console=stderr(), refresh_per_second=8, transient=False) as view:
            while str(op.get("state")) not in DONE:
                _pause(deadline, op_id)
                op = fetch()
                view.update(operation_view(op, tz))
    else:
        while str(op.get("state")) not in DONE:
            _pause(deadline, op_id)
            op = fetch()
    return op


def _pause(deadline: float, op_id: str) -> None:
    if time.monotonic() > deadline:
        raise HubctlError(
            f"operation {op_id} did not finish in time; it goes on running",
            f"follow it with: hubctl ops show {op_id} --wait",
            operation_id=op_id,
        )
    time.sleep(poll_seconds())


def failed(op: dict[str, Any]) -> OperationFailed:
    return OperationFailed(
        f"operation {op.get('id')} ({op.get('kind', '')}) failed: {op.get('error') or 'no error given'}",
        f"see its steps: hubctl ops show {op.get('id')}",
        operation_id=str(op.get("id")),
    )


def show_registrations(registrations: list[Any], *, json_output: bool) -> None:
    """--dry-run: each row's original value and the hub user name it becomes; a row that registered the
    same person again is shown merged into the first."""
    if json_output:
        print_json(
            [
                {
                    "line": r.line,
                    "original": r.original,
                    "username": r.username,
                    "duplicates": [{"line": line, "original": original} for line, original in r.duplicates],
                }
                for r in registrations
            ]
        )
        return
    merged = sum(len(r.duplicates) for r in registrations)
    title = f"{len(registrations)} users (nothing sent)"
    if merged:
        title += f"; {merged} row(s) registered someone again and are merged"
    table = Table(title=title, title_justify="left", box=None)
    table.add_column("line", justify="right", style="dim")
    table.add_column("registered as")
    table.add_column("hub user name", style="bold")
    rows = [(r.line, r.original if r.changed else "", r.username) for r in registrations]
    rows += [
        (line, original, f"(same as line {r.line}: {r.username})")
        for r in registrations
        for line, original in r.duplicates
    ]
    for line, original, name in sorted(rows, key=lambda row: row[0]):
        table.add_row(str(line or ""), safe(original), safe(name))
    stdout().print(table)


def show_status(status: dict[str, Any], month: dict[str, Any] | None = None) -> None:
    """`hubctl status` for people: the hub, its last operations, memory and disk in use now (hubagent's
    health), and with --cost this month's cost so far."""
    health = status.get("hub_health")
    # memory and disk get lines of their own below, not a table row each
    uses = {key: health.get(key) for key in ("memory", "disk")} if isinstance(health, dict) else {}
    if isinstance(health, dict):
        status = {**status, "hub_health": {k: v for k, v in health.items() if k not in uses}}
    console = stdout()
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in views.status_lines(status):
        table.add_row(safe(key), safe(value))
    console.print(table)
    recent = status.get("last_operations")
    if isinstance(recent, list) and recent:
        tz = views.zone((status.get("schedule") or {}).get("timezone"))
        console.print(Text("last operations", style="bold"))
        for op in recent:
            if isinstance(op, dict):
                console.print(safe("  " + views.op_line(op, tz)[:78]))
    for name, use in uses.items():
        line = usage_line(name, use)
        if line is not None:
            console.print(line)
    if month is not None:
        console.print(month_cost_line(month))


def usage_line(name: str, use: Any) -> Text | None:
    """``memory  ███████░░░  3.1 of 7.6 GiB used (41%)`` from hubagent's health ``memory``/``disk``."""
    if not isinstance(use, dict) or "used_percent" not in use:
        return None
    percent = float(use["used_percent"])
    filled = round(percent / 10)
    style = "red" if percent > 85 else "yellow" if percent > 70 else "green"
    gib = 1024**3
    line = Text(f"{name:<7} ", style="bold")
    line.append("█" * filled, style=style)
    line.append("░" * (10 - filled), style="dim")
    line.append(
        f"  {use.get('used_bytes', 0) / gib:.1f} of {use.get('total_bytes', 0) / gib:.1f} GiB used ({percent:.0f}%)"
    )
    return line


def month_cost_line(month: dict[str, Any]) -> Text:
    """``this month  $12.34 so far (41.5 h running, idle $3.10), an estimate`` from hubctl.cost."""
    line = Text("this month ", style="bold")
    if "error" in month:
        return line + Text(f"cost unknown: {month['error']}", style="yellow")
    return line + Text(
        f"${month['total_usd']:.2f} so far ({month['running_hours']:.1f} h running ${month['instance_usd']:.2f}, "
        f"idle ${month['idle_usd']:.2f}; an estimate, prices from the {month['prices']})"
    )
