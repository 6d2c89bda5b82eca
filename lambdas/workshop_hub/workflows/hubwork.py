"""data sync and packages: recorded as desired state at submit, applied through hubagent now, or by
the reconcile at the next start."""

from __future__ import annotations

from typing import Any

from workshop_hub.workflows.run import Run


def data_sync(run: Run) -> dict[str, Any] | None:
    p = run.params
    params = {"Name": p["name"], "Repo": p["repo"], "Ref": p["ref"] or ""}
    t = run.services.timeouts
    return run.on_hub("data-sync", params, timeout_s=t.command_s, defer=f"data:{p['name']}")


def packages(run: Run) -> dict[str, Any] | None:
    p = run.params
    params = {"Manager": p["manager"], "Packages": " ".join(p["packages"])}
    t = run.services.timeouts
    return run.on_hub(
        "packages-install", params, timeout_s=t.packages_s, label="packages-install", defer="packages"
    )
