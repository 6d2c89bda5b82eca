"""`hubctl packages add|remove`: packages in the participants' environment."""

from __future__ import annotations

from typing import Annotated

import typer
from hubagent import rules

from hubctl import operations
from hubctl.client import segment
from hubctl.commands.common import NoWait, Timeout, handle_errors, invocation
from hubctl.errors import BadInput
from hubctl.operations import DEFAULT_TIMEOUT_S

app = typer.Typer(help="Packages in the participants' environment.", no_args_is_help=True)

Conda = Annotated[bool, typer.Option("--conda", help="Install with conda (mamba) instead of pip.")]


@app.command("add")
@handle_errors
def add(
    ctx: typer.Context,
    # In the docstring rather than the help: Typer would print its type, 'list[str]', beside it.
    specs: Annotated[list[str], typer.Argument(metavar="SPEC", hidden=True)],
    conda: Conda = False,
    no_wait: NoWait = False,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
) -> None:
    """Install packages SPEC... (e.g. 'geopandas==1.0.1') into the participants' environment."""
    manager = "conda" if conda else "pip"
    problems = []
    for index, spec in enumerate(specs):
        try:
            rules.check_package(manager, spec, f"packages[{index}]")
        except rules.RuleError as err:
            problems.append(str(err))
    if problems:
        raise BadInput(f"{len(problems)} package spec(s) are not allowed; nothing was sent", details=problems)
    body = {"packages": specs, "manager": manager}
    operations.submit(invocation(ctx), "POST", "/packages", body, no_wait=no_wait, timeout_s=timeout)


@app.command("remove")
@handle_errors
def remove(
    ctx: typer.Context,
    spec: Annotated[
        str, typer.Argument(metavar="SPEC", help="The spec as it was added, e.g. 'geopandas==1.0.1'.")
    ],
    conda: Annotated[bool, typer.Option("--conda", help="A conda package (default: pip).")] = False,
    no_wait: NoWait = False,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
) -> None:
    """Forget a package: no later start or reconcile installs it; where it is installed, it stays."""
    rules.check_package("conda" if conda else "pip", spec, "spec")
    path = f"/packages/{segment(spec)}" + ("?manager=conda" if conda else "")
    operations.submit(invocation(ctx), "DELETE", path, no_wait=no_wait, timeout_s=timeout)
