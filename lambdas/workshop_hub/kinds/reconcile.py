"""Reconcile: bring a running hub to the desired state: the filesystem, the roster, every data repo (and
the removal of those removed), every package. Each part is tried; a reconcile with failed parts tries
again after a wait (durable: no compute), letting go of the hub meanwhile so that other operations run,
and fails loudly (the failed-operation alarm) after its last try. What was deferred stays pending until
a reconcile succeeds. The EC2 state-change rule asks for one when the hub reaches running; the
instructor may too."""

from __future__ import annotations

from typing import Any

from aws_durable_execution_sdk_python.exceptions import UnrecoverableError

from workshop_hub import turns
from workshop_hub.errors import OperationFailed
from workshop_hub.kinds.data import agent_params, known_repos, removed_repos
from workshop_hub.kinds.kind import Instructor, Kind, Route
from workshop_hub.kinds.packages import install
from workshop_hub.kinds.params import Params
from workshop_hub.kinds.signup import apply_door
from workshop_hub.kinds.users import converge
from workshop_hub.run import Run
from workshop_hub.stores import package_key


def wanted_packages(run: Run) -> dict[str, list[str]]:
    services = run.services
    wanted: dict[str, str] = {}
    desired = services.stores.desired.get()
    for manager, specs in (("pip", services.config.packages.pip), ("conda", services.config.packages.conda)):
        for spec in specs:
            wanted[package_key(manager, spec)] = spec
    for manager, specs in desired.packages.items():
        for spec in specs:
            wanted[package_key(manager, spec)] = spec
    for failed in desired.failed_packages:  # remembered as failed: never blocks the others again
        if wanted.get(package_key(failed["manager"], failed["spec"])) == failed["spec"]:
            del wanted[package_key(failed["manager"], failed["spec"])]
    by_manager: dict[str, list[str]] = {}
    for key, spec in sorted(wanted.items()):
        by_manager.setdefault(key.split("#", 1)[0], []).append(spec)
    return by_manager


def _attempt(run: Run, round_no: int) -> tuple[dict[str, Any], list[str]]:
    prefix = "" if round_no == 1 else f"try {round_no}: "
    results: dict[str, Any] = {}
    failures: list[str] = []

    def part(label: str, work: Any) -> None:
        try:
            results[label] = work()
        except UnrecoverableError:
            raise
        except Exception as err:
            failures.append(f"{label}: {err}")

    def command(action: str, params: dict[str, str], label: str) -> Any:
        return run.command(prefix + label, action, params)

    part("disk-grow", lambda: command("disk-grow", {}, "disk-grow"))
    part("users", lambda: converge(run, prefix=prefix))
    # After the users: the door opens only once the roster's names are on the hub.
    door = run.flow.step(
        "read the sign-up door", lambda: bool(run.services.stores.desired.get().signup_until), record=False
    )
    if door:
        part("signup", lambda: apply_door(run, prefix))
    repos = run.flow.step("read the data repos", lambda: known_repos(run.services), record=False)
    for name, repo in sorted(repos.items()):
        params = agent_params(name, str(repo["repo"]), repo.get("ref"))
        part(
            f"data-sync {name}",
            lambda params=params, name=name: command("data-sync", params, f"data-sync {name}"),
        )
    removed = run.flow.step("read the data repos removed", lambda: removed_repos(run.services), record=False)
    for name in removed:
        part(
            f"data-remove {name}",
            lambda name=name: command("data-remove", {"Name": name}, f"data-remove {name}"),
        )
    packages = run.flow.step("read the packages", lambda: wanted_packages(run), record=False)
    for manager, specs in packages.items():
        part(
            f"packages-install {manager}",
            lambda manager=manager, specs=specs: install(
                run, manager, specs, label=f"{prefix}packages-install {manager}"
            ),
        )
    return results, failures


def reconcile(run: Run) -> dict[str, Any]:
    services = run.services
    state = run.settle()
    if state != "running":
        run.flow.note(f"skipped: the hub is {state}; the next start reconciles")
        return {"changed": False, "skipped": state}
    generation = run.flow.step(
        "read what is pending", lambda: services.stores.desired.get().pending_gen, record=False
    )
    run.wait_for_hub()
    retries = services.timeouts.reconcile_retries_s
    for round_no in range(1, len(retries) + 2):
        results, failures = _attempt(run, round_no)
        if not failures:
            run.flow.step("nothing pending any more", lambda: services.stores.desired.settle(generation))
            return {
                "changed": any(isinstance(r, dict) and r.get("changed") for r in results.values()),
                "results": results,
            }
        if round_no > len(retries):
            break
        delay = retries[round_no - 1]
        # A failing part never holds the hub through its backoff: the hub goes to the next in line
        # meanwhile, and this reconcile queues again (by its id, so right behind whoever holds it then).
        run.flow.step("let go of the hub meanwhile", lambda: turns.leave(services, run.op.id), record=False)
        run.flow.sleep(
            f"{len(failures)} part(s) failed; trying again in {delay} s (the hub is free meanwhile)", delay
        )
        run.flow.step(
            "queue for the hub again",
            lambda: services.stores.lease.enqueue(run.op.id, run.op.kind),
            record=False,
        )
        turns.wait_for_turn(run, label=f"wait for the hub (try {round_no + 1})")
        state = run.settle()
        if state != "running":
            run.flow.note(f"stopped retrying: the hub is {state} now; the next start reconciles")
            run.result["failed_parts"] = failures
            return {"changed": False, "skipped": state}
        run.wait_for_hub(f"wait for hub health (try {round_no + 1})")
    run.result["failed_parts"] = failures
    raise OperationFailed(
        f"{len(failures)} part(s) of the reconcile failed after {len(retries) + 1} tries: "
        + "; ".join(failures)
        + " (still pending; `hubctl reconcile` tries again)"
    )


RECONCILE = Kind(
    "reconcile",
    Params,
    Instructor(Route("POST", "/reconcile", body="none"), command="reconcile", example={}),
    workflow=reconcile,
)
KINDS = (RECONCILE,)
