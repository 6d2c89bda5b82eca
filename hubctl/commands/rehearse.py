"""`hubctl rehearse`: walk the workshop as a throwaway participant on the hub, and report every failure."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from hubagent import rules

from hubctl import operations, output, rehearsal
from hubctl.commands.common import Timeout, handle_errors, invocation
from hubctl.errors import BadInput

app = typer.Typer()

MAX_CELL_TIMEOUT = 420  # the API's limit (kinds/rehearse.py): a cell's whole time fits one hubagent command
REHEARSAL_TIMEOUT_S = 4 * 3600


@app.command()
@handle_errors
def rehearse(
    ctx: typer.Context,
    repo: Annotated[
        str | None,
        typer.Option(
            "--repo", help="https git URL of the notebooks (default: notebooks.repo of workshop.yaml)."
        ),
    ] = None,
    branch: Annotated[str | None, typer.Option("--branch", help="Its branch (default: the repo's).")] = None,
    cell_timeout: Annotated[
        int, typer.Option("--cell-timeout", help="Seconds one cell may run before it counts as a timeout.")
    ] = 300,
    timeout: Timeout = REHEARSAL_TIMEOUT_S,
) -> None:
    """Walk the workshop on the hub as a throwaway participant (removed afterwards): follow the
    notebooks' link, run every notebook in their own kernel, past failing cells, and report each failure
    with a category and a hint. Exit code 1 when a notebook failed."""
    inv = invocation(ctx)
    body: dict[str, Any] = {}
    if repo is not None:
        body["repo"] = rules.check_git_url(repo, "repo")
    if branch is not None:
        body["branch"] = rules.check_git_ref(branch, "branch")
    if not 1 <= cell_timeout <= MAX_CELL_TIMEOUT:
        raise BadInput(f"--cell-timeout: {cell_timeout} must be from 1 to {MAX_CELL_TIMEOUT} seconds")
    body["cell_timeout"] = cell_timeout
    accepted = inv.client().post("/rehearse", body)
    op_id = str(accepted["operation_id"])
    live = not inv.json and sys.stderr.isatty()
    op = output.wait(lambda: operations.fetch(inv, op_id), op_id, live=live, timeout_s=timeout, tz=inv.zone())
    if op.get("state") == "failed":
        if inv.json:
            output.print_json(op)
        raise output.failed(op)
    result = op.get("result") or {}
    failed = rehearsal.failed_notebooks(result)
    if inv.json:
        output.print_json({"operation_id": op_id, "state": op.get("state"), **result})
    else:
        for line in rehearsal.wrapped(rehearsal.report_lines(result)):
            sys.stdout.write(line + "\n")
        if failed:
            sys.stdout.write(f"\n{len(failed)} notebook(s) failed: fix them, then hubctl rehearse again\n")
    if failed:
        raise typer.Exit(1)
