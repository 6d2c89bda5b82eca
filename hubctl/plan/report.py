"""What ``hubctl plan`` shows: one JSON-ready mapping for scripts; for people, one line per notebook
(cells run and failed, peak, time, CPU) and tables that stay readable in 80 columns."""

from __future__ import annotations

import dataclasses
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text
from workshop_hub.costs import PriceBook

from hubctl.plan.arithmetic import ASSUMPTIONS, GIB, MIB, Measured, Option, Plan, limit_text
from hubctl.views import shown, wrapped


def _mib(value: int) -> float:
    return round(value / MIB, 1)


def _option(option: Option | None) -> dict[str, Any] | None:
    if option is None:
        return None
    data = dataclasses.asdict(option)
    for key in ("per_hour", "per_day", "per_month"):
        data[f"{key}_usd"] = round(data.pop(key), 4 if key == "per_hour" else 2)
    return data


def notebook_dict(m: Measured) -> dict[str, Any]:
    return {
        "name": m.name,
        "measured": m.measured,
        "not_measured": m.not_measured,
        "code_cells": m.code_cells,
        "ran": m.ran,
        "failed": m.failed,
        "peak_mib": _mib(m.peak_bytes),
        "baseline_mib": _mib(m.baseline_bytes),
        "seconds": m.seconds,
        "import_seconds": m.import_seconds,
        "cpu_share": m.cpu_share,
        "disk_mib": _mib(m.disk_bytes),
        "failures": [dataclasses.asdict(f) for f in m.failures],
        "error": m.error,
    }


def as_dict(
    plan: Plan,
    measured: list[Measured],
    book: PriceBook,
    *,
    participants: int,
    open_notebooks: int,
    source: str,
    notes: list[str],
    warning: str | None = None,
) -> dict[str, Any]:
    mem = plan.memory
    return {
        "warning": warning,
        "participants": participants,
        "open_notebooks": open_notebooks,
        "notebooks_source": source,
        "notebooks": [notebook_dict(m) for m in measured],
        "measured_count": sum(1 for m in measured if m.measured),
        "memory": {
            "per_participant_mib": _mib(mem.per_participant),
            "participants_mib": _mib(mem.participants_total),
            "reserved_mib": _mib(mem.reserved),
            "needed_gib": round(mem.needed / GIB, 2),
            "limit": limit_text(mem.limit),
        },
        "vcpus": plan.vcpus,
        "disk_gib": plan.disk_gib,
        "hours": dataclasses.asdict(plan.hours),
        "costs": {k: round(v, 2) for k, v in dataclasses.asdict(plan.costs).items()},
        "prices": {"region": book.region, "source": book.source, "detail": book.detail},
        "x86_64": [_option(o) for o in plan.x86],
        "arm64": [_option(o) for o in plan.arm64],
        "recommended": _option(plan.recommended),
        "assumptions": ASSUMPTIONS,
        "notes": [*plan.hours.notes, *notes],
    }


NAME_WIDTH = 30
HEADER = f"{'notebook':<{NAME_WIDTH}} {'ran':>6} {'failed':>6} {'peak MiB':>8} {'time s':>7} {'CPU':>5} {'MiB out':>7}"


def _name(value: str) -> str:
    text = shown(value)
    return text if len(text) <= NAME_WIDTH else "…" + text[-(NAME_WIDTH - 1) :]


def notebook_line(n: dict[str, Any]) -> str:
    """One notebook in at most 80 columns: cells ran (of its code cells) and failed, peak, time, CPU."""
    name = _name(str(n["name"]))
    if n.get("error"):
        return f"{name:<{NAME_WIDTH}} did not run"
    ran = f"{n['ran']}/{n['code_cells']}"
    cpu = f"{n['cpu_share']:.0%}" if n["measured"] else "-"
    return (
        f"{name:<{NAME_WIDTH}} {ran:>6} {n['failed']:>6} {n['peak_mib']:>8.0f} {n['seconds']:>7.1f} "
        f"{cpu:>5} {n['disk_mib']:>7.1f}"
    )


