"""users set-passwords: initial passwords for hub users, written into FirstUseAuthenticator's store.

Only bcrypt hashes arrive here: hubctl hashes each password on the instructor's computer, so the
password itself is never in the API, the control plane's records, SSM's command history or on this
instance. The credentials come on stdin (``NAME:HASH`` separated by whitespace), never as arguments or
shell text. Each name must be a user on the hub. A user who already has a password (they logged in and
chose one) keeps it unless ``--reset``.

The store is FirstUse's own dbm file, written in the hub's Python with the dbm module and the path
FirstUse uses (``dbm.open(auth.dbm_path, "c", 0o600)``, ``db[name] = hash``), exactly what its own
login and ``reset_password`` store, so the hub checks a login against it with bcrypt as its own.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from hubagent import rules
from hubagent.errors import ActionFailed, InputError
from hubagent.hubapi import Hub
from hubagent.proc import log
from hubagent.settings import Settings

MAX_CREDENTIALS = rules.MAX_CREDENTIALS_PER_REQUEST

# Runs in the hub's Python; the hashes and the store's path arrive as JSON on stdin.
_WRITE = """
import dbm, json, sys, time
from firstuseauthenticator import FirstUseAuthenticator
request = json.load(sys.stdin)
auth = FirstUseAuthenticator(dbm_path=request["dbm_path"], check_passwords_on_startup=False)
for attempt in range(50):  # the hub holds the store's lock while someone logs in
    try:
        db = dbm.open(auth.dbm_path, "c", 0o600)
        break
    except OSError:
        time.sleep(0.1)
else:
    raise SystemExit("the password store stayed locked for 5 s")
done = {"set": [], "kept": []}
with db:
    for name, hashed in request["credentials"].items():
        if name.encode() in db and not request["reset"]:
            done["kept"].append(name)
            continue
        db[name] = hashed.encode()
        done["set"].append(name)
print(json.dumps(done))
"""


def parse(text: str) -> dict[str, str]:
    """NAME:HASH pairs from stdin, each checked; a name given twice is refused. An error names the
    entry, the user and the rule, never the hash."""
    credentials: dict[str, str] = {}
    for index, item in enumerate(text.split()):
        field = f"credentials[{index}]"
        if ":" not in item:
            raise InputError(f"{field}: must be NAME:HASH")
        name, hashed = item.split(":", 1)
        try:
            rules.USERNAME.check(field, name)
        except rules.RuleError as err:
            raise InputError(str(err)) from None
        try:
            rules.BCRYPT_HASH.check(field, hashed)
        except rules.RuleError as err:
            raise InputError(f"{field} (user {name!r}): the hash {err.rule}") from None
        if name in credentials:
            raise InputError(f"{field}: {name!r} is given twice")
        credentials[name] = hashed
    if not credentials:
        raise InputError("credentials: give at least one NAME:HASH on stdin")
    if len(credentials) > MAX_CREDENTIALS:
        raise InputError(f"credentials: more than {MAX_CREDENTIALS} in one request; split them")
    return credentials


def set_passwords(hub: Hub, settings: Settings, credentials: dict[str, str], reset: bool) -> dict[str, Any]:
    missing = [name for name in credentials if hub.user(name) is None]
    if missing:
        raise ActionFailed(
            f"not users on the hub: {', '.join(missing)}; add them first (no password was set)",
            {"missing": missing},
        )
    if not settings.hub_python.exists():
        raise ActionFailed(f"the hub's Python {settings.hub_python} is missing: is TLJH installed?")
    settings.password_db.parent.mkdir(parents=True, exist_ok=True)
    request = {"dbm_path": str(settings.password_db), "credentials": credentials, "reset": reset}
    log(f"storing {len(credentials)} initial password hash(es) in {settings.password_db}")
    try:
        done = subprocess.run(
            [str(settings.hub_python), "-I", "-c", _WRITE],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ActionFailed("writing the password store did not finish within 120 s") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise ActionFailed(f"writing the password store failed: {lines[-1] if lines else 'no output'}")
    result: dict[str, list[str]] = json.loads(done.stdout)
    return {"changed": bool(result["set"]), "set": result["set"], "kept": result["kept"]}
