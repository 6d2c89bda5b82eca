"""The rehearsal: a throwaway, non-admin participant walks the workshop on the hub itself, before the day.

Through hubagent (agent/hubagent/rehearsal.py), one command at a time: the participant logs in, starts
their server and follows the nbgitpuller link; then every notebook of the notebooks repo (exercises and
completed versions alike) runs in the participant's own kernel, past failing cells, each failure with
a category and a hint; a notebook whose cells outlast one command goes on in the next from where it
stopped (its kernel waits in the participant's server). Whatever happens, the participant is removed
afterwards (server, hub user, unix user, home); one that could not be removed (the hub stopped) is
removed by the next rehearsal before it begins.

The participant is ``rehearsal--`` and the operation's short id: the API refuses that prefix for real
participants, and a rehearsal refuses to start while the roster holds one. It holds the hub's lease
(nothing resizes the hub under it) and needs a running hub: it is never deferred.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from aws_durable_execution_sdk_python.exceptions import UnrecoverableError
from hubagent import rules
from pydantic import BeforeValidator

from workshop_hub.errors import InvalidRequest, OperationFailed
from workshop_hub.kinds.kind import Instructor, Kind, Route
from workshop_hub.kinds.params import GitRef, GitUrl, Params
from workshop_hub.ports import AgentError, AgentOffline
from workshop_hub.run import Run
from workshop_hub.services import Services

MAX_CELL_TIMEOUT = 420  # hubagent's rehearsal.MAX_CELL_TIMEOUT: a cell's whole time fits one command
DEFAULT_CELL_TIMEOUT = 300
# A notebook goes on over at most this many commands (8 minutes of cells each).
MAX_PARTS = 30
# The report kept in the operation: failures beyond this many characters keep their cell and category.
REPORT_BUDGET = 120_000


def _cell_timeout(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_CELL_TIMEOUT:
        raise rules.RuleError("", value, f"must be a whole number of seconds from 1 to {MAX_CELL_TIMEOUT}")
    return value


class RehearseParams(Params):
    """``{}``: the notebooks repo of workshop.yaml; ``repo`` (and ``branch``) for another one."""

    repo: GitUrl | None = None
    branch: GitRef = None
    cell_timeout: Annotated[int, BeforeValidator(_cell_timeout)] = DEFAULT_CELL_TIMEOUT


def participant_of(op_id: str) -> str:
    """The throwaway participant of one rehearsal: the prefix and the operation's short id."""
    tail = "".join(ch for ch in op_id.rsplit("-", 1)[-1].lower() if ch.isalnum())
    return f"{rules.REHEARSAL_PREFIX}{(tail + '000000')[:6]}"


