"""The roster sync: creates every roster entry missing on the hub (admins first), removes the ones
being removed, and goes round again while the roster keeps changing. It needs no lease: users are
added while anything else runs, and concurrent requests all end in the one sync that is pending."""

from __future__ import annotations

from typing import Any

from hubagent.rules import MAX_USERS_PER_REQUEST

from workshop_hub.decisions import chunks, roster_diff
from workshop_hub.errors import OperationFailed
from workshop_hub.ports import AgentError, hub_users
from workshop_hub.store.roster import RosterEntry
from workshop_hub.workflows.run import Run


def converge(run: Run, *, prefix: str = "") -> dict[str, Any]:
    """One round: make the hub's users the roster's. Returns who was created and removed."""
    services = run.services
    t = services.timeouts
    # hubagent lists the users a page at a time (each result fits SSM's output): read every page.
    on_hub: dict[str, bool] = run.flow.step(
        f"{prefix}users-list",
        lambda: hub_users(services.commands, t.command_s),
        detail=lambda users: f"{len(users)} on the hub",
    )
    entries = run.flow.step(
        f"{prefix}read the roster",
        lambda: [vars(e) for e in services.stores.roster.entries(include_removing=True)],
        record=False,
    )
    diff = roster_diff([RosterEntry(**e) for e in entries], on_hub)
    for admin, names in ((True, diff.create_admins), (False, diff.create_users)):
        for chunk in chunks(names, MAX_USERS_PER_REQUEST):
            params = {"Usernames": " ".join(chunk), "Admin": "true" if admin else "false"}
            run.flow.step(
                f"{prefix}users-add admin={str(admin).lower()} ({len(chunk)})",
                lambda params=params: run.command("users-add", params, t.command_s),  # type: ignore[misc]
                detail=lambda r: f"{len(r.get('created', []))} created",
            )
            on_hub.update(dict.fromkeys(chunk, admin))
    for name in diff.remove:
        run.flow.step(
            f"{prefix}users-remove {name}",
            lambda name=name: run.command("users-remove", {"Username": name}, t.command_s),  # type: ignore[misc]
        )
        on_hub.pop(name, None)
    gone = diff.remove + diff.forget
    created = diff.create_admins + diff.create_users
    if gone or created:
        run.flow.step(
            f"{prefix}record who is on the hub",
            lambda: _record(run, set(on_hub), gone),
            detail=lambda _: f"{len(created)} created, {len(gone)} removed",
        )
    return {"changed": bool(created or gone), "created": created, "removed": gone}


def _record(run: Run, on_hub: set[str], gone: list[str]) -> None:
    roster = run.services.stores.roster
    for name in gone:
        roster.delete(name)
    roster.mark_on_hub(on_hub)


def roster_sync(run: Run) -> dict[str, Any]:
    services = run.services
    roster = services.stores.roster
    t = services.timeouts
    totals: dict[str, Any] = {"created": [], "removed": [], "rounds": 0}
    failures = 0
    for round_no in range(1, t.roster_rounds + 1):
        generation = run.flow.step(
            f"round {round_no}: read the roster's generation", lambda: roster.sync_state()[1], record=False
        )
        if run.state() != "running":
            run.flow.step(
                "deferred: the hub is not running; the reconcile at the next start creates the users",
                lambda: _defer(run),
            )
            return {**totals, "deferred": True}
        try:
            counts = converge(run, prefix="" if round_no == 1 else f"round {round_no}: ")
        except (AgentError, OperationFailed) as err:
            failures += 1
            if failures > len(t.roster_retries_s):
                raise
            delay = t.roster_retries_s[failures - 1]
            run.flow.sleep(f"the hub did not take it ({err}); again in {delay} s", delay)
            continue
        totals["created"] = sorted({*totals["created"], *counts["created"]})
        totals["removed"] = sorted({*totals["removed"], *counts["removed"]})
        totals["rounds"] = round_no
        if run.flow.step(
            "finish, unless the roster changed meanwhile",
            lambda generation=generation: roster.finish_sync(run.op.id, generation),  # type: ignore[misc]
            record=False,
        ):
            return totals
    raise OperationFailed(
        f"the roster kept changing for {t.roster_rounds} rounds; the next change runs another sync"
    )


def _defer(run: Run) -> None:
    run.services.stores.desired.defer("users")
    run.services.stores.roster.abandon_sync(run.op.id)


def after_failure(run: Run) -> None:
    """A failed sync frees the marker (the next change starts a new one) and leaves the users pending."""
    _defer(run)
