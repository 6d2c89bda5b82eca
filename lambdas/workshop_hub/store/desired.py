"""What the instructor asked the hub to be: pk="desired" sk="hub", data repos (pk="data"), packages
(pk="package"), and what waits for the next reconcile.

    instance_type     the everyday size asked for through the API (resize --everyday)
    volume_gib        the size asked for by the last grow
    keep_awake_until  ISO time; the night stop leaves the hub up until then
    keep_awake_stop   the one-time stop the night stop moved to keep-awake's end (and its window, in s)
    pending           string set: what was recorded while the hub could not take it ("users",
                      "data:NAME", "packages", "filesystem"); cleared only by a reconcile that succeeded
    pending_gen       incremented with every addition to ``pending``: a reconcile clears only what it saw

    pk="volume-change" sk=START  a grow's volume modification (EC2 reports only the latest), for 2 days
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from workshop_hub.store.table import Table, n, number, s, text


def package_key(manager: str, spec: str) -> str:
    # PEP 503 normalized name: "Pandas>=2" and "pandas==2.2" are the same package.
    name = re.match(r"[A-Za-z0-9._-]+", spec)
    normalized = re.sub(r"[-_.]+", "-", (name.group(0) if name else spec)).lower()
    return f"{manager}#{normalized}"


@dataclass
class DesiredState:
    instance_type: str | None = None
    volume_gib: int | None = None
    keep_awake_until: str | None = None
    keep_awake_stop: str | None = (
        None  # the one-time stop at keep-awake's end, once the night stop moved there
    )
    keep_awake_window_s: int = 0  # ... and how long after it the stop happens whatever the activity
    stop_at: str | None = None  # a one-time stop that is pending (postponed, or moved to keep-awake's end)
    stop_why: str | None = None
    pending: set[str] = field(default_factory=set)
    pending_gen: int = 0
    data_repos: dict[str, dict[str, str | None]] = field(default_factory=dict)
    packages: dict[str, list[str]] = field(default_factory=dict)
    # Specs that could not be installed: never tried again until asked for again (never block the rest).
    failed_packages: list[dict[str, str]] = field(default_factory=list)


class Desired:
    def __init__(self, table: Table) -> None:
        self.table = table

    def get(self) -> DesiredState:
        item = self.table.get("desired", "hub") or {}
        state = DesiredState(
            instance_type=text(item, "instance_type"),
            volume_gib=number(item, "volume_gib") or None,
            keep_awake_until=text(item, "keep_awake_until"),
            keep_awake_stop=text(item, "keep_awake_stop"),
            keep_awake_window_s=number(item, "keep_awake_window_s"),
            stop_at=text(item, "stop_at"),
            stop_why=text(item, "stop_why"),
            pending=set(item.get("pending", {}).get("SS", [])),
            pending_gen=number(item, "pending_gen"),
        )
        for repo in self.table.query("data"):
            body = json.loads(repo["data"]["S"])
            state.data_repos[repo["sk"]["S"]] = {"repo": body["repo"], "ref": body.get("ref")}
        for package in self.table.query("package"):
            manager = package["sk"]["S"].split("#", 1)[0]
            if "failed_error" in package:
                state.failed_packages.append(
                    {
                        "manager": manager,
                        "spec": package["spec"]["S"],
                        "error": package["failed_error"]["S"],
                        "at": str(text(package, "failed_at", "")),
                    }
                )
            elif "failed_only" not in package:
                state.packages.setdefault(manager, []).append(package["spec"]["S"])
        return state

    def set(self, **values: str | int) -> None:
        attrs: dict[str, Any] = {f":{k}": n(v) if isinstance(v, int) else s(v) for k, v in values.items()}
        self.table.update(
            "desired",
            "hub",
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in values),
            ExpressionAttributeNames={f"#{k}": k for k in values},
            ExpressionAttributeValues=attrs,
        )

    def unset(self, *names: str) -> None:
        self.table.update(
            "desired",
            "hub",
            UpdateExpression="REMOVE " + ", ".join(f"#{k}" for k in names),
            ExpressionAttributeNames={f"#{k}": k for k in names},
        )

    def defer(self, *what: str) -> None:
        """Record that ``what`` waits for the next reconcile."""
        self.table.update(
            "desired",
            "hub",
            UpdateExpression="ADD pending :what, pending_gen :one",
            ExpressionAttributeValues={":what": {"SS": sorted(set(what))}, ":one": n(1)},
        )

    def settle(self, generation: int) -> bool:
        """A reconcile that saw ``generation`` succeeded: nothing is pending, unless more was deferred since."""
        return (
            self.table.update(
                "desired",
                "hub",
                UpdateExpression="REMOVE pending",
                ConditionExpression="attribute_not_exists(pending_gen) OR pending_gen = :g",
                ExpressionAttributeValues={":g": n(generation)},
            )
            is not None
        )

    def record_volume_change(self, modification: dict[str, Any]) -> None:
        """A grow's modification, kept two days: EC2 reports only the latest one, and EBS takes at
        most four in a rolling 24 hours."""
        self.table.put(
            {
                **self.table.key("volume-change", str(modification["started_at"])),
                "data": s(json.dumps(modification)),
                "expires_at": n(self.table.epoch(2 * 24 * 3600)),
            }
        )

    def volume_changes(self) -> list[dict[str, Any]]:
        return [json.loads(i["data"]["S"]) for i in self.table.query("volume-change")]

    def put_data_repo(self, name: str, repo: str, ref: str | None) -> None:
        self.table.put({**self.table.key("data", name), "data": s(json.dumps({"repo": repo, "ref": ref}))})

    def put_packages(self, manager: str, specs: list[str]) -> None:
        for spec in specs:
            self.table.put({**self.table.key("package", package_key(manager, spec)), "spec": s(spec)})

    def mark_package_failed(self, manager: str, spec: str, error: str, at: str, *, asked: bool) -> None:
        """``spec`` could not be installed: remembered with why, and left out of every later install.
        ``asked``: it was asked for through the API (forgetting it removes it); otherwise it comes from
        workshop.yaml and the mark alone keeps it out (editing workshop.yaml and deploying clears it)."""
        item = {
            **self.table.key("package", package_key(manager, spec)),
            "spec": s(spec),
            "failed_error": s(error[:2000]),
            "failed_at": s(at),
        }
        if not asked:
            item["failed_only"] = {"BOOL": True}
        self.table.put(item)

    def forget_package(self, manager: str, spec: str) -> bool:
        """Forget a package asked for through the API; False when there was none of that name."""
        key = package_key(manager, spec)
        # A workshop.yaml spec that failed is not the API's to forget: workshop.yaml says what it wants.
        return self.table.delete(
            "package", key, ConditionExpression="attribute_exists(pk) AND attribute_not_exists(failed_only)"
        )
