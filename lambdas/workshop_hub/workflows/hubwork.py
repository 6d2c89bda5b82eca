"""data sync and packages: recorded as desired state at submit, applied through hubagent now, or by
the reconcile at the next start."""

from __future__ import annotations

from typing import Any

from workshop_hub.errors import OperationFailed
from workshop_hub.operations import iso
from workshop_hub.ports import AgentFailed
from workshop_hub.workflows.run import Run


def data_sync(run: Run) -> dict[str, Any] | None:
    p = run.params
    params = {"Name": p["name"], "Repo": p["repo"], "Ref": p["ref"] or ""}
    t = run.services.timeouts
    return run.on_hub("data-sync", params, timeout_s=t.command_s, defer=f"data:{p['name']}")


def packages(run: Run) -> dict[str, Any] | None:
    p = run.params
    result = install(run, p["manager"], p["packages"], label="packages-install", defer="packages")
    failed = (result or {}).get("failed") or []
    if failed:
        run.result.update(result or {})
        listed = "; ".join(f"{f['spec']}: {f['error']}" for f in failed)
        raise OperationFailed(
            f"{len(failed)} of {len(p['packages'])} package(s) could not be installed ({listed}); the others are "
            "installed, and the failed ones are never tried again unless asked for again "
            "(hubctl packages remove SPEC forgets one)"
        )
    return result


def install(
    run: Run, manager: str, specs: list[str], *, label: str, defer: str = ""
) -> dict[str, Any] | None:
    """packages-install; each spec that failed is remembered as failed (it never blocks the others again)."""
    params = {"Manager": manager, "Packages": " ".join(specs)}
    t = run.services.timeouts
    try:
        result = run.on_hub("packages-install", params, timeout_s=t.packages_s, label=label, defer=defer)
    except AgentFailed as err:
        if not err.result.get("failed"):
            raise
        result = dict(err.result)  # none could be installed: each one's reason rides with the error
    failed = (result or {}).get("failed") or []
    if failed:
        asked = run.flow.step("read the packages asked for", lambda: _asked(run, manager), record=False)
        run.flow.step(
            "remember the packages that failed",
            lambda: _mark(run, manager, failed, asked),
            detail=lambda _: ", ".join(str(f["spec"]) for f in failed),
        )
    return result


def _asked(run: Run, manager: str) -> list[str]:
    return list(run.services.stores.desired.get().packages.get(manager, []))


def _mark(run: Run, manager: str, failed: list[dict[str, Any]], asked: list[str]) -> None:
    at = iso(run.services.clock())
    for entry in failed:
        spec = str(entry["spec"])
        run.services.stores.desired.mark_package_failed(
            manager, spec, str(entry.get("error") or "failed"), at, asked=spec in asked
        )
