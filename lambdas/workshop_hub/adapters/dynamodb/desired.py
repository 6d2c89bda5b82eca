"""The desired state (stores.DesiredState) on DynamoDB: pk="desired" sk="hub" holds its single values and
what is pending, pk="data" sk=NAME a data repo (or, with removed=true, one removed), pk="package" sk=MANAGER#NAME a package (or one that failed),
pk="volume-change" sk=START a grow's volume modification (EC2 reports only the latest), for 2 days."""

from __future__ import annotations

import json
from typing import Any

from workshop_hub.adapters.dynamodb.table import Table, n, number, s, text
from workshop_hub.stores import DesiredState, package_key


class DynamoDesired:
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
            signup_until=text(item, "signup_until"),
            signup_code=text(item, "signup_code"),
            signup_spool=text(item, "signup_spool"),
            signup_seen=number(item, "signup_seen"),
        )
        for repo in self.table.query("data"):
            if "removed" in repo:
                state.removed_data.add(repo["sk"]["S"])
                continue
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

    def remove_data_repo(self, name: str) -> None:
        self.table.put({**self.table.key("data", name), "removed": {"BOOL": True}})

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
