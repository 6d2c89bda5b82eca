"""The shared data repos: sync (a command at hubctl's root) and `hubctl data remove`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from hubagent import rules

from hubctl import operations
from hubctl.client import segment
from hubctl.commands.common import NoWait, Timeout, handle_errors, invocation
from hubctl.errors import BadInput
from hubctl.operations import DEFAULT_TIMEOUT_S

app = typer.Typer()
data_app = typer.Typer(
    help="The shared data repos (hubctl sync adds and updates them).", no_args_is_help=True
)


@app.command()
@handle_errors
def sync(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Argument(metavar="NAME", help="A data repo's name; none: each one in workshop.yaml."),
    ] = None,
    repo: Annotated[str | None, typer.Option("--repo", help="https git URL (adds or changes NAME).")] = None,
    ref: Annotated[str | None, typer.Option("--ref", help="Branch, tag or commit.")] = None,
    no_wait: NoWait = False,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
) -> None:
    """Clone or update the shared data repos into /srv/data/NAME (one operation per repo)."""
    inv = invocation(ctx)
    if name is None:
        if repo or ref:
            raise BadInput("--repo and --ref need a NAME", "e.g. hubctl sync workshopdata --ref v2")
        names = [data.name for data in inv.target.config.data_repos]
        if not names:
            raise BadInput("workshop.yaml has no data_repos", "name one: hubctl sync NAME --repo URL")
        if no_wait and len(names) > 1:
            raise BadInput("--no-wait syncs one repo", f"give its NAME (one of: {', '.join(names)})")
        bodies: list[dict[str, Any]] = [{"name": each} for each in names]
    else:
        body: dict[str, Any] = {"name": rules.check_data_name(name, "name")}
        if repo is not None:
            body["repo"] = rules.check_git_url(repo, "repo")
        if ref is not None:
            body["ref"] = rules.check_git_ref(ref, "ref")
        bodies = [body]
    for each in bodies:
        operations.submit(inv, "POST", "/data/sync", each, no_wait=no_wait, timeout_s=timeout)


@data_app.command("remove")
@handle_errors
def remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The data repo's name, e.g. workshopdata.")],
    no_wait: NoWait = False,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
) -> None:
    """Remove a data repo: its folder on the hub and the link in every home (a participant's own file of
    that name stays); never synced again, workshop.yaml's too, until `hubctl sync NAME --repo URL`."""
    rules.check_data_name(name, "name")
    path = f"/data/{segment(name)}"
    operations.submit(invocation(ctx), "DELETE", path, no_wait=no_wait, timeout_s=timeout)
