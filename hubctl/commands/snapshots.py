"""`hubctl snapshots`: the hub's disk snapshots."""

from __future__ import annotations

import typer

from hubctl import output
from hubctl import snapshots as disk_snapshots
from hubctl.commands.common import handle_errors, invocation

app = typer.Typer()


@app.command()
@handle_errors
def snapshots(ctx: typer.Context) -> None:
    """The hub's disk snapshots, newest first: nightly backups and those taken before a grow."""
    inv = invocation(ctx)
    found = disk_snapshots.hub_snapshots(inv.target)
    hub = inv.target.config.hub.name
    if inv.json:
        output.print_json({"snapshots": found})
    elif found:
        output.stdout().print(
            output.rows(f"{len(found)} snapshots of {hub}", disk_snapshots.for_people(found, inv.zone()))
        )
        output.stderr().print("restore one: README, 'Backups: restoring a snapshot'")
    else:
        output.stdout().print(
            "no snapshots yet: the first nightly one is taken after the night stop following the deploy"
        )
