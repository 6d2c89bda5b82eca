"""hubagent's command line: parse, run one action, print exactly one JSON line on stdout.

Exit codes: 0 done, 2 invalid input (nothing ran), 1 the action failed. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from hubagent.actions import ACTIONS
from hubagent.errors import AgentError, InputError
from hubagent.settings import Settings

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

    from hubagent.hubapi import Hub


class _Parser(argparse.ArgumentParser):
    """Errors become InputError, and help goes to stderr: stdout carries only the JSON line."""

    def error(self, message: str) -> NoReturn:
        raise InputError(f"{message} (usage: {self.format_usage().strip().removeprefix('usage: ')})")

    def print_help(self, file: SupportsWrite[str] | None = None) -> None:
        super().print_help(sys.stderr)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            sys.stderr.write(message)
        raise InputError("help was printed on stderr; no action ran")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hubagent", description="Runs one workshop-hub action on the hub instance.")
    nouns = parser.add_subparsers(dest="noun", required=True, parser_class=_Parser)

    users_p = nouns.add_parser("users", help="hub users").add_subparsers(dest="verb", required=True)
    add = users_p.add_parser("add", help="create users (bulk, idempotent)")
    add.add_argument("names", nargs="+", metavar="NAME", help="user names; one argument may hold several")
    add.add_argument("--admin", action="store_true", help="make them admins")
    remove = users_p.add_parser("remove", help="delete a user from the hub (the home folder is kept)")
    remove.add_argument("name", metavar="NAME")
    listing = users_p.add_parser("list", help="list users (as many as fit in one result; see --after)")
    listing.add_argument(
        "--after", default="", help="start after this user name (the previous result's 'next')"
    )
    passwords = users_p.add_parser(
        "set-passwords",
        help="set initial passwords; NAME:HASH pairs (bcrypt) on stdin, never as arguments",
    )
    passwords.add_argument("--reset", action="store_true", help="also replace passwords users chose")

    data_p = nouns.add_parser("data", help="shared data").add_subparsers(dest="verb", required=True)
    sync = data_p.add_parser("sync", help="clone or update a git repository into the data root")
    sync.add_argument("--name", required=True)
    sync.add_argument("--repo", required=True)
    sync.add_argument(
        "--ref", default="", help="branch, tag or commit (default: the remote's default branch)"
    )

    remove_data = data_p.add_parser(
        "remove", help="remove a synced repository from the data root and its links from every home"
    )
    remove_data.add_argument("--name", required=True)

    pkg_p = nouns.add_parser("packages", help="user environment").add_subparsers(dest="verb", required=True)
    install = pkg_p.add_parser("install", help="install packages into the user environment")
    install.add_argument("--manager", required=True, choices=["pip", "conda"])
    install.add_argument("specs", nargs="+", metavar="SPEC")

    disk_p = nouns.add_parser("disk", help="root disk").add_subparsers(dest="verb", required=True)
    disk_p.add_parser("grow", help="grow the root partition and filesystem to the disk's size")

    act = nouns.add_parser("activity", help="users with running servers and their last activity")
    act.add_argument(
        "--minutes",
        default="15",
        help="active means activity within this many minutes (0: any running server)",
    )
    nouns.add_parser("health", help="hub, TLJH, disk and memory")

    rehearse_p = nouns.add_parser(
        "rehearse", help="walk the workshop as a throwaway participant"
    ).add_subparsers(dest="verb", required=True)
    begin = rehearse_p.add_parser("begin", help="create the participant, start their server, follow the link")
    begin.add_argument("--participant", required=True)
    begin.add_argument("--repo", required=True)
    begin.add_argument("--branch", default="", help="(default: the remote's default branch)")
    one = rehearse_p.add_parser("notebook", help="run one notebook's cells in the participant's kernel")
    one.add_argument("--participant", required=True)
    one.add_argument("--repo", required=True)
    one.add_argument("--index", required=True, help="which notebook (0: the first, in begin's order)")
    one.add_argument("--from-cell", default="0", help="go on from this cell (0: open the notebook anew)")
    one.add_argument("--cell-timeout", default="300", help="seconds one cell may run")
    finish = rehearse_p.add_parser("end", help="remove the participant (server, hub user, unix user, home)")
    finish.add_argument("--participant", required=True)
    signup_p = nouns.add_parser("signup", help="the walk-in sign-up door").add_subparsers(
        dest="verb", required=True
    )
    opening = signup_p.add_parser(
        "open", help="open the door until a time; the workshop code's hash on stdin, never as an argument"
    )
    opening.add_argument("--until", required=True, help="ISO 8601 time with its zone")
    signup_p.add_parser("close", help="close the door")
    listed = signup_p.add_parser("list", help="walk-ins who signed up, after the N-th")
    listed.add_argument("--after", default="0", help="how many were read before (the previous 'next')")
    return parser


def guess_action(argv: Sequence[str]) -> str | None:
    """The action an argument list asks for, even when it does not parse."""
    words = [a for a in argv if not a.startswith("-")]
    for candidate in ("-".join(words[:2]), words[0] if words else ""):
        if candidate in ACTIONS:
            return candidate
    return None


def _hub(settings: Settings) -> Hub:
    from hubagent.hubapi import Hub, read_token

    return Hub(settings.hub_api, read_token(settings.token_file))


def _minutes(value: str) -> int:
    if not re.fullmatch(r"[0-9]{1,3}", value):
        raise InputError(f"minutes: {value!r} must be a whole number from 0 to 999")
    return int(value)


def run_action(action: str, args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """Validate every input first, then act. Each action loads only its own module: runs stay short."""
    if action in ("users-add", "users-remove", "users-list", "activity"):
        from hubagent import users

        if action == "users-add":
            names = users.check_names(args.names)
            return users.add(_hub(settings), names, args.admin)
        if action == "users-remove":
            (name,) = users.check_names([args.name])
            return users.remove(_hub(settings), name)
        if action == "users-list":
            after = users.check_names([args.after])[0] if args.after else ""
            return users.list_users(_hub(settings), after)
        minutes = _minutes(args.minutes)
        return users.activity(_hub(settings), minutes)
    if action == "users-set-passwords":
        from hubagent import passwords

        credentials = passwords.parse(sys.stdin.read(64 * 1024))
        return passwords.set_passwords(_hub(settings), settings, credentials, args.reset)
    if action == "data-remove":
        from hubagent import datasync, rules

        try:
            name = rules.check_data_name(args.name, "name")
        except rules.RuleError as err:
            raise InputError(str(err)) from None
        return datasync.remove(settings, name)
    if action == "data-sync":
        from hubagent import datasync

        name, repo, ref = datasync.check_inputs(args.name, args.repo, args.ref, settings.allow_local_repos)
        return datasync.sync(settings, name, repo, ref)
    if action == "packages-install":
        from hubagent import packages

        specs = packages.check_specs(args.manager, args.specs)
        return packages.install(settings.user_env, args.manager, specs)
    if action == "disk-grow":
        from hubagent import disk

        return disk.grow(settings)
    if action == "health":
        from hubagent import health

        return health.check(settings)
    if action.startswith("rehearse-"):
        from hubagent import rehearsal

        participant = rehearsal.check_participant(args.participant)
        if action == "rehearse-end":
            return rehearsal.end(settings, participant)
        repo, branch = rehearsal.check_repo(
            args.repo, getattr(args, "branch", ""), settings.allow_local_repos
        )
        if action == "rehearse-begin":
            return rehearsal.begin(settings, participant, repo, branch)
        index = rehearsal.check_number(args.index, "index", 0, 9999)
        from_cell = rehearsal.check_number(args.from_cell, "from_cell", 0, 9999)
        timeout = rehearsal.check_number(args.cell_timeout, "cell_timeout", 1, rehearsal.MAX_CELL_TIMEOUT)
        return rehearsal.notebook(settings, participant, repo, index, from_cell, timeout)
    if action in ("signup-open", "signup-close", "signup-list"):
        from hubagent import signup

        if action == "signup-open":
            until = signup.check_until(args.until, dt.datetime.now(dt.timezone.utc))  # noqa: UP017 (3.10)
            code_hash = signup.check_code_hash(sys.stdin.read(4096))
            return signup.open_door(settings, until, code_hash)
        if action == "signup-close":
            return signup.close_door(settings)
        return signup.list_signups(settings, signup.check_after(args.after))
    raise InputError(f"unknown action {action!r}")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    action = guess_action(argv)
    try:
        args = build_parser().parse_args(argv)
        action = "-".join(w for w in (args.noun, getattr(args, "verb", None)) if w)
        details = run_action(action, args, Settings.from_env())
        result: dict[str, Any] = {
            "ok": True,
            "action": action,
            "changed": bool(details.pop("changed", False)),
        }
        result |= details
        code = 0
    except AgentError as err:
        result = {"ok": False, "action": action, "changed": False, **err.details, "error": str(err)}
        code = err.exit_code
    except Exception as err:
        traceback.print_exc(file=sys.stderr)
        result = {
            "ok": False,
            "action": action,
            "changed": False,
            "error": f"hubagent failed unexpectedly: {type(err).__name__}: {err} (its stderr has the details)",
        }
        code = 1
    print(json.dumps(result), flush=True)
    return code
