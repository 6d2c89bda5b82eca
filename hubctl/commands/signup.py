"""`hubctl signup open/close/status`: the walk-in sign-up door at HUB/hub/signup."""

from __future__ import annotations

import sys
import urllib.parse
from pathlib import Path
from typing import Annotated, Any

import typer
from hubagent import rules
from rich.text import Text

from hubctl import link as links
from hubctl import operations, output, times, views
from hubctl.commands.common import NoWait, Timeout, handle_errors, invocation
from hubctl.errors import BadInput
from hubctl.invocation import Invocation
from hubctl.operations import DEFAULT_TIMEOUT_S

app = typer.Typer(
    no_args_is_help=True, help="The walk-in sign-up door: participants make their own accounts."
)

DEFAULT_OPEN = "+2h"

Png = Annotated[
    Path | None,
    typer.Option("--png", help="Also write the QR code to a PNG file (for a slide).", dir_okay=False),
]


def door_link(door: dict[str, Any]) -> str:
    """The sign-up page with the code filled in: what the QR code holds."""
    return f"{door['url']}?{urllib.parse.urlencode({'code': door['code']})}"


def _door(inv: Invocation) -> dict[str, Any]:
    answer = inv.client().get("/status")
    door = answer.get("signup") if isinstance(answer, dict) else None
    return door if isinstance(door, dict) else {"open": False}


def _show(inv: Invocation, door: dict[str, Any], png: Path | None, op: dict[str, Any] | None = None) -> None:
    is_open = bool(door.get("open") and door.get("url") and door.get("code"))
    link = door_link(door) if is_open else None
    if png is not None and link:
        links.save_png(link, png)
    if inv.json:
        output.print_json({**door, "link": link, **({"operation": op} if op else {})})
        return
    out = output.stdout()
    if not is_open:
        pending = " (recorded: the hub applies it at its next start)" if door.get("pending") else ""
        walk_ins = views.shown(door.get("walk_ins", 0))
        out.print(Text(f"the sign-up door is closed{pending}; {walk_ins} walk-in(s) on the roster"))
        return
    until = times.spoken(times.parse_until(str(door["until"]), "UTC"), inv.timezone())
    pending = " once the hub runs (recorded; applied at its next start)" if door.get("pending") else ""
    out.print(Text(f"the sign-up door is open until {until}{pending}"))
    out.print(Text("code: ") + output.safe(door["code"]))
    sys.stdout.flush()
    sys.stdout.write(f"{views.shown(link)}\n")
    links.print_qr(str(link), sys.stdout)
    if png is not None:
        output.stderr().print(f"QR code written to {png}")


@app.command("open")
@handle_errors
def open_door(
    ctx: typer.Context,
    until: Annotated[
        str,
        typer.Option(
            "--until",
            metavar="UNTIL",
            help="When the door closes: '+2h' (default), '16:00' (today, in schedule.timezone), 'tomorrow 09:30', ISO 8601.",
        ),
    ] = DEFAULT_OPEN,
    code: Annotated[
        str | None,
        typer.Option("--code", help="The workshop code (default: the door's current one, or a new one)."),
    ] = None,
    png: Png = None,
    no_wait: NoWait = False,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
) -> None:
    """Open the sign-up door until UNTIL; prints its link, the code and a QR code for the first slide."""
    inv = invocation(ctx)
    times.parse_until(until, "UTC")  # a typo is refused before anything is asked of the API
    if code is not None:
        try:
            rules.check_signup_code(code, "--code")
        except rules.RuleError as err:
            raise BadInput(str(err), "e.g. --code HJ7K-M3PX, or leave it out for a generated one") from None
    when = times.parse_until(until, inv.timezone())
    body: dict[str, Any] = {"open": True, "until": times.iso(when), **({"code": code} if code else {})}
    accepted = inv.client().post("/signup", body)
    op_id = str(accepted["operation_id"])
    if no_wait:
        operations_note(inv, op_id)
        return
    op = operations.follow_quietly(inv, op_id, timeout)
    _show(inv, _door(inv), png, op)


@app.command("close")
@handle_errors
def close_door(ctx: typer.Context, no_wait: NoWait = False, timeout: Timeout = DEFAULT_TIMEOUT_S) -> None:
    """Close the sign-up door now (it also closes by itself at its time)."""
    operations.submit(invocation(ctx), "POST", "/signup", {"open": False}, no_wait=no_wait, timeout_s=timeout)


@app.command("status")
@handle_errors
def status(ctx: typer.Context, png: Png = None) -> None:
    """Whether the door is open, until when, its code, link and QR code."""
    inv = invocation(ctx)
    _show(inv, _door(inv), png)


def operations_note(inv: Invocation, op_id: str) -> None:
    if inv.json:
        output.print_json({"operation_id": op_id})
    else:
        output.stdout().print(
            f"operation {op_id} queued; then: hubctl signup status (the link, the code, the QR code)"
        )
