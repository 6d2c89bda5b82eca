"""hubctl's root app as it is assembled: every command of its own turns errors into exit codes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer

from hubctl.cli import app
from hubctl.commands.common import handle_errors


def commands(typer_app: typer.Typer, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """(the command line that calls it, its function) for every command under ``typer_app``."""
    for info in typer_app.registered_commands:
        assert info.callback is not None
        yield " ".join((*path, info.name or info.callback.__name__.replace("_", "-"))), info.callback
    for group in typer_app.registered_groups:
        assert group.typer_instance is not None
        named = (*path, group.name) if group.name else path
        yield from commands(group.typer_instance, named)


def test_every_command_maps_its_errors_to_exit_codes():
    wrapped = handle_errors(lambda: None).__code__  # the decorator's own wrapper
    found = dict(commands(app))
    # `hubctl sandbox ...` runs the sandbox's own command line (python -m sandbox), which says its own errors.
    ours = {line: command for line, command in found.items() if line.split()[0] != "sandbox"}
    assert {
        "status",
        "start",
        "keep-awake",
        "sync",
        "users add",
        "packages remove",
        "ops show",
        "plan",
    } <= set(ours)
    assert [line for line, command in ours.items() if command.__code__ is not wrapped] == []
