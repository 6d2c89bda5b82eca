"""hubctl: the instructor's command line for the workshop hub.

The root app: the options every command shares (--config, --sandbox, --output) and the commands, one
module per noun in hubctl.commands. Mutating commands wait for their operation by default, with its
steps shown live.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from hubctl.commands import data, hub, link, ops, packages, plan, rehearse, signup, snapshots, users
from hubctl.discovery import Target, local_sandbox
from hubctl.invocation import Invocation, Output

HELP = (
    "Drive the workshop hub: start, stop, resize, grow the disk, sync data, install packages, add users.\n\n"
    "Finds the API from the CloudFormation outputs of the stacks named in workshop.yaml and signs requests "
    "with your AWS credentials.\n\n"
    "Exit codes: 0 ok, 1 operation failed, 2 bad input, 3 another operation runs, "
    "4 not found or not deployed, 5 not authorized, 6 API unreachable."
)

# Plain help (click's): Typer's rich panels print '<bool>' beside every flag and the type beside each argument.
# As wide as the terminal, up to 120 columns (click stops at 80).
app = typer.Typer(
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"max_content_width": 120},
)
for commands_at_root in (hub.app, data.app, link.app, plan.app, rehearse.app, snapshots.app):
    app.add_typer(commands_at_root)
app.add_typer(users.app, name="users")
app.add_typer(data.data_app, name="data")
app.add_typer(packages.app, name="packages")
app.add_typer(ops.app, name="ops")
app.add_typer(signup.app, name="signup")
# `hubctl sandbox ...` runs the sandbox's own command line (listed last, after the nouns).
sandbox_passthrough = typer.Typer()
app.add_typer(sandbox_passthrough)


@sandbox_passthrough.command(
    "sandbox",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
def sandbox_command(ctx: typer.Context) -> None:
    """The local sandbox: up, down, status, tick, clean, env (`hubctl sandbox --help` lists them).

    The same as `python -m sandbox ...`, which this runs: the sandbox's own command line, whose server code
    hubctl does not load (its start stays quick)."""
    command = [sys.executable, "-m", "sandbox", *ctx.args]
    os.execv(command[0], command)  # noqa: S606 (our own interpreter and module, the user's arguments)


@app.callback()
def _options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="workshop.yaml to read (default ./workshop.yaml; the sandbox's own with --sandbox).",
        ),
    ] = None,
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="Talk to the local sandbox started by `make up`.")
    ] = False,
    output_format: Annotated[
        Output, typer.Option("--output", "-o", help="text for people, json for scripts.")
    ] = (Output.text),
) -> None:
    target = Target(config_path=config or Path("workshop.yaml"), sandbox=sandbox)
    if config is None and target.in_sandbox:
        # The sandbox's copy of workshop.yaml names the local data and notebooks repositories it serves.
        sandbox_config = local_sandbox().config_yaml
        if sandbox_config.is_file():
            target.config_path = sandbox_config
    ctx.obj = Invocation(target, output_format)


def main() -> None:
    app()


__all__ = ["app", "main"]
