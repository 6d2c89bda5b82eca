"""hubagent on a hub, in memory, and a clock a test moves.

FakeHub keeps the hub's state in memory (users, data repos, packages, disk) and answers like hubagent
(one JSON result, ``changed`` true only when something changed). It is honest where it matters to
the control plane: it refuses parameters that break hubagent's rules (as the SSM documents'
allowedPattern would) and it is offline unless the instance (``instance_state``) is running.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hubagent import documents, rules
from workshop_hub.ports import ACTIONS, AgentError, AgentFailed, AgentOffline, AgentTimeout, command_timeout

from tests.support import agent_answers


class FakeTime:
    """The plane's clock: sleeping moves it on at once."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now_ = start or dt.datetime.now(dt.UTC)
        self.slept = 0.0

    def now(self) -> dt.datetime:
        # A millisecond passes at every look, as on a real clock: operation ids stay in order.
        self.now_ += dt.timedelta(milliseconds=1)
        return self.now_

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now_ += dt.timedelta(seconds=seconds)

    def advance(self, **delta: float) -> None:
        self.now_ += dt.timedelta(**delta)


def _split(value: str) -> list[str]:
    return value.split(" ") if value else []


@dataclass
class FakeHub:
    """hubagent on a hub, in memory."""

    instance_state: Callable[[], str]
    users: dict[str, bool] = field(default_factory=dict)  # name -> admin
    data: dict[str, tuple[str, str]] = field(default_factory=dict)
    packages: dict[str, set[str]] = field(default_factory=dict)
    disk_gib: int = 30
    volume_gib: Callable[[], int] = lambda: 30
    active_users: list[str] = field(default_factory=list)
    passwords: dict[str, str] = field(default_factory=dict)  # name -> bcrypt hash (FirstUse's store)
    healthy: bool = True
    fail: dict[str, str] = field(default_factory=dict)  # action -> error message (ok: false)
    hang: set[str] = field(default_factory=set)  # actions that time out
    missing: set[str] = field(default_factory=set)  # package specs no index has
    install_attempts: list[str] = field(default_factory=list)
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    users_page: int = 1000  # names a users-list answer holds (hubagent: as many as fit SSM's output)
    # The notebooks a rehearsal finds: each {"name", "code_cells", "parts": {from_cell: result}}, where a
    # result is what rehearse-notebook answers for a run that starts at that cell (next_cell: more to run).
    material: list[dict[str, Any]] = field(default_factory=list)
    slow: dict[str, float] = field(default_factory=dict)  # action -> real seconds its command runs
    commands: dict[str, tuple[float, Any]] = field(default_factory=dict)  # id -> (ready at, outcome)
    cancelled: list[str] = field(default_factory=list)
    sent: int = 0
    door: dict[str, str] = field(default_factory=dict)  # the sign-up door file: until, code_hash
    spool: list[tuple[str, str]] = field(default_factory=list)  # walk-ins: (name, signed up at)
    spool_id: str = "spool-1"

    def walk_in(self, name: str, at: str) -> None:
        """Someone signs up at the door: a hub user, and a line in the spool (as door.py does)."""
        assert self.door, "the door is closed"
        self.users[name] = False
        self.spool.append((name, at))

    def send(self, action: str, params: Mapping[str, str]) -> str:
        """InstanceCommands: the action's effect happens now (``run``, which a test may replace); its
        result is there at once, or after ``slow[action]`` real seconds, or never (``hang``)."""
        self.sent += 1
        command_id = f"cmd-{self.sent:06d}"
        ready = time.monotonic() + self.slow.get(action, 0.0)
        if action in self.hang:
            self._validate(action, dict(params))
            self.calls.append((action, dict(params)))
            self.commands[command_id] = (float("inf"), None)
            return command_id
        try:
            outcome: Any = self.run(action, params, command_timeout(action))
        except AgentError as err:
            outcome = err
        self.commands[command_id] = (ready, outcome)
        return command_id

    def result(self, command_id: str, action: str) -> dict[str, Any] | None:
        ready, outcome = self.commands[command_id]
        if time.monotonic() < ready:
            return None
        if isinstance(outcome, AgentError):
            raise outcome
        return dict(outcome)

    def give_up(self, command_id: str, action: str, waited_s: int) -> AgentError:
        self.cancelled.append(command_id)
        return AgentTimeout(f"{action} did not finish within {waited_s} s (command {command_id} cancelled)")

    def run(self, action: str, params: Mapping[str, str], timeout_s: int = 600) -> dict[str, Any]:
        assert action in ACTIONS, action
        params = dict(params)
        self._validate(action, params)
        if self.instance_state() != "running":
            raise AgentOffline(
                f"the hub instance is {self.instance_state()}, so its agent cannot take commands"
            )
        self.calls.append((action, params))
        if action in self.hang:
            raise AgentTimeout(f"{action} did not finish within {timeout_s} s")
        if action in self.fail:
            result = {"ok": False, "action": action, "changed": False, "error": self.fail[action]}
            raise AgentFailed(self.fail[action], result)
        details = getattr(self, "_" + action.replace("-", "_"))(params)
        return {"ok": True, "action": action, **details}

    def _validate(self, action: str, p: dict[str, str]) -> None:
        expected = {
            "users-add": {"Usernames", "Admin"},
            "users-remove": {"Username"},
            "data-sync": {"Name", "Repo", "Ref"},
            "data-remove": {"Name"},
            "packages-install": {"Manager", "Packages"},
            "activity": {"Minutes"},
            "users-list": {"After"},
            "users-set-passwords": {"Credentials", "Reset"},
            "rehearse-begin": {"Participant", "Repo", "Branch"},
            "rehearse-notebook": {"Participant", "Repo", "Index", "FromCell", "CellTimeout"},
            "rehearse-end": {"Participant"},
            "signup-open": {"Until", "CodeHash"},
            "signup-list": {"After"},
        }.get(action, set())
        assert set(p) == expected, f"{action}: parameters {sorted(p)} != {sorted(expected)}"
        if action == "users-add":
            names = _split(p["Usernames"])
            assert 1 <= len(names) <= rules.MAX_USERS_PER_REQUEST
            for name in names:
                rules.check_username(name)
            assert p["Admin"] in ("true", "false")
        elif action == "users-remove":
            rules.check_username(p["Username"])
        elif action == "data-remove":
            rules.check_data_name(p["Name"])
        elif action == "data-sync":
            rules.check_data_name(p["Name"])
            rules.check_git_url(p["Repo"])
            if p["Ref"]:
                rules.check_git_ref(p["Ref"])
        elif action == "packages-install":
            for spec in _split(p["Packages"]):
                rules.check_package(p["Manager"], spec)
        elif action == "activity":
            assert p["Minutes"].isdigit()
        elif action == "users-list" and p["After"]:
            rules.check_username(p["After"])
        elif action == "users-set-passwords":  # as SSM checks the document's parameters
            documents.CREDENTIAL_LIST.check("Credentials", p["Credentials"])
            assert p["Reset"] in ("true", "false")
        elif action.startswith("rehearse-"):
            for name, value in p.items():
                rule = documents.PARAMETERS[action][name]
                if value or name != "Branch":
                    assert isinstance(rule, rules.Rule)
                    rule.check(name, value)
        elif action == "signup-open":
            rules.ISO_TIME.check("Until", p["Until"])
            rules.CODE_HASH.check("CodeHash", p["CodeHash"])
        elif action == "signup-list":
            documents.COUNT.check("After", p["After"])

    def _health(self, p: dict[str, str]) -> dict[str, Any]:
        return {
            "changed": False,
            "hub_ok": self.healthy,
            "installed": True,
            "hub_version": "5.2.1" if self.healthy else None,
        }

    def _activity(self, p: dict[str, str]) -> dict[str, Any]:
        return agent_answers.activity(int(p["Minutes"]), self.active_users, users=len(self.users))

    def _users_list(self, p: dict[str, str]) -> dict[str, Any]:
        return agent_answers.users_list(self.users, p["After"], self.users_page)

    def _users_add(self, p: dict[str, str]) -> dict[str, Any]:
        admin = p["Admin"] == "true"
        names = _split(p["Usernames"])
        created = [n for n in names if n not in self.users]
        promoted = [n for n in names if n in self.users and admin and not self.users[n]]
        for name in created + promoted:
            self.users[name] = admin
        return {
            "changed": bool(created or promoted),
            "created": created,
            "promoted": promoted,
            "existing": [n for n in names if n not in created],
            "admin": admin,
        }

    def _users_remove(self, p: dict[str, str]) -> dict[str, Any]:
        removed = self.users.pop(p["Username"], None) is not None
        return {"changed": removed, "removed": removed, "name": p["Username"]}

    def _users_set_passwords(self, p: dict[str, str]) -> dict[str, Any]:
        """As hubagent: every name must be a hub user; a user with a password keeps it unless Reset."""
        pairs = [item.split(":", 1) for item in _split(p["Credentials"])]
        missing = [name for name, _ in pairs if name not in self.users]
        if missing:
            raise AgentFailed(
                f"not users on the hub: {', '.join(missing)}; add them first (no password was set)",
                {"ok": False, "changed": False, "missing": missing},
            )
        done: dict[str, list[str]] = {"set": [], "kept": []}
        for name, hashed in pairs:
            if name in self.passwords and p["Reset"] != "true":
                done["kept"].append(name)
                continue
            self.passwords[name] = hashed
            done["set"].append(name)
        return {"changed": bool(done["set"]), **done}

    def _data_sync(self, p: dict[str, str]) -> dict[str, Any]:
        wanted = (p["Repo"], p["Ref"])
        changed = self.data.get(p["Name"]) != wanted
        self.data[p["Name"]] = wanted
        return {"changed": changed, "name": p["Name"], "path": f"/srv/data/{p['Name']}"}

    def _data_remove(self, p: dict[str, str]) -> dict[str, Any]:
        removed = self.data.pop(p["Name"], None) is not None
        return {"changed": removed, "name": p["Name"], "removed": removed}

    def _packages_install(self, p: dict[str, str]) -> dict[str, Any]:
        """As hubagent: a spec that cannot install fails alone (``missing``); the others install."""
        have = self.packages.setdefault(p["Manager"], set())
        specs = _split(p["Packages"])
        self.install_attempts.extend(specs)
        failed = [
            {"spec": s, "error": f"No matching distribution found for {s}"}
            for s in specs
            if s in self.missing
        ]
        new = [s for s in specs if s not in have and s not in self.missing]
        have.update(new)
        answer = {"changed": bool(new), "installed": new, "failed": failed}
        if failed and len(failed) == len(specs):
            raise AgentFailed("no package could be installed", {"ok": False, **answer})
        return answer

    def _rehearse_begin(self, p: dict[str, str]) -> dict[str, Any]:
        gone = sorted(n for n in self.users if n.startswith(rules.REHEARSAL_PREFIX))
        for name in gone:
            del self.users[name]
        self.users[p["Participant"]] = False
        listed = [
            {"name": n["name"], "code_cells": n.get("code_cells", 1), "empty_cells": 0} for n in self.material
        ]
        folder = p["Repo"].rstrip("/").split("/")[-1]
        return {
            "changed": True,
            "participant": p["Participant"],
            "folder": folder,
            "count": len(self.material),
            "notebooks": listed,
            "data": sorted(self.data),
            "data_bytes": 1000,
            "folder_bytes": 2000,
            "removed_leftovers": gone,
        }

    def _rehearse_notebook(self, p: dict[str, str]) -> dict[str, Any]:
        assert p["Participant"] in self.users, "the participant was not created first"
        notebook = self.material[int(p["Index"])]
        part = dict(notebook["parts"][int(p["FromCell"])])
        if part.get("error") == "fail":
            raise AgentFailed("the kernel did not answer within 60 s", {"ok": False, "error": "no kernel"})
        return {"changed": False, "notebook": notebook["name"], "next_cell": None, **part}

    def _rehearse_end(self, p: dict[str, str]) -> dict[str, Any]:
        removed = self.users.pop(p["Participant"], None) is not None
        return {
            "changed": removed,
            "participant": p["Participant"],
            "removed": [p["Participant"]] if removed else [],
        }

    def _signup_open(self, p: dict[str, str]) -> dict[str, Any]:
        self.door = {"until": p["Until"], "code_hash": p["CodeHash"]}
        return {"changed": True, "open": True, "until": p["Until"], "door_installed": False}

    def _signup_close(self, p: dict[str, str]) -> dict[str, Any]:
        was = bool(self.door)
        self.door = {}
        return {"changed": was, "open": False}

    def _signup_list(self, p: dict[str, str]) -> dict[str, Any]:
        """Two walk-ins a page (hubagent: as many as fit), so the control plane reads every page."""
        after = int(p["After"])
        page = [(seq, name, at) for seq, (name, at) in enumerate(self.spool, start=1) if seq > after][:2]
        more = bool(page) and page[-1][0] < len(self.spool)
        return {
            "changed": False,
            "spool": self.spool_id if self.spool else "",
            "count": len(self.spool),
            "signups": [list(entry) for entry in page],
            "next": page[-1][0] if more else None,
        }

    def _disk_grow(self, p: dict[str, str]) -> dict[str, Any]:
        before, after = self.disk_gib, self.volume_gib()
        self.disk_gib = after
        return {"changed": after > before, "before_gib": before, "after_gib": after}
