"""Initial passwords: store the bcrypt hashes hubctl made (the passwords never left the instructor's
computer) in the hub's FirstUse store, for users on the hub. It needs no lease (it neither stops nor
resizes the hub) and it is never deferred: an initial password matters when people log in, so a hub
that is not running is refused with a clear message. The hashes are kept apart at submit and read from
their own item inside the one step that sends them (SensitiveParams); no step's value or detail, no
record and no log line carries one, and no refusal quotes one."""

from __future__ import annotations

from typing import Annotated, Any, Self

from hubagent import rules
from pydantic import BeforeValidator, model_validator

from workshop_hub.errors import Missing, OperationFailed
from workshop_hub.kinds.kind import Instructor, Kind, Route, SensitiveParams
from workshop_hub.kinds.params import Flag, Location, Params, Username, names
from workshop_hub.run import Run
from workshop_hub.services import Services

CREDENTIAL_SHAPE = 'must be {"username": NAME, "hash": BCRYPT_HASH}'
# An example that passes the rule (a hash of nothing anyone would type).
EXAMPLE_HASH = "$2b$12$" + "abcdefghijklmnopqrstuv" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ./012"


def _bcrypt_hash(value: object) -> str:
    try:
        return rules.check_bcrypt_hash(value, "")
    except rules.RuleError as err:  # the value is not shown: it may be the password itself
        raise rules.RuleError("", None, err.rule) from None


class Credential(Params):
    username: Username
    hash: Annotated[str, BeforeValidator(_bcrypt_hash)]  # bcrypt.hashpw(password, bcrypt.gensalt())


class InitialPasswordsParams(Params):
    """Initial passwords, as bcrypt hashes: the passwords themselves never leave hubctl's computer."""

    credentials: Annotated[list[Credential], names(rules.MAX_CREDENTIALS_PER_REQUEST)]
    reset: Flag = False  # also replace passwords users chose themselves

    @model_validator(mode="after")
    def _each_name_once(self) -> Self:
        seen: set[str] = set()
        for index, credential in enumerate(self.credentials):
            if credential.username in seen:
                raise rules.RuleError(f"credentials[{index}].username", credential.username, "is given twice")
            seen.add(credential.username)
        return self

    def record(self) -> dict[str, Any]:
        """The users and the flag, and ``hashes`` (name -> hash), which SensitiveParams keeps apart."""
        hashes = {c.username: c.hash for c in self.credentials}
        return {"usernames": list(hashes), "reset": self.reset, "hashes": hashes}

    @classmethod
    def shows_value(cls, location: Location) -> bool:
        # Only a user name is quoted: anything else under credentials may be a hash or a password.
        return location[:1] != ("credentials",) or location[-1:] == ("username",)

    @classmethod
    def rule_for(cls, location: Location, error_type: str) -> tuple[Location, str] | None:
        item = location[:2]
        if len(item) == 2 and isinstance(item[1], int):
            misshapen = len(location) == 2 or (len(location) == 3 and error_type == "missing")
            if misshapen:
                return item, CREDENTIAL_SHAPE
        return None


def _on_the_roster(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    """Every name must be on the roster (added, not being removed): else 404 naming it."""
    known = services.stores.roster.find(params["usernames"])
    for index, name in enumerate(params["usernames"]):
        entry = known.get(name)
        if entry is None or entry.removing:
            raise Missing(f"credentials[{index}].username", "is not on the roster (add the user first)", name)
    return params


def _keep_hashes(services: Services, op_id: str, params: dict[str, Any]) -> dict[str, Any]:
    services.stores.passwords.put(op_id, params["hashes"])
    return {key: value for key, value in params.items() if key != "hashes"}


def _forget_hashes(services: Services, op_id: str) -> None:
    services.stores.passwords.forget(op_id)


def set_passwords(run: Run) -> dict[str, Any]:
    services = run.services
    t = services.timeouts
    names_: list[str] = list(run.params["usernames"])
    reset: bool = bool(run.params.get("reset"))
    state = run.state()
    if state != "running":
        raise OperationFailed(
            f"the hub is {state}: initial passwords are set only on a running hub (start it with "
            "'hubctl start', then ask again); no password was set"
        )

    def on_hub() -> int | None:
        known = services.stores.roster.find(names_)
        gone = [n for n in names_ if n not in known or known[n].removing]
        if gone:
            raise OperationFailed(f"no longer on the roster: {', '.join(gone)}; no password was set")
        waiting = [n for n in names_ if not known[n].on_hub]
        if waiting:
            more = f" and {len(waiting) - 5} more" if len(waiting) > 5 else ""
            run.flow.waiting(f"not on the hub yet: {', '.join(waiting[:5])}{more}")
            return None
        return len(names_)

    run.flow.wait_until(
        "wait until the users are on the hub",
        on_hub,
        every_s=t.passwords_every_s,
        timeout_s=t.passwords_users_s,
        on_timeout=lambda note: OperationFailed(
            f"the users were not all on the hub within {t.passwords_users_s} s ({note or 'no answer'}); "
            "no password was set"
        ),
        detail=lambda count: f"{count} on the hub",
    )

    def credentials() -> dict[str, str]:
        # Read in the send step, never returned: no hash reaches a checkpoint, a record or a log.
        hashes = services.stores.passwords.get(run.op.id)
        if hashes is None or any(name not in hashes for name in names_):
            raise OperationFailed(
                "the password hashes are gone (kept for a day); run 'hubctl users add --passwords' again"
            )
        return {
            "Credentials": " ".join(f"{name}:{hashes[name]}" for name in names_),
            "Reset": "true" if reset else "false",
        }

    # hubagent's errors and results name users, never a hash; an AWS error is named by its code only.
    answer = run.command(
        f"users-set-passwords ({len(names_)})",
        "users-set-passwords",
        credentials,
        detail=lambda r: f"{len(_names(r, 'set'))} set, {len(_names(r, 'kept'))} kept their own",
        secret=True,
    )
    done = {"set": _names(answer, "set"), "kept": _names(answer, "kept")}
    return {"set": done["set"], "kept": done["kept"], "changed": bool(done["set"])}


def _names(answer: dict[str, Any], key: str) -> list[str]:
    return [str(name) for name in answer.get(key) or []]


USERS_SET_PASSWORDS = Kind(
    "users-set-passwords",
    InitialPasswordsParams,
    Instructor(
        Route("POST", "/users/passwords"),
        command="users add --passwords",
        example={"credentials": [{"username": "ada", "hash": EXAMPLE_HASH}]},
    ),
    workflow=set_passwords,
    # Beside the others, as the roster sync: it neither stops nor resizes the hub.
    lease=False,
    check=_on_the_roster,
    sensitive=SensitiveParams(_keep_hashes, _forget_hashes, "forget the password hashes"),
)
KINDS = (USERS_SET_PASSWORDS,)
