"""`hubctl link`: the nbgitpuller link (and QR code) that opens the workshop's notebooks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from hubctl import link as links
from hubctl import output
from hubctl.commands.common import handle_errors, invocation
from hubctl.errors import BadInput

app = typer.Typer()


@app.command()
@handle_errors
def link(
    ctx: typer.Context,
    notebook: Annotated[
        str | None, typer.Argument(metavar="NOTEBOOK", help="A notebook path inside the notebooks repo.")
    ] = None,
    qr: Annotated[bool, typer.Option("--qr", help="Print a QR code in the terminal.")] = False,
    png: Annotated[
        Path | None, typer.Option("--png", help="Write the QR code to a PNG file.", dir_okay=False)
    ] = None,
    hub_url: Annotated[
        str | None, typer.Option("--hub-url", help="The hub's URL (default: from the stack).")
    ] = None,
) -> None:
    """The nbgitpuller link that opens the workshop's notebooks (notebooks.repo in workshop.yaml)."""
    inv = invocation(ctx)
    notebooks = inv.target.config.notebooks
    if notebooks is None:
        raise BadInput(
            "workshop.yaml has no notebooks repo", "add notebooks: {repo: https://..., branch: main}"
        )
    url = links.nbgitpuller_link(hub_url or inv.target.hub_url(), notebooks.repo, notebooks.branch, notebook)
    if png is not None:
        links.save_png(url, png)
    if inv.json:
        output.print_json({"url": url, "png": str(png) if png else None})
        return
    sys.stdout.write(url + "\n")
    if qr:
        links.print_qr(url, sys.stdout)
    if png is not None:
        output.stderr().print(f"QR code written to {png}")
