"""What every command shares: its invocation, the options of a change, and the one error decorator."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, ParamSpec, TypeVar

import typer
from hubagent import rules

from hubctl import discovery, errors, output
from hubctl.errors import BadInput, HubctlError
from hubctl.invocation import Invocation

P = ParamSpec("P")
R = TypeVar("R")

NoWait = Annotated[bool, typer.Option("--no-wait", help="Print the operation id and return at once.")]
Timeout = Annotated[int, typer.Option("--timeout", help="Seconds to wait for the operation.", min=1)]
INTERRUPTED = 130  # as a shell reports a command ended by Ctrl-C


def invocation(ctx: typer.Context) -> Invocation:
    """This run's target and output format, set by the root's options (hubctl.cli)."""
    obj = ctx.find_root().obj
    assert isinstance(obj, Invocation)
    return obj


def domain_error(err: Exception) -> HubctlError:
    """What went wrong, as hubctl says it: its message, a hint for the next step, its exit code."""
    if isinstance(err, rules.RuleError):  # a value the API would refuse: refused here, before sending
        return BadInput(str(err), "nothing was sent; fix the value and try again")
    assert isinstance(err, HubctlError)
    return err


def handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Every error a command meets becomes a message, a hint and its exit code (hubctl.errors); with
    -o json also a JSON document. Ctrl-C says that an operation already sent goes on."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (HubctlError, rules.RuleError) as raised:
            err = domain_error(raised)
            ctx = kwargs.get("ctx")
            inv = ctx.find_root().obj if hasattr(ctx, "find_root") else None
            if isinstance(inv, Invocation):
                _hint_sandbox(inv, err)
            output.print_error(err)
            if isinstance(inv, Invocation) and inv.json:
                output.print_json(
                    {
                        "error": err.message,
                        "hint": err.hint,
                        "details": err.details,
                        "operation_id": err.operation_id,
                        "exit_code": err.exit_code,
                    }
                )
            raise typer.Exit(err.exit_code) from None
        except KeyboardInterrupt:
            output.stderr().print("interrupted: an operation already sent goes on running (hubctl status)")
            raise typer.Exit(INTERRUPTED) from None

    return run


def _hint_sandbox(inv: Invocation, err: HubctlError) -> None:
    """AWS was asked (no credentials, no stack) while a local sandbox runs here: say --sandbox."""
    if inv.target.in_sandbox or not isinstance(err, errors.AuthError | errors.NotFound | errors.Unreachable):
        return
    if discovery.local_sandbox_runs():
        err.hint = "a local sandbox runs in this folder: add --sandbox (e.g. hubctl --sandbox status)"
