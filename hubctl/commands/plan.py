"""`hubctl plan`: size the hub from the workshop's own notebooks, run and measured here."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hubctl.commands.common import handle_errors, invocation
from hubctl.errors import BadInput

app = typer.Typer()


@app.command("plan")
@handle_errors
def plan(
    ctx: typer.Context,
    participants: Annotated[
        int, typer.Option("--participants", "-n", help="How many participants at once.", min=1, max=10000)
    ],
    open_notebooks: Annotated[
        int, typer.Option("--open", help="How many notebooks one participant keeps running at once.", min=1)
    ] = 1,
    notebooks: Annotated[
        Path | None,
        typer.Option("--notebooks", help="A folder of notebooks (default: notebooks.repo of workshop.yaml)."),
    ] = None,
    data: Annotated[
        list[Path] | None, typer.Option("--data", help="A data repo's folder, counted once on the disk.")
    ] = None,
    prices: Annotated[
        str, typer.Option("--prices", help="auto (Price List API with credentials, else table), table, live.")
    ] = "auto",
    apply: Annotated[
        bool,
        typer.Option("--apply", help="Write plan.instance_type and hub.memory_limit into workshop.yaml."),
    ] = False,
    kernel: Annotated[str, typer.Option("--kernel", help="The Jupyter kernel to run them in.")] = "python3",
    python: Annotated[
        Path | None,
        typer.Option(
            "--python",
            help="The python of the workshop's environment to run them with (--sandbox: the sandbox's user env).",
            dir_okay=False,
        ),
    ] = None,
    cell_timeout: Annotated[
        int, typer.Option("--cell-timeout", help="Seconds one cell may run.", min=1)
    ] = 600,
    rehearsal: Annotated[
        str | None,
        typer.Option(
            "--rehearsal",
            metavar="ID",
            help="Plan from what a rehearsal ran on the hub (hubctl rehearse): its id, or 'latest'.",
        ),
    ] = None,
    go_ahead: Annotated[
        bool, typer.Option("--go-ahead", help="Plan even when less than half the notebooks were measured.")
    ] = False,
) -> None:
    """Run the workshop's notebooks, measure them, and size the hub: RAM, disk, instance types, cost."""
    # nbclient, jupyter_client and the plan's arithmetic: ~1.5 s that no other command should pay
    from hubctl.plan import command as planning

    if prices not in planning.PriceSource.__members__:
        raise BadInput(f"--prices: '{prices}' is not one of auto, table, live")
    inv = invocation(ctx)
    target = inv.target
    if rehearsal is not None and (notebooks is not None or data or python is not None):
        raise BadInput(
            "--rehearsal plans from what ran on the hub: it takes no --notebooks, --data or --python",
            "leave them out, or plan from local runs without --rehearsal",
        )
    rehearsed = None
    if rehearsal is not None:
        from hubctl.plan import rehearsed as from_hub

        rehearsed = from_hub.find(inv, rehearsal)
    request = planning.Request(
        participants=participants,
        open_notebooks=open_notebooks,
        notebooks=notebooks,
        data=list(data or []),
        prices=planning.PriceSource(prices),
        apply=apply,
        kernel=kernel,
        python=python or planning.sandbox_python(target),
        cell_timeout=cell_timeout,
        go_ahead=go_ahead,
    )
    planning.run(
        target.config, planning.plan_file(target), request, json_output=inv.json, rehearsed=rehearsed
    )
