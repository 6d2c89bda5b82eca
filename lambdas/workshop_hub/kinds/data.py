"""Sync a data repo: clone or update it into /srv/data/NAME on the hub, read-only to users and linked into
every home; or remove one (the folder and its links). Recorded as desired state first; applied now
through hubagent, or by the reconcile at the next start when the hub is not running."""

from __future__ import annotations

from typing import Any

from workshop_hub.errors import InvalidRequest, Missing
from workshop_hub.kinds.kind import Instructor, Kind, Route
from workshop_hub.kinds.params import DataName, GitRef, GitUrl, Params
from workshop_hub.run import Run
from workshop_hub.services import Services


class DataSyncParams(Params):
    """``{"name"}``: sync that configured data repo (optionally at another ``ref``);
    ``{"name", "repo"[, "ref"]}``: add or change a data repo and sync it."""

    name: DataName
    repo: GitUrl | None = None
    ref: GitRef = None

    def record(self) -> dict[str, Any]:
        # No ref is recorded as None: the repo's default branch.
        return super().record() | {"ref": self.ref}


class DataRemoveParams(Params):
    """``{"name"}``: a data repo to remove from the hub (workshop.yaml's too)."""

    name: DataName


def known_repos(services: Services) -> dict[str, dict[str, str | None]]:
    """Every data repo: workshop.yaml's, then those asked for through the API (which win), less those
    removed."""
    desired = services.stores.desired.get()
    repos: dict[str, dict[str, str | None]] = {
        r.name: {"repo": r.repo, "ref": r.ref} for r in services.config.data_repos
    }
    repos.update(desired.data_repos)
    return {name: repo for name, repo in repos.items() if name not in desired.removed_data}


def removed_repos(services: Services) -> list[str]:
    """The data repos removed: every reconcile makes sure they are gone from the hub."""
    return sorted(services.stores.desired.get().removed_data)


def _with_its_repo(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    """A name alone names a data repo already known: its URL (and ref, unless another is asked for)."""
    if "repo" in params:
        return params
    repo = known_repos(services).get(params["name"])
    if repo is None:
        raise InvalidRequest("repo", "is required for a data repo that is not configured yet", None)
    return {**params, "repo": repo["repo"], "ref": params["ref"] or repo.get("ref")}


def _record(services: Services, params: dict[str, Any]) -> None:
    services.stores.desired.put_data_repo(params["name"], params["repo"], params["ref"])


def agent_params(name: str, repo: str, ref: str | None) -> dict[str, str]:
    """hubagent data-sync's parameters (the SSM document's names)."""
    return {"Name": name, "Repo": repo, "Ref": ref or ""}


def data_sync(run: Run) -> dict[str, Any] | None:
    p = run.params
    params = agent_params(p["name"], p["repo"], p["ref"])
    return run.on_hub("data-sync", params, defer=f"data:{p['name']}")


def _known(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    if params["name"] not in known_repos(services):
        raise Missing("name", "is not a data repo (hubctl status lists them)", params["name"])
    return params


def _forget(services: Services, params: dict[str, Any]) -> None:
    services.stores.desired.remove_data_repo(params["name"])


def data_remove(run: Run) -> dict[str, Any] | None:
    name = run.params["name"]
    return run.on_hub("data-remove", {"Name": name}, defer=f"data-remove:{name}")


DATA_SYNC = Kind(
    "data-sync",
    DataSyncParams,
    Instructor(Route("POST", "/data/sync"), command="sync", example={"name": "workshopdata"}),
    workflow=data_sync,
    check=_with_its_repo,
    record=_record,
)
DATA_REMOVE = Kind(
    "data-remove",
    DataRemoveParams,
    Instructor(Route("DELETE", "/data/{name}"), command="data remove", example={"name": "workshopdata"}),
    workflow=data_remove,
    check=_known,
    record=_forget,
)
KINDS = (DATA_SYNC, DATA_REMOVE)
