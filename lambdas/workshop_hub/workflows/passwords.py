"""Initial passwords: store the bcrypt hashes hubctl made (the passwords never left the instructor's
computer) in the hub's FirstUse store, for users on the hub. It needs no lease (it neither stops nor
resizes the hub) and it is never deferred: an initial password matters when people log in, so a hub
that is not running is refused with a clear message. The hashes are read from their own item inside
the one step that sends them (kinds.PASSWORD_HASHES); no step's value or detail, no record and no log
line carries one."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from workshop_hub.errors import OperationFailed
from workshop_hub.ports import AgentError
from workshop_hub.workflows.run import Run


def set_passwords(run: Run) -> dict[str, Any]:
    services = run.services
    t = services.timeouts
    names: list[str] = list(run.params["usernames"])
    reset: bool = bool(run.params.get("reset"))
    state = run.state()
    if state != "running":
        raise OperationFailed(
            f"the hub is {state}: initial passwords are set only on a running hub (start it with "
            "'hubctl start', then ask again); no password was set"
        )

    def on_hub() -> int | None:
        known = services.stores.roster.find(names)
        gone = [n for n in names if n not in known or known[n].removing]
        if gone:
            raise OperationFailed(f"no longer on the roster: {', '.join(gone)}; no password was set")
        waiting = [n for n in names if not known[n].on_hub]
        if waiting:
            more = f" and {len(waiting) - 5} more" if len(waiting) > 5 else ""
            run.flow.waiting(f"not on the hub yet: {', '.join(waiting[:5])}{more}")
            return None
        return len(names)

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

    def send() -> dict[str, list[str]]:
        hashes = services.stores.passwords.get(run.op.id)
        if hashes is None or any(name not in hashes for name in names):
            raise OperationFailed(
                "the password hashes are gone (kept for a day); run 'hubctl users add --passwords' again"
            )
        params = {
            "Credentials": " ".join(f"{name}:{hashes[name]}" for name in names),
            "Reset": "true" if reset else "false",
        }
        try:
            answer = run.command("users-set-passwords", params, t.command_s)
        except AgentError:
            raise  # hubagent's errors and results name users, never a hash
        except ClientError as err:  # never str(err): an AWS message may quote the parameters
            code = err.response.get("Error", {}).get("Code", "ClientError")
            raise OperationFailed(f"SSM did not take users-set-passwords ({code})") from None
        return {"set": _names(answer, "set"), "kept": _names(answer, "kept")}

    done = run.flow.step(
        f"users-set-passwords ({len(names)})",
        send,
        detail=lambda r: f"{len(r['set'])} set, {len(r['kept'])} kept their own",
    )
    return {"set": done["set"], "kept": done["kept"], "changed": bool(done["set"])}


def _names(answer: dict[str, Any], key: str) -> list[str]:
    return [str(name) for name in answer.get(key) or []]
