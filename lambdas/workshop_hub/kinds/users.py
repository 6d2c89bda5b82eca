"""The roster: add and remove participants, and the roster sync that makes the hub's users the roster's.

Adding or removing users needs no lease: each request records roster entries (idempotent per name) and
is answered with the one roster sync that is pending (starting one if none is). The sync creates every
entry still missing on the hub (admins first), removes the ones being removed, and goes round again while
the roster keeps changing; with the hub stopped it leaves the users to the reconcile at the next start.
"""

from __future__ import annotations

from typing import Annotated, Any, Self

from hubagent import rules
from hubagent.rules import MAX_USERS_PER_REQUEST
from pydantic import AfterValidator, BeforeValidator, model_validator

from workshop_hub.decisions import chunks, roster_diff
from workshop_hub.errors import Missing, OperationFailed
from workshop_hub.kinds.kind import CONTROL_PLANE, Instructor, Kind, Route
from workshop_hub.kinds.params import Flag, Params, ParticipantName, Username, names, unique
from workshop_hub.kinds.signup import collect
from workshop_hub.ports import AgentError, hub_users
from workshop_hub.run import Run
from workshop_hub.services import Services
from workshop_hub.stores import RosterEntry
from workshop_hub.times import iso

SOURCES_RULE = "must map names of usernames to what they came from (1-200 characters each)"
PLAIN_TEXT_RULE = (
    "must be plain printable text: no control characters, escape sequences, line breaks or invisible "
    "formatting characters (found {found})"
)


def plain_text_problem(text: str) -> str | None:
    """Why ``text`` is not plain printable text (what a terminal shows as it is), or None."""
    for char in text:
        if not char.isprintable():
            return PLAIN_TEXT_RULE.format(found=f"U+{ord(char):04X}")
    return None


def _sources(value: object) -> object:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and 0 < len(v) <= 200 for k, v in value.items()
    ):
        raise rules.RuleError("", None, SOURCES_RULE)
    for key, text in value.items():
        # It came from what people typed in a registration form, and is printed in the instructor's terminal.
        problem = plain_text_problem(text)
        if problem is not None:
            field = f"sources.{key}" if rules.USERNAME.regex.fullmatch(key) else "sources"
            raise rules.RuleError(field, text, problem)
    return value


class UsersAddParams(Params):
    usernames: Annotated[list[ParticipantName], names(MAX_USERS_PER_REQUEST), AfterValidator(unique)]
    admin: Flag = False
    # name -> what the instructor gave for it (an e-mail address, a full name): kept in the roster
    sources: Annotated[dict[str, str] | None, BeforeValidator(_sources)] = None

    @model_validator(mode="after")
    def _sources_of_usernames(self) -> Self:
        if self.sources is not None and not set(self.sources) <= set(self.usernames):
            raise rules.RuleError("sources", None, SOURCES_RULE)
        return self


class UsersRemoveParams(Params):
    username: Username


def _record_users(services: Services, params: dict[str, Any]) -> None:
    roster = services.stores.roster
    known = roster.find(params["usernames"])
    now = iso(services.clock())
    sources = params.get("sources") or {}
    entries = []
    for name in params["usernames"]:
        earlier = known.get(name)
        # One being removed comes back new.
        live = earlier if earlier is not None and not earlier.removing else None
        admin = params["admin"] or bool(live and live.admin)
        on_hub = bool(live and live.on_hub and live.admin == admin)
        added = live.added_at if live else now
        source = sources.get(name) or (earlier.source if earlier else None)
        entries.append(RosterEntry(name, admin=admin, on_hub=on_hub, added_at=added, source=source))
    roster.put(entries)


def _record_removal(services: Services, params: dict[str, Any]) -> None:
    name = params["username"]
    entry = services.stores.roster.find([name]).get(name)
    if entry is None:
        raise Missing("username", "is not on the roster", name)
    services.stores.roster.put(
        [
            RosterEntry(
                name,
                admin=False,
                on_hub=entry.on_hub,
                added_at=entry.added_at,
                removing=True,
                source=entry.source,
            )
        ]
    )


def converge(run: Run, *, prefix: str = "") -> dict[str, Any]:
    """One round: make the hub's users the roster's. Returns who was created and removed."""
    services = run.services

    # hubagent lists the users a page at a time (each result fits SSM's output): read every page.
    def page_after(after: str) -> dict[str, Any]:
        label = f"{prefix}users-list" + (f" after {after}" if after else "")
        return run.command(label, "users-list", {"After": after}, detail=_listed)

    on_hub = hub_users(page_after)
    collect(run, prefix)  # walk-ins from the sign-up door join the roster first: never created twice
    entries = run.flow.step(
        f"{prefix}read the roster",
        lambda: [vars(e) for e in services.stores.roster.entries(include_removing=True)],
        record=False,
    )
    wanted = {e["username"]: bool(e["admin"]) for e in entries if not e["removing"]}
    removing = [e["username"] for e in entries if e["removing"]]
    diff = roster_diff(wanted, removing, on_hub)
    for admin, names_ in ((True, diff.create_admins), (False, diff.create_users)):
        for chunk in chunks(names_, MAX_USERS_PER_REQUEST):
            params = {"Usernames": " ".join(chunk), "Admin": "true" if admin else "false"}
            run.command(
                f"{prefix}users-add admin={str(admin).lower()} ({len(chunk)})",
                "users-add",
                params,
                detail=lambda r: f"{len(r.get('created', []))} created",
            )
            on_hub.update(dict.fromkeys(chunk, admin))
    for name in diff.remove:
        run.command(f"{prefix}users-remove {name}", "users-remove", {"Username": name})
        on_hub.pop(name, None)
    gone = diff.remove + diff.forget
    created = diff.create_admins + diff.create_users
    # Roster users the hub had already (created by hand, or before the roster knew them) are there too.
    unmarked = [
        e["username"] for e in entries if not e["removing"] and not e["on_hub"] and e["username"] in on_hub
    ]
    if gone or created or unmarked:
        run.flow.step(
            f"{prefix}record who is on the hub",
            lambda: _record_on_hub(run, set(on_hub), gone),
            detail=lambda _: f"{len(created)} created, {len(gone)} removed",
        )
    return {"changed": bool(created or gone), "created": created, "removed": gone}


def _listed(page: dict[str, Any]) -> str:
    more = f", more after {page['next']}" if page.get("next") else ""
    return f"{len(page.get('names') or [])} on the hub{more}"


def _record_on_hub(run: Run, on_hub: set[str], gone: list[str]) -> None:
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


USERS_ADD = Kind(
    "users-add",
    UsersAddParams,
    Instructor(Route("POST", "/users"), command="users add", example={"usernames": ["ada", "grace"]}),
    lease=False,
    record=_record_users,
    syncs_roster=True,
)
USERS_REMOVE = Kind(
    "users-remove",
    UsersRemoveParams,
    Instructor(Route("DELETE", "/users/{username}"), command="users remove", example={"username": "ada"}),
    lease=False,
    record=_record_removal,
    syncs_roster=True,
)
ROSTER_SYNC = Kind(
    "roster-sync", Params, CONTROL_PLANE, workflow=roster_sync, lease=False, after_failure=after_failure
)
KINDS = (USERS_ADD, USERS_REMOVE, ROSTER_SYNC)
