"""Install packages into the participants' environment, and forget one asked for. A package that cannot
be installed fails alone, is remembered as failed, and never blocks the others again. Recorded as
desired state first; installed now through hubagent, or by the reconcile at the next start."""

from __future__ import annotations

from typing import Annotated, Any, Self

from hubagent import rules
from pydantic import Field, model_validator

from workshop_hub.errors import Missing, OperationFailed
from workshop_hub.kinds.kind import Instructor, Kind, Route
from workshop_hub.kinds.params import Manager, Params, names, unique
from workshop_hub.ports import AgentFailed
from workshop_hub.run import Run
from workshop_hub.services import Services
from workshop_hub.times import iso


class PackagesParams(Params):
    manager: Manager = "pip"
    packages: Annotated[list[Annotated[str, Field(strict=True)]], names(rules.MAX_PACKAGES_PER_REQUEST)]

    @model_validator(mode="after")
    def _specs(self) -> Self:
        # The rule depends on the manager, so items are checked here with their index in the field name.
        for index, spec in enumerate(self.packages):
            rules.check_package(self.manager, spec, f"packages[{index}]")
        return self

    def record(self) -> dict[str, Any]:
        return {"packages": unique(self.packages), "manager": self.manager}


class PackagesRemoveParams(Params):
    manager: Manager = "pip"
    spec: Annotated[str, Field(strict=True)]

    @model_validator(mode="after")
    def _spec(self) -> Self:
        rules.check_package(self.manager, self.spec, "spec")
        return self


def _record(services: Services, params: dict[str, Any]) -> None:
    services.stores.desired.put_packages(params["manager"], params["packages"])


def _forget(services: Services, params: dict[str, Any]) -> None:
    if not services.stores.desired.forget_package(params["manager"], params["spec"]):
        raise Missing(
            "spec", f"is not a {params['manager']} package asked for through the API", params["spec"]
        )


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
    try:
        result = run.on_hub("packages-install", params, label=label, defer=defer)
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


PACKAGES = Kind(
    "packages",
    PackagesParams,
    Instructor(
        Route("POST", "/packages"), command="packages add", example={"packages": ["geopandas==1.0.1"]}
    ),
    workflow=packages,
    record=_record,
)
PACKAGES_REMOVE = Kind(
    "packages-remove",
    PackagesRemoveParams,
    Instructor(
        Route("DELETE", "/packages/{spec}"),
        command="packages remove",
        example={"spec": "geopandas==1.0.1", "manager": "pip"},
    ),
    lease=False,
    record=_forget,
)
KINDS = (PACKAGES, PACKAGES_REMOVE)
