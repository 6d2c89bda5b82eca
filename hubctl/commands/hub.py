"""The hub itself: status, start, stop, resize, keep-awake, reconcile, grow (commands at hubctl's root)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from hubagent import rules

from hubctl import address, operations, output, times
from hubctl.commands.common import NoWait, Timeout, handle_errors, invocation
from hubctl.operations import DEFAULT_TIMEOUT_S

app = typer.Typer()


@app.command()
@handle_errors
def status(
    ctx: typer.Context,
    with_cost: Annotated[
        bool, typer.Option("--cost", help="Add this month's cost so far (running hours from CloudWatch).")
    ] = False,
) -> None:
    """Show the hub: instance state and type, address, disk, schedule, keep-awake, last operations."""
    inv = invocation(ctx)
    answer = inv.client().get("/status")
    if isinstance(answer, dict) and answer.get("hub_url") and _running(answer):
        # the participants' way in (CloudFront, or the sandbox's front), not the instance's own check
        answer["hub_address"] = address.check(str(answer["hub_url"]), inv.target.hub_ca_file())
    month = None
    if with_cost:
        # the price table and the plan's arithmetic: ~11 ms that a status without --cost never pays
        from hubctl import cost

        month = cost.month_cost(inv.target)
    if inv.json:
        output.print_json({**answer, "month_cost_estimate": month} if month is not None else answer)
    else:
        output.show_status(answer if isinstance(answer, dict) else {}, month)


def _running(answer: dict[str, Any]) -> bool:
    instance = answer.get("instance")
    return isinstance(instance, dict) and instance.get("state") == "running"


@app.command()
@handle_errors
def start(ctx: typer.Context, no_wait: NoWait = False, timeout: Timeout = DEFAULT_TIMEOUT_S) -> None:
    """Start the hub now (and wait until it answers)."""
    operations.submit(invocation(ctx), "POST", "/instance/start", no_wait=no_wait, timeout_s=timeout)


@app.command()
@handle_errors
def stop(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Stop even if participants are active.")] = False,
    no_wait: NoWait = False,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
) -> None:
    """Stop the hub now."""
    body = {"force": force}
    operations.submit(invocation(ctx), "POST", "/instance/stop", body, no_wait=no_wait, timeout_s=timeout)


@app.command()
@handle_errors
def resize(
    ctx: typer.Context,
    instance_type: Annotated[str, typer.Argument(metavar="TYPE", help="EC2 instance type, e.g. t3.xlarge.")],
    force: Annotated[
        bool,
        typer.Option("--force", help="Resize even while participants are active (they lose their sessions)."),
    ] = False,
    everyday: Annotated[
        bool,
        typer.Option(
            "--everyday", help="Make TYPE the everyday size (session ends return to it), not just for now."
        ),
    ] = False,
    no_wait: NoWait = False,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
) -> None:
    """Change the instance type (stop, change, start; back to the old type if anything fails after the stop)."""
    rules.check_instance_type(instance_type, "instance_type")
    body: dict[str, Any] = {"instance_type": instance_type}
    body.update({name: True for name, on in (("force", force), ("everyday", everyday)) if on})
    operations.submit(invocation(ctx), "POST", "/instance/resize", body, no_wait=no_wait, timeout_s=timeout)


@app.command("keep-awake")
@handle_errors
def keep_awake(
    ctx: typer.Context,
    until: Annotated[
        str,
        typer.Argument(
            metavar="UNTIL",
            help="'+3h', '23:30' (today, in schedule.timezone), 'tomorrow 01:00', ISO 8601, or 'off' to cancel.",
        ),
    ],
    no_wait: NoWait = False,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
) -> None:
    """Keep the hub running past the night stop until UNTIL; the night stop happens then instead."""
    inv = invocation(ctx)
    if until.strip().lower() == "off":
        body: dict[str, Any] = {"off": True}
        said = "keep-awake off: the night stop applies again"
    else:
        times.parse_until(until, "UTC")  # a typo is refused before anything is asked of the API
        timezone = inv.timezone()
        when = times.parse_until(until, timezone)
        body = {"until": times.iso(when)}
        said = f"keep awake until {times.spoken(when, timezone)}"
    if not inv.json:
        output.stderr().print(said)
    operations.submit(inv, "POST", "/instance/keep-awake", body, no_wait=no_wait, timeout_s=timeout)


@app.command()
@handle_errors
def reconcile(ctx: typer.Context, no_wait: NoWait = False, timeout: Timeout = DEFAULT_TIMEOUT_S) -> None:
    """Apply everything pending now (users, data repos, packages, the filesystem), as a start would."""
    operations.submit(invocation(ctx), "POST", "/reconcile", no_wait=no_wait, timeout_s=timeout)


@app.command()
@handle_errors
def grow(
    ctx: typer.Context,
    size_gib: Annotated[
        int, typer.Argument(metavar="SIZE_GIB", help="The new size of the disk in GiB.", min=1)
    ],
    no_wait: NoWait = False,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
) -> None:
    """Grow the hub's disk (online; EBS takes a new change once the previous one has completed)."""
    body = {"size_gib": size_gib}
    operations.submit(invocation(ctx), "POST", "/volume/grow", body, no_wait=no_wait, timeout_s=timeout)