def notebook_lines(report: dict[str, Any]) -> list[str]:
    """The notebooks' lines, then why each unmeasured one is, then each failure: all within 80 columns."""
    notebooks = report["notebooks"]
    lines = [f"notebooks ({shown(str(report['notebooks_source']))})", HEADER]
    lines += [notebook_line(n) for n in notebooks]
    for n in notebooks:
        if not n["measured"]:
            lines.append(f"not measured: {_name(str(n['name']))}: {shown(str(n['not_measured']))}")
    for n in notebooks:
        for failure in n["failures"]:
            lines.append(f"{_name(str(n['name']))}: cell {failure['cell']}: {shown(str(failure['error']))}")
    return lines


def _options_table(title: str, options: list[dict[str, Any]], recommended: str | None) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for column in ("type", "vCPU", "GiB", "$/hour", "$/day", "$/month"):
        table.add_column(column, justify="left" if column == "type" else "right", no_wrap=True)
    for each in options:
        mark = " ◀" if each["name"] == recommended else ""
        table.add_row(
            each["name"] + mark,
            str(each["vcpu"]),
            f"{each['gib']:g}",
            f"{each['per_hour_usd']:.4f}",
            f"{each['per_day_usd']:.2f}",
            f"{each['per_month_usd']:.2f}",
        )
    return table


def show(report: dict[str, Any], console: Console) -> None:
    if report.get("warning"):
        console.print(Text(report["warning"], style="bold yellow"), soft_wrap=False)
    for line in wrapped(notebook_lines(report)):
        console.print(Text(line), soft_wrap=False)
    console.print(
        Text(f"CPU share: {ASSUMPTIONS['cpu_share']}; a notebook counts as measured when more than its imports "
             "ran and at most half of its code cells failed", style="dim"),
        soft_wrap=False,
    )  # fmt: skip

    mem = report["memory"]
    console.print(
        f"[bold]memory[/]: {mem['per_participant_mib']:.0f} MiB per participant x {report['participants']} "
        f"participants (x headroom) + {mem['reserved_mib']:.0f} MiB hub, proxy and OS = "
        f"[bold]{mem['needed_gib']:.1f} GiB[/]; per-participant limit [bold]{mem['limit']}[/]",
        soft_wrap=False,
    )
    hours = report["hours"]
    month = hours["month"] or "a month"
    console.print(
        f"[bold]CPU[/]: {report['vcpus']} vCPUs   [bold]disk[/]: {report['disk_gib']} GiB   [bold]running[/]: "
        f"{hours['session_hours_month']:.1f} h of sessions in {month} ({hours['workshop_days_month']} workshop "
        f"days), {hours['everyday_hours_month']:.1f} h everyday schedule",
        soft_wrap=False,
    )
    costs = report["costs"]
    console.print(
        f"[bold]idle cost[/]: ${costs['idle_month']:.2f}/month (EBS gp3 ${costs['ebs_month']:.2f}, "
        f"Elastic IP ${costs['ip_month']:.2f}), paid whether the hub runs or not",
        soft_wrap=False,
    )
    recommended = (report["recommended"] or {}).get("name")
    for arch in ("x86_64", "arm64"):
        if report[arch]:
            console.print(_options_table(f"cheapest {arch} types that fit", report[arch], recommended))
        else:
            console.print(f"no {arch} type in the table has {mem['needed_gib']:.1f} GiB", soft_wrap=False)
    prices = report["prices"]
    console.print(f"[dim]prices: {prices['region']}, {prices['detail']}[/]", soft_wrap=False)
    if recommended:
        console.print(
            f"[bold]recommended session type[/]: {recommended} (hub.instance_type's architecture; "
            "`--apply` records it for sessions with `instance_type: auto`, and the memory limit)",
            soft_wrap=False,
        )
    for note in report["notes"]:
        console.print(Text(f"note: {note}", style="dim"), soft_wrap=False)
