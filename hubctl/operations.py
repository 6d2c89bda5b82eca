"""Operations seen from hubctl: send a change, follow it to its end, find the recent ones.

Every change the API takes is an operation (``202 {"operation_id": ...}``); hubctl waits for it by
default, with its steps shown live on a terminal, and prints it once it has ended otherwise.
"""

from __future__ import annotations

import sys
from typing import Any

from hubctl import output, views
from hubctl.client import segment
from hubctl.errors import NotFound
from hubctl.invocation import Invocation

DEFAULT_TIMEOUT_S = 1800


def submit(
    inv: Invocation,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    no_wait: bool = False,
    timeout_s: int = DEFAULT_TIMEOUT_S,
) -> None:
    """Send a change (POST or DELETE), then follow its operation; with ``no_wait`` say its id and return."""
    client = inv.client()
    accepted = client.post(path, body) if method == "POST" else client.delete(path)
    op_id = str(accepted["operation_id"])
    if no_wait:
        if inv.json:
            output.print_json(accepted)
        else:
            output.stdout().print(
                output.safe(
                    f"operation {op_id} {accepted.get('state', 'queued')}; follow it with: "
                    f"hubctl ops show {op_id} --wait"
                )
            )
        return
    follow(inv, op_id, timeout_s)


def fetch(inv: Invocation, op_id: str) -> dict[str, Any]:
    answer = inv.client().get(f"/operations/{segment(op_id)}")
    assert isinstance(answer, dict)
    return answer


def follow(inv: Invocation, op_id: str, timeout_s: int) -> dict[str, Any]:
    """Wait for the operation to end, show it, and raise OperationFailed when it failed."""
    live = not inv.json and sys.stderr.isatty()
    tz = inv.zone()
    op = output.wait(lambda: fetch(inv, op_id), op_id, live=live, timeout_s=timeout_s, tz=tz)
    if inv.json:
        output.print_json(op)
    elif not live:
        output.show_operation(op, tz)
    if op.get("state") == "failed":
        raise output.failed(op)
    return op


def follow_quietly(inv: Invocation, op_id: str, timeout_s: int) -> dict[str, Any]:
    """Wait for an operation whose result must not be printed (it may echo what was sent)."""
    op = output.wait(lambda: fetch(inv, op_id), op_id, live=False, timeout_s=timeout_s)
    if op.get("state") == "failed":
        raise output.failed(op)
    return op


def recent(inv: Invocation) -> list[dict[str, Any]]:
    """The recent operations, newest first."""
    try:
        answer = inv.client().get("/operations")
    except NotFound:
        # An API without GET /operations: the last few that GET /status carries.
        status = inv.client().get("/status")
        last = status.get("last_operations") if isinstance(status, dict) else None
        if not inv.json:
            output.stderr().print("this API has no GET /operations: showing the last ones /status lists")
        return [op for op in last or [] if isinstance(op, dict)]
    listed = answer.get("operations") if isinstance(answer, dict) else answer
    return [op for op in listed or [] if isinstance(op, dict)]


def full_id(inv: Invocation, op_id: str) -> str:
    """A short id from `ops list` ('a1b2c3') is looked up among the recent operations."""
    if op_id.startswith("op-"):
        return op_id
    found = [str(op["id"]) for op in recent(inv) if views.matches(str(op.get("id", "")), op_id)]
    if len(found) != 1:
        raise NotFound(
            f"no recent operation has the short id {op_id!r}"
            if not found
            else f"{len(found)} recent operations end in {op_id!r}",
            "hubctl ops list shows them; give the full id (op-...)",
        )
    return found[0]
