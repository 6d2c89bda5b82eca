"""Adding participants: their registrations onto the roster (operations of up to 200 names, one after
the other), then, if asked, their initial passwords and the sheet to hand out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hubagent import rules

from hubctl import operations, output, sheet, views
from hubctl.errors import NotFound
from hubctl.invocation import Invocation
from hubctl.registrations import Registration

PASSWORDS_PER_REQUEST = 50  # the API (and hubagent's users-set-passwords) takes 50 at a time


def add(
    inv: Invocation, registrations: list[Registration], *, admin: bool, no_wait: bool, timeout_s: int
) -> None:
    """POST /users in batches of up to 200 names, each with what its derived names came from."""
    usernames = [r.username for r in registrations]
    batches = [
        usernames[i : i + rules.MAX_USERS_PER_REQUEST]
        for i in range(0, len(usernames), rules.MAX_USERS_PER_REQUEST)
    ]
    if len(batches) > 1 and not inv.json:
        output.stderr().print(
            f"{len(usernames)} users: {len(batches)} operations of up to {rules.MAX_USERS_PER_REQUEST}"
        )
    # What each derived name came from (an address, a full name): the roster keeps it, as plain text
    # (the API refuses control characters; a stray one in an export is written out, not sent raw).
    sources = {r.username: views.shown(r.original)[:200] for r in registrations if r.changed}
    for number, batch in enumerate(batches, start=1):
        # One operation runs at a time: every batch but the last is waited for, even with --no-wait.
        last = number == len(batches)
        body: dict[str, Any] = {"usernames": batch, "admin": admin}
        if batch_sources := {n: sources[n] for n in batch if n in sources}:
            body["sources"] = batch_sources
        operations.submit(inv, "POST", "/users", body, no_wait=no_wait and last, timeout_s=timeout_s)


def set_initial_passwords(
    inv: Invocation, registrations: list[Registration], folder: Path, timeout_s: int
) -> None:
    """Generate, hash here, send the hashes (POST /users/passwords), then write the sheet for those set.
    The passwords themselves stay on this computer: in memory, then in the sheet (0600)."""
    generated = {r.username: sheet.new_password() for r in registrations}
    hashes = sheet.hashed(generated)
    kept: set[str] = set()
    names = list(generated)
    for start_at in range(0, len(names), PASSWORDS_PER_REQUEST):
        batch = names[start_at : start_at + PASSWORDS_PER_REQUEST]
        body = {"credentials": [{"username": n, "hash": hashes[n]} for n in batch], "reset": False}
        try:
            accepted = inv.client().post("/users/passwords", body)
        except NotFound as err:
            if not err.message.startswith("no route"):  # a name not on the roster (removed meanwhile)
                raise NotFound(err.message, "no sheet was written; add the user and try again") from None
            raise NotFound(
                "this API cannot set passwords yet (no POST /users/passwords); the users were added",
                "they can still log in with a first password of their own (the login page says how)",
            ) from None
        op = operations.follow_quietly(inv, str(accepted["operation_id"]), timeout_s)
        kept |= set(_result_list(op.get("result") or {}, "kept"))
    cards = [
        sheet.Card(r.username, None if r.username in kept else generated[r.username], r.original)
        for r in registrations
    ]
    csv_path, html_path = sheet.write_sheet(folder, cards, inv.target.hub_url())
    if inv.json:
        output.print_json({"sheet": [str(csv_path), str(html_path)], "kept": sorted(kept)})
        return
    output.stdout().print(
        output.safe(
            f"initial passwords set for {len(cards) - len(kept)} user(s)"
            + (
                f"; {len(kept)} had chosen one already and keep it ({', '.join(sorted(kept))})"
                if kept
                else ""
            )
        )
    )
    output.stdout().print(
        f"sheet to print and hand out: {html_path} (and {csv_path}; both readable by you only)"
    )


def _result_list(result: dict[str, Any], key: str) -> list[str]:
    """A list field of an operation's result, also when the domain nests hubagent's result."""
    if isinstance(result.get(key), list):
        return [str(v) for v in result[key]]
    for value in result.values():
        if isinstance(value, dict):
            found = _result_list(value, key)
            if found:
                return found
    return []
