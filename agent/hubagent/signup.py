"""signup open/close/list: the walk-in sign-up door's window and code, and who came through it.

The door itself (door.py) runs inside the hub; these actions are the only way its state changes, and
the control plane reaches them only through its API, the worker, SSM and this program.

* ``signup open --until TIME`` (the code's hash on stdin, never an argument: ``ps`` shows arguments to
  every user) writes the door file; on a hub that does not load the door yet it first installs it (a
  snippet in TLJH's jupyterhub_config.d and the door's modules) and restarts the hub once
  (``tljh-config reload hub``; running servers keep running).
* ``signup close`` shuts it (the door also shuts by itself at its time).
* ``signup list --after N`` gives the walk-ins after the N-th, as many as fit one result.
"""

from __future__ import annotations

import datetime as dt
from importlib import resources
from typing import Any

from hubagent import doorfile, rules
from hubagent.errors import InputError
from hubagent.proc import log, run
from hubagent.settings import Settings

# The door's modules, copied into Settings.door_dir/hubagent/ for the hub's Python.
DOOR_MODULES = ("__init__.py", "rules.py", "doorfile.py", "door.py")
SNIPPET_NAME = "workshop-hub-signup.py"
# CloudFront appends the viewer's address to X-Forwarded-For, traefik the CloudFront server's.
INSTANCE_FORWARDED_HOPS = 2
SNIPPET = """\
# Installed by workshop-hub (hubagent signup open): the walk-in sign-up door at /hub/signup, on top of
# FirstUseAuthenticator (TLJH's c.FirstUseAuthenticator settings apply to it); closed until its file opens it.
import sys

sys.path.insert(0, {door_dir!r})
c = get_config()  # noqa: F821
c.JupyterHub.authenticator_class = "hubagent.door.SignupAuthenticator"
c.SignupAuthenticator.door_file = {door_file!r}
c.SignupAuthenticator.spool_file = {spool!r}
c.SignupAuthenticator.forwarded_hops = {hops}
"""


def check_until(value: str, now: dt.datetime) -> dt.datetime:
    try:
        rules.ISO_TIME.check("until", value)
        until = doorfile.parse_time(value)
    except (rules.RuleError, ValueError) as err:
        raise InputError(str(err)) from None
    if until <= now:
        raise InputError(f"until: {value!r} is in the past")
    return until


def check_code_hash(text: str) -> str:
    try:
        return rules.CODE_HASH.check("code_hash", text.strip())
    except rules.RuleError as err:  # the value is not repeated
        raise InputError(f"code_hash (stdin): {err.rule}") from None


def _install(settings: Settings) -> bool:
    """Put the door where the hub loads it; True when something changed (the hub must restart)."""
    if settings.door_dir is None:
        return False  # the hub loads the door already (the sandbox's hub config names it)
    package = resources.files("hubagent")
    wanted = {
        settings.door_dir / "hubagent" / name: package.joinpath(name).read_text() for name in DOOR_MODULES
    }
    snippet = SNIPPET.format(
        door_dir=str(settings.door_dir),
        door_file=str(settings.door_file),
        spool=str(settings.signup_spool),
        hops=INSTANCE_FORWARDED_HOPS,
    )
    wanted[settings.hub_config_d / SNIPPET_NAME] = snippet
    changed = False
    for path, text in wanted.items():
        if path.exists() and path.read_text() == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        path.write_text(text)
        path.chmod(0o644)
        changed = True
    return changed


def _restart_hub(settings: Settings) -> None:
    log("restarting the hub so it loads the sign-up door (running servers keep running)")
    # tljh-config waits for the hub with no timeout of its own (FACTS)
    run(
        ["timeout", "300", settings.tljh_config, "reload", "hub"],
        what="restarting the hub to load the sign-up door (the door is not open)",
        timeout=320,
    )


def open_door(settings: Settings, until: dt.datetime, code_hash: str) -> dict[str, Any]:
    installed = _install(settings)
    if installed:
        _restart_hub(settings)
    boot = doorfile.boot_id(settings.boot_id_file)
    body = {
        "open": True,
        "until": until.isoformat(),
        "code_hash": code_hash,
        "boot_id": boot,
        "opened_at": dt.datetime.now(dt.timezone.utc).isoformat(),  # noqa: UP017 (3.10)
    }
    doorfile.write_door(settings.door_file, body)
    log(f"the sign-up door is open until {until.isoformat()}")
    _, signups = doorfile.read_signups(settings.signup_spool)
    return {
        "changed": True,
        "open": True,
        "until": until.isoformat(),
        "door_installed": installed,
        "signups": len(signups),
    }


def close_door(settings: Settings) -> dict[str, Any]:
    was = doorfile.read_door(settings.door_file)
    closed_at = dt.datetime.now(dt.timezone.utc).isoformat()  # noqa: UP017 (3.10)
    doorfile.write_door(settings.door_file, {"open": False, "closed_at": closed_at})
    _, signups = doorfile.read_signups(settings.signup_spool)
    return {"changed": was.open, "open": False, "signups": len(signups)}


def check_after(value: str) -> int:
    if not value.isdigit() or len(value) > 7:
        raise InputError(f"after: {value!r} must be a whole number (how many walk-ins were read before)")
    return int(value)


def list_signups(settings: Settings, after: int, per_page: int = rules.SIGNUPS_PER_PAGE) -> dict[str, Any]:
    """``{"spool", "count", "signups": [[seq, name, time], ...], "next"}``: the walk-ins after the
    ``after``-th, at most ``per_page``; ``next`` is the ``after`` of the following page, or null."""
    spool, signups = doorfile.read_signups(settings.signup_spool)
    page = [s for s in signups if s.seq > after][:per_page]
    more = bool(page) and page[-1].seq < len(signups)
    return {
        "changed": False,
        "spool": spool,
        "count": len(signups),
        "signups": [[s.seq, s.username, s.signed_up_at] for s in page],
        "next": page[-1].seq if more else None,
    }
