"""`hubctl ops list|show`: operations (every change is one)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from hubctl import operations, output, views
from hubctl.commands.common import Timeout, handle_errors, invocation
from hubctl.operations import DEFAULT_TIMEOUT_S

app = typer.Typer(help="Operations (every change is one).", no_args_is_help=True)


@app.command("list")
@handle_errors
def list_operations(ctx: typer.Context) -> None:
    """Recent operations, newest first, one line each (short id, local time, kind, state, duration, error)."""
    inv = invocation(ctx)
    ops = operations.recent(inv)
    if inv.json:
        output.print_json({"operations": ops})
        return
    if not ops:
        output.stdout().print("no operations yet")
        return
    tz = inv.zone()
    for op in ops:
        sys.stdout.write(views.shown(views.op_line(op, tz)) + "\n")


@app.command("show")
@handle_errors
def show(
    ctx: typer.Context,
    op_id: Annotated[
        str, typer.Argument(metavar="ID", help="The operation id, or its short id from ops list.")
    ],
    wait: Annotated[bool, typer.Option("--wait", help="Follow it until it ends.")] = False,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
) -> None:
    """Show an operation: state, steps with times, error. Exit code 1 if it failed."""
    inv = invocation(ctx)
    op_id = operations.full_id(inv, op_id)
    if wait:
        operations.follow(inv, op_id, timeout)
        return
    op = operations.fetch(inv, op_id)
    if inv.json:
        output.print_json(op)
    else:
        output.show_operation(op, inv.zone())
    if op.get("state") == "failed":
        raise output.failed(op)
