"""What ``hubctl plan`` shows: one JSON-ready mapping for scripts, Rich tables and bars for people."""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text
from workshop_hub.costs import PriceBook

from hubctl.plan.arithmetic import ASSUMPTIONS, GIB, MIB, Measured, Option, Plan, limit_text

BAR_WIDTH = 20


def _mib(value: int) -> float:
    return round(value / MIB, 1)


def _option(option: Option | None) -> dict[str, Any] | None:
    if option is None:
        return None
    data = dataclasses.asdict(option)
    for key in ("per_hour", "per_day", "per_month"):
        data[f"{key}_usd"] = round(data.pop(key), 4 if key == "per_hour" else 2)
    return data


def as_dict(
    plan: Plan,
    measured: list[Measured],
    book: PriceBook,
    *,
    participants: int,
    open_notebooks: int,
    source: str,
    notes: list[str],
) -> dict[str, Any]:
    mem = plan.memory
    return {
        "participants": participants,
        "open_notebooks": open_notebooks,
        "notebooks_source": source,
        "notebooks": [
            {
                "name": m.name,
                "ok": m.ok,
                "peak_mib": _mib(m.peak_bytes),
                "baseline_mib": _mib(m.baseline_bytes),
                "seconds": m.seconds,
                "cpu_share": m.cpu_share,
                "disk_mib": _mib(m.disk_bytes),
                "error": m.error,
                "cell": m.cell,
            }
            for m in measured
        ],
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


def _bar(value: float, biggest: float) -> str:
    filled = round(BAR_WIDTH * value / biggest) if biggest > 0 else 0
    return "█" * filled + "·" * (BAR_WIDTH - filled)


def _options_table(title: str, options: list[dict[str, Any]], recommended: str | None) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("type", "vCPU", "GiB", "$/hour", "$/workshop day", "$/month"):
        table.add_column(column, justify="left" if column == "type" else "right")
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
    notebooks = report["notebooks"]
    biggest = max((n["peak_mib"] for n in notebooks if n["ok"]), default=0.0)
    table = Table(title=f"notebooks ({report['notebooks_source']})", title_justify="left")
    longest = max((len(n["name"]) for n in notebooks), default=8)
    table.add_column("notebook", no_wrap=True, overflow="ellipsis", min_width=min(40, longest))
    table.add_column("peak MiB", justify="right")
    table.add_column("", no_wrap=True, width=BAR_WIDTH)
    for column in ("seconds", "CPU", "MiB out"):
        table.add_column(column, justify="right")
    for n in notebooks:
        if n["ok"]:
            table.add_row(
                n["name"], f"{n['peak_mib']:.0f}", _bar(n["peak_mib"], biggest), f"{n['seconds']:.1f}",
                f"{n['cpu_share']:.0%}", f"{n['disk_mib']:.1f}",
            )  # fmt: skip
        else:
            table.add_row(
                Text(n["name"], style="red"), "-", Text("failed", style="red"), f"{n['seconds']:.1f}"
            )
    console.print(table)
    for n in notebooks:
        if not n["ok"]:
            console.print(Text(f"{n['name']}: failed in cell {n['cell']}: {n['error']}", style="red"))

    mem = report["memory"]
    console.print(
        f"[bold]memory[/]: {mem['per_participant_mib']:.0f} MiB per participant x {report['participants']} "
        f"participants (x headroom) + {mem['reserved_mib']:.0f} MiB hub, proxy and OS = "
        f"[bold]{mem['needed_gib']:.1f} GiB[/]; per-participant limit [bold]{mem['limit']}[/]"
    )
    hours = report["hours"]
    month = hours["month"] or "a month"
    console.print(
        f"[bold]CPU[/]: {report['vcpus']} vCPUs   [bold]disk[/]: {report['disk_gib']} GiB   [bold]running[/]: {hours['session_hours_month']:.1f} h of "
        f"sessions in {month} ({hours['workshop_days_month']} workshop days), "
        f"{hours['everyday_hours_month']:.1f} h everyday schedule"
    )
    costs = report["costs"]
    console.print(
        f"[bold]idle cost[/]: ${costs['idle_month']:.2f}/month (EBS gp3 ${costs['ebs_month']:.2f}, "
        f"Elastic IP ${costs['ip_month']:.2f}), paid whether the hub runs or not"
    )
    recommended = (report["recommended"] or {}).get("name")
    for arch in ("x86_64", "arm64"):
        if report[arch]:
            console.print(_options_table(f"cheapest {arch} types that fit", report[arch], recommended))
        else:
            console.print(f"no {arch} type in the table has {mem['needed_gib']:.1f} GiB")
    prices = report["prices"]
    console.print(f"[dim]prices: {prices['region']}, {prices['detail']}[/]")
    if recommended:
        console.print(
            f"[bold]recommended session type[/]: {recommended} (hub.instance_type's architecture; "
            "`--apply` records it for sessions with `instance_type: auto`, and the memory limit)"
        )
    for note in report["notes"]:
        console.print(f"[dim]note: {note}[/]")
