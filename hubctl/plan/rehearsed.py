"""The plan from what really ran on the hub: a rehearsal's notebooks (hubctl rehearse) as the plan's
measurements, their memory and CPU read on the hub, in a participant's own kernel, with the hub's
packages and data."""

from __future__ import annotations

from typing import Any

from hubctl import views
from hubctl.errors import NotFound
from hubctl.invocation import Invocation
from hubctl.operations import fetch, full_id, recent
from hubctl.plan.arithmetic import Failure, Measured, Measurements

LATEST = "latest"


def measured(notebook: dict[str, Any]) -> Measured:
    """One notebook of a rehearsal's report (kinds/rehearse.py) as the plan counts it."""
    code_seconds = float(notebook.get("code_seconds") or 0)
    cpu = float(notebook.get("cpu_seconds") or 0)
    code_cells = int(notebook.get("code_cells") or 0) - int(notebook.get("empty_cells") or 0)
    return Measured(
        name=str(notebook.get("name") or "?"),
        code_cells=max(0, code_cells),
        import_cells=int(notebook.get("import_cells") or 0),
        ran=int(notebook.get("ran") or 0),
        failed=int(notebook.get("failed") or 0),
        worked=int(notebook.get("worked") or 0),
        peak_bytes=int(notebook.get("peak_bytes") or 0),
        baseline_bytes=int(notebook.get("baseline_bytes") or 0),
        seconds=round(code_seconds + float(notebook.get("import_seconds") or 0), 2),
        import_seconds=round(float(notebook.get("import_seconds") or 0), 2),
        cpu_share=round(cpu / code_seconds, 3) if code_seconds > 0 else 0.0,
        disk_bytes=int(notebook.get("written_bytes") or 0),
        failures=tuple(
            Failure(int(f.get("cell") or 0), str(f.get("error") or ""), f.get("category"), f.get("hint"))
            for f in notebook.get("failures") or []
        ),
        error=notebook.get("error") if not notebook.get("ran") else None,
    )


def find(inv: Invocation, which: str) -> Measurements:
    """The rehearsal ``which`` (an operation id, its short id, or 'latest': the newest that succeeded)."""
    if which == LATEST:
        done = [op for op in recent(inv) if op.get("kind") == "rehearse" and op.get("state") == "succeeded"]
        if not done:
            raise NotFound(
                "no rehearsal has run on this hub yet (none among the recent operations)",
                "run hubctl rehearse first, or plan from local runs (without --rehearsal)",
            )
        op_id = str(done[0]["id"])
    else:
        op_id = full_id(inv, which)
    op = fetch(inv, op_id)
    if op.get("kind") != "rehearse" or op.get("state") != "succeeded":
        raise NotFound(
            f"operation {op_id} is not a rehearsal that ran ({op.get('kind')}, {op.get('state')})",
            "give the id of a rehearsal that succeeded (hubctl ops list), or --rehearsal latest",
        )
    result = op.get("result") or {}
    when = views.local(op.get("ended_at"), inv.zone(), "%a %d %b %H:%M")
    return Measurements(
        measured=[measured(n) for n in result.get("notebooks") or []],
        source=f"rehearsal {views.short_id(op_id)} on the hub, {when}, of {result.get('repo', '?')}",
        notebooks_bytes=int(result.get("folder_bytes") or 0),
        data_bytes=int(result.get("data_bytes") or 0),
    )