def _check(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    """The notebooks repo to rehearse (workshop.yaml's unless given); refused while the roster holds
    a name of the rehearsal's own."""
    taken = [
        e.username for e in services.stores.roster.entries() if e.username.startswith(rules.REHEARSAL_PREFIX)
    ]
    if taken:
        raise InvalidRequest(
            "roster",
            f"holds {', '.join(taken)}, a name kept for the rehearsal's throwaway participant; remove it "
            "first (hubctl users remove NAME), then rehearse",
        )
    if params.get("repo"):
        return params
    notebooks = services.config.notebooks
    if notebooks is None:
        raise InvalidRequest("repo", "is required: workshop.yaml has no notebooks repo to rehearse")
    return {**params, "repo": notebooks.repo, "branch": params.get("branch") or notebooks.branch}


def rehearse(run: Run) -> dict[str, Any]:
    p = run.params
    state = run.state()
    if state != "running":
        raise OperationFailed(
            f"the hub is {state}: a rehearsal runs on the running hub (start it with 'hubctl start', "
            "then rehearse again)"
        )
    participant = participant_of(run.op.id)
    repo, branch = str(p["repo"]), str(p.get("branch") or "")
    report: dict[str, Any] = {"participant": participant, "repo": repo, "branch": branch or None}
    report["cell_timeout"] = int(p.get("cell_timeout") or DEFAULT_CELL_TIMEOUT)
    # Not `finally`: a durable wait suspends the invocation by raising (a BaseException), and the participant
    # must not be removed then, while their notebook still runs.
    try:
        begun = run.command(
            f"{participant} logs in and follows the link",
            "rehearse-begin",
            {"Participant": participant, "Repo": repo, "Branch": branch},
            detail=lambda r: f"{r.get('count', 0)} notebooks in ~/{r.get('folder', '?')}",
        )
        report |= {
            key: begun.get(key) for key in ("link", "how", "folder", "data", "data_bytes", "folder_bytes")
        }
        report["removed_before"] = begun.get("removed_leftovers") or []
        listed = dict(enumerate(begun.get("notebooks") or []))
        report["notebooks"] = [
            _notebook(run, participant, repo, index, listed.get(index, {}), int(begun.get("count") or 0))
            for index in range(int(begun.get("count") or 0))
        ]
    except UnrecoverableError:
        raise
    except Exception:
        report["removed"] = _remove(run, participant)
        raise
    report["removed"] = _remove(run, participant)
    report["totals"] = totals(report["notebooks"])
    return fit(report)


def _notebook(
    run: Run, participant: str, repo: str, index: int, info: dict[str, Any], count: int
) -> dict[str, Any]:
    """One notebook, over as many commands as its cells need; a notebook hubagent could not run is
    reported with why, and the rehearsal goes on with the next."""
    name = str(info.get("name") or f"notebook {index + 1}")
    parts: list[dict[str, Any]] = []
    from_cell = 0
    for part in range(MAX_PARTS):
        params = {
            "Participant": participant,
            "Repo": repo,
            "Index": str(index),
            "FromCell": str(from_cell),
            "CellTimeout": str(run.params.get("cell_timeout") or DEFAULT_CELL_TIMEOUT),
        }
        label = f"notebook {index + 1} of {count}: {name}" + (
            f" (from cell {from_cell}, part {part + 1})" if part else ""
        )
        try:
            done = run.command(
                label,
                "rehearse-notebook",
                params,
                detail=lambda r: f"{r.get('ran', 0)} cells ran, {r.get('failed', 0)} failed",
            )
        except AgentOffline:
            raise
        except AgentError as err:
            return {
                "name": name,
                "index": index,
                "error": str(err).splitlines()[0][:300],
                "ran": 0,
                "failed": 0,
            }
        parts.append(done)
        following = done.get("next_cell")
        if following is None:
            break
        from_cell = int(following)
    else:
        parts[-1]["error"] = f"stopped after {MAX_PARTS} runs of 8 minutes"
    return merged(parts, index)


def merged(parts: list[dict[str, Any]], index: int) -> dict[str, Any]:
    """One notebook's report from the results of its commands (each ran some of its cells)."""
    first, last = parts[0], parts[-1]
    sums = (
        "ran",
        "failed",
        "worked",
        "import_cells",
        "code_seconds",
        "cpu_seconds",
        "import_seconds",
        "import_cpu_seconds",
        "seconds",
    )
    out: dict[str, Any] = {
        "name": first.get("notebook"),
        "index": index,
        **{key: first.get(key) for key in ("cells", "code_cells", "empty_cells", "kernel", "kernel_note")},
        **{key: round(sum(float(p.get(key) or 0) for p in parts), 3) for key in sums},
        "outcomes": "".join(str(p.get("outcomes") or "") for p in parts),
        "failures": [f for p in parts for f in p.get("failures") or []],
        "failures_complete": all(p.get("failures_complete", True) for p in parts),
        "peak_bytes": max(int(p.get("peak_bytes") or 0) for p in parts),
        "baseline_bytes": int(first.get("baseline_bytes") or 0),
        "written_bytes": int(last.get("written_bytes") or 0),
    }
    for count in ("ran", "failed", "worked", "import_cells"):
        out[count] = int(out[count])
    errors = [str(p["error"]) for p in parts if p.get("error")]
    if errors:
        out["error"] = "; ".join(errors)
    return {key: value for key, value in out.items() if value is not None}


def _remove(run: Run, participant: str) -> dict[str, Any]:
    """The participant's removal, on every path; when the hub cannot take it now, the next rehearsal
    removes them before it begins (and says so)."""
    try:
        done = run.command(
            f"remove {participant} (server, hub user, unix user, home)",
            "rehearse-end",
            {"Participant": participant},
        )
    except AgentError as err:
        return {"done": False, "error": str(err).splitlines()[0][:300]}
    return {"done": True, "names": done.get("removed") or []}


def totals(notebooks: list[dict[str, Any]]) -> dict[str, int]:
    return {
        "notebooks": len(notebooks),
        "failed_notebooks": sum(1 for n in notebooks if n.get("failed") or n.get("error")),
        "cells_ran": sum(int(n.get("ran") or 0) for n in notebooks),
        "cells_failed": sum(int(n.get("failed") or 0) for n in notebooks),
        "code_cells": sum(int(n.get("code_cells") or 0) for n in notebooks),
    }


def fit(report: dict[str, Any], budget: int = REPORT_BUDGET) -> dict[str, Any]:
    """The report within ``budget`` characters of JSON (the operation's record has a size limit): the
    failures that fit keep their error and hint, the rest their cell and category."""
    if len(json.dumps(report)) <= budget:
        return report
    used = len(json.dumps({**report, "notebooks": [{**n, "failures": []} for n in report["notebooks"]]}))
    notebooks = []
    for notebook in report["notebooks"]:
        kept = []
        for failure in notebook.get("failures") or []:
            size = len(json.dumps(failure)) + 2
            if used + size > budget:
                failure = {"cell": failure.get("cell"), "category": failure.get("category")}
                size = len(json.dumps(failure)) + 2
            kept.append(failure)
            used += size
        notebooks.append(
            {
                **notebook,
                "failures": kept,
                "failures_complete": False
                if kept != notebook.get("failures")
                else notebook.get("failures_complete", True),
            }
        )
    return {**report, "notebooks": notebooks}


REHEARSE = Kind(
    "rehearse",
    RehearseParams,
    Instructor(
        Route("POST", "/rehearse", body="optional"), command="rehearse", example={"cell_timeout": 120}
    ),
    workflow=rehearse,
    check=_check,
)
KINDS = (REHEARSE,)
