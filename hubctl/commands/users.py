"""`hubctl users add|list|remove`: the roster, the hub's users."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from hubagent import rules
from rich.text import Text

from hubctl import operations, output, registrations
from hubctl.client import segment
from hubctl.commands.common import NoWait, Timeout, handle_errors, invocation
from hubctl.errors import BadInput, NotFound
from hubctl.operations import DEFAULT_TIMEOUT_S

app = typer.Typer(help="The roster: hub users.", no_args_is_help=True)


@app.command("add")
@handle_errors
def add(
    ctx: typer.Context,
    # In the docstring rather than the help: Typer would print its type, 'list[str]', beside it.
    names: Annotated[list[str] | None, typer.Argument(metavar="NAME", hidden=True)] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Make them hub admins (sudo on the hub!).")] = False,
    csv_file: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            metavar="FILE",
            help="A registration export (CSV with a header row; , ; or tab).",
            dir_okay=False,
        ),
    ] = None,
    column: Annotated[
        str,
        typer.Option(
            "--column",
            metavar="COLUMN",
            help="The CSV column to read: 'username' is taken as is; any other (email, name...) is turned "
            "into user names by the rule in the README.",
        ),
    ] = "username",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print each row's user name and send nothing.")
    ] = False,
    passwords: Annotated[
        bool,
        typer.Option(
            "--passwords",
            help="Give each an initial password (set on the hub, so no one can claim their name) and "
            "write a sheet to hand out: participants.csv and participants.html (cards with QR codes). "
            "The passwords never leave this computer: the hub gets their bcrypt hashes.",
        ),
    ] = False,
    sheet_dir: Annotated[
        Path | None,
        typer.Option(
            "--sheet-dir",
            metavar="DIR",
            help="Where --passwords writes the sheet (default hub-passwords; with --sandbox, the sandbox's "
            "own, which a clean start deletes with the users it lists).",
            file_okay=False,
        ),
    ] = None,
    no_wait: NoWait = False,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
) -> None:
    """Add users to the roster and create them on the hub: the hub user names NAME..., or --csv FILE."""
    if bool(names) == bool(csv_file):
        raise BadInput("give user names or --csv FILE (one of them)", "e.g. hubctl users add ada grace")
    if passwords and no_wait:
        raise BadInput("--passwords waits for the users to exist; leave out --no-wait")
    if csv_file:
        registered = registrations.read_csv(csv_file, column)
    else:
        registered = [registrations.Registration(0, n, n) for n in registrations.check_names(names or [])]
    inv = invocation(ctx)
    if dry_run:
        output.show_registrations(registered, json_output=inv.json)
        return
    # the password sheet's QR codes, bcrypt and HTML: ~15 ms that no other command pays
    from hubctl import participants

    participants.add(inv, registered, admin=admin, no_wait=no_wait, timeout_s=timeout)
    if passwords:
        participants.set_initial_passwords(inv, registered, sheet_dir or inv.target.sheet_dir(), timeout)


@app.command("list")
@handle_errors
def list_users(ctx: typer.Context) -> None:
    """The roster, with admin flags and whether each user exists on the hub yet."""
    inv = invocation(ctx)
    answer = inv.client().get("/users")
    if inv.json:
        output.print_json(answer)
        return
    users = answer.get("users", []) if isinstance(answer, dict) else []
    if isinstance(answer, dict) and answer.get("note"):
        output.stderr().print(Text("note: ") + output.safe(answer["note"], newlines=True))
    if users:
        output.stdout().print(output.rows(f"{len(users)} users", users, inv.zone()))
    else:
        output.stdout().print("no users yet: hubctl users add NAME...")


@app.command("remove")
@handle_errors
def remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The hub user name.")],
    no_wait: NoWait = False,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
) -> None:
    """Remove a user from the roster and the hub (the home directory is kept)."""
    rules.check_username(name, "name")
    inv = invocation(ctx)
    answer = inv.client().get("/users")
    roster = [str(u.get("username")) for u in (answer or {}).get("users", []) if isinstance(u, dict)]
    if name not in roster:
        raise NotFound(
            f"name: {name!r} is not on the roster; nothing was sent",
            "hubctl users list shows the roster" + (f" (e.g. {', '.join(roster[:3])})" if roster else ""),
        )
    operations.submit(inv, "DELETE", f"/users/{segment(name)}", no_wait=no_wait, timeout_s=timeout)
