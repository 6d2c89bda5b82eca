"""Looking at the deployed hub itself, not at the control plane's records: a fixed shell script run as
root on the instance through AWS's own `AWS-RunShellScript` document, with the operator's credentials.

Only the e2e layer uses this, and only with values it made itself (generated names, checked again
here): the control plane never runs shell text, it runs hubagent's documents with arguments.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from typing import Any

SAFE = re.compile(r"^[a-z0-9][a-z0-9_.=-]{0,63}$")
HUB_API = "http://127.0.0.1:15001/hub/api"
TOKEN = "/etc/workshop-hub/hub-token"
USER_PYTHON = "/opt/tljh/user/bin/python"


def run(ssm: Any, instance_id: str, script: str, timeout_s: int = 300) -> str:
    """Run ``script`` as root on the instance; its stdout (raises with stderr when it fails)."""
    sent = ssm.send_command(
        InstanceIds=[instance_id],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": [script]},
        Comment="workshop-hub e2e: look at the hub",
    )
    command_id = sent["Command"]["CommandId"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(2)
        try:
            found = ssm.get_command_invocation(
                CommandId=command_id, InstanceId=instance_id, PluginName="aws:runShellScript"
            )
        except ssm.exceptions.InvocationDoesNotExist:
            continue
        if found["Status"] in ("Pending", "InProgress", "Delayed"):
            continue
        if found["Status"] != "Success":
            raise AssertionError(
                f"{script!r} on the instance: {found['Status']}\n{found['StandardErrorContent']}"
            )
        return str(found["StandardOutputContent"])
    raise AssertionError(f"{script!r} did not finish in {timeout_s} s")


def _safe(value: str) -> str:
    if not SAFE.fullmatch(value):
        raise ValueError(f"{value!r} is not a value the e2e layer made")
    return shlex.quote(value)


def hub_user(ssm: Any, instance_id: str, name: str) -> dict[str, Any] | None:
    """JupyterHub's own record of ``name`` (None when the hub has no such user)."""
    out = run(
        ssm,
        instance_id,
        f'curl -s -o /dev/stdout -w "\\n%{{http_code}}" -H "Authorization: token $(cat {TOKEN})" '
        f"{HUB_API}/users/{_safe(name)}",
    )
    body, _, code = out.rstrip().rpartition("\n")
    if code.strip() == "404":
        return None
    assert code.strip() == "200", out
    answer: dict[str, Any] = json.loads(body)
    return answer


def data_folder(ssm: Any, instance_id: str, name: str, participant: str) -> dict[str, bool]:
    """Whether /srv/data/NAME exists, is linked into the participant's home, and is read-only to them."""
    folder, user = f"/srv/data/{_safe(name)}", f"jupyter-{_safe(participant)}"
    out = run(
        ssm,
        instance_id,
        f"test -d {folder} && echo exists; test -L /home/{user}/{_safe(name)} && echo linked; "
        f"id {user} >/dev/null 2>&1 && (sudo -u {user} touch {folder}/.e2e-write 2>/dev/null && echo writable "
        f"|| echo read-only); rm -f {folder}/.e2e-write",
    )
    words = set(out.split())
    return {"exists": "exists" in words, "linked": "linked" in words, "read_only": "read-only" in words}


def spawn(ssm: Any, instance_id: str, name: str) -> None:
    """Start the participant's server through the hub's REST API (TLJH makes their unix user and home)."""
    run(
        ssm,
        instance_id,
        f'curl -sf -X POST -H "Authorization: token $(cat {TOKEN})" {HUB_API}/users/{_safe(name)}/server; '
        f"for i in $(seq 60); do id jupyter-{_safe(name)} >/dev/null 2>&1 && "
        f"test -d /home/jupyter-{_safe(name)} && exit 0; sleep 2; done; exit 1",
    )


def installed(ssm: Any, instance_id: str, package: str) -> bool:
    """Whether the participants' environment has ``package`` (pip's own answer)."""
    out = run(
        ssm,
        instance_id,
        f"{USER_PYTHON} -m pip show {_safe(package)} >/dev/null 2>&1 && echo ok || echo missing",
    )
    return out.strip().endswith("ok")
