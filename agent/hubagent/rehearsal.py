"""rehearse begin / notebook / end: walk the workshop as a participant, on the hub itself.

A throwaway, non-admin participant (``rehearsal--XXXXXX``: the API refuses that prefix for real
participants) is created on the hub and does what a participant does:

* begin: logs in through the login page (the first password typed becomes theirs), starts their
  server, opens the nbgitpuller link through the hub and lets the git-pull page's pull run (the real
  handler of their server), and lists the notebooks in the folder the link put them in;
* notebook (one per notebook, again for the rest when one run's time is up): opens the notebook as
  JupyterLab does (a session: the participant's server starts a kernel in the notebook's folder, with
  the hub's user environment and data), runs its code cells one by one over the kernel's WebSocket,
  past failing cells, and reports each cell's outcome; a failed cell gets a category and a hint
  (faults.py); the kernel's memory and CPU are read from /proc while the cells run;
* end: stops their server and removes them: hub user, unix user and home.

Begin first removes whatever an earlier rehearsal left (any ``rehearsal--*`` user). Every result fits
SSM's output (OUTPUT_BUDGET): failures beyond it are counted, not listed.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import stat
import time
import urllib.parse
from pathlib import Path
from typing import Any

from hubagent import cells, faults, proctree, rules
from hubagent.browser import Browser
from hubagent.errors import ActionFailed, InputError
from hubagent.hubapi import Hub, read_token
from hubagent.kernel import KernelClient, Reply, SocketClosed, UserServer
from hubagent.proc import log, run
from hubagent.settings import Settings

# One notebook command runs cells for at most settings.rehearse_budget_s (480 s; its SSM document allows
# 600 s): a cell starts only when it can run its whole timeout within it; the next command goes on from
# there. So a cell may run at most:
MAX_CELL_TIMEOUT = 420
DEFAULT_CELL_TIMEOUT = 300
SPAWN_SECONDS = 180
PULL_SECONDS = 300
TOKEN_SECONDS = 3600
OUTPUT_BUDGET = 20_000
ERROR_CHARS = 300
HINT_CHARS = 400
NAMES_BUDGET = 12_000


def check_participant(value: str) -> str:
    try:
        return rules.REHEARSAL_USER.check("participant", value)
    except rules.RuleError as err:
        raise InputError(str(err)) from None


def check_number(value: str, field: str, low: int, high: int) -> int:
    if not value.isdigit() or not low <= int(value) <= high:
        raise InputError(f"{field}: {value!r} must be a whole number from {low} to {high}")
    return int(value)


def check_repo(repo: str, branch: str, allow_local: bool) -> tuple[str, str]:
    try:
        rules.check_git_url(repo, "repo", allow_local=allow_local)
        if branch:
            rules.check_git_ref(branch, "branch")
    except rules.RuleError as err:
        raise InputError(str(err)) from None
    return repo, branch


def repo_dir(repo: str) -> str:
    """The folder nbgitpuller pulls into: the repository URL's last segment (a '.git' suffix kept)."""
    return repo.rstrip("/").split("/")[-1]


def link(repo: str, branch: str) -> str:
    """The nbgitpuller link the instructor hands out (hubctl link), as a path on the hub."""
    query = [("repo", repo)] + ([("branch", branch)] if branch else [])
    query.append(("urlpath", f"lab/tree/{repo_dir(repo)}/"))
    return "/hub/user-redirect/git-pull?" + urllib.parse.urlencode(
        query, quote_via=urllib.parse.quote, safe=""
    )


def home_of(settings: Settings, participant: str) -> Path:
    return settings.homes / f"jupyter-{participant}"


def _hub(settings: Settings) -> Hub:
    return Hub(settings.hub_api, read_token(settings.token_file))


def _token(hub: Hub, participant: str) -> str:
    """A short-lived API token of the participant's own (what their browser's session stands for)."""
    body = {"note": "workshop-hub rehearsal", "expires_in": TOKEN_SECONDS}
    _, made = hub.call("POST", f"/users/{participant}/tokens", body, ok=(200, 201))
    return str(made["token"])


def _server(hub: Hub, participant: str) -> dict[str, Any]:
    model = hub.user(participant) or {}
    return dict((model.get("servers") or {}).get("") or {})


def _wait_server(hub: Hub, participant: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server = _server(hub, participant)
        if server.get("ready"):
            return
        if not server and hub.user(participant) is None:
            raise ActionFailed(f"{participant} disappeared from the hub while their server started")
        time.sleep(0.5)
    raise ActionFailed(f"{participant}'s server did not start within {timeout:.0f} s (see the hub's log)")


# --- begin -------------------------------------------------------------------------------------------


def begin(settings: Settings, participant: str, repo: str, branch: str) -> dict[str, Any]:
    started = time.monotonic()
    hub = _hub(settings)
    leftovers = remove_all(hub, settings)
    log(f"creating {participant} (not an admin)")
    hub.call("POST", f"/users/{participant}", ok=(201,))
    hub.call("POST", f"/users/{participant}/server", ok=(201, 202))
    _wait_server(hub, participant, SPAWN_SECONDS)
    browser = Browser(settings.proxy_url)
    path = link(repo, branch)
    how = "logged in through the login page (first password), opened the link through the hub"
    if not browser.login(participant, secrets.token_urlsafe(18)):
        # another authenticator: the server's own git-pull page, with the participant's token
        browser = Browser(settings.proxy_url, token=_token(hub, participant))
        path = f"/user/{participant}/git-pull?{path.split('?', 1)[1]}"
        how = "the login page refused a first password: opened the link at their server with their API token"
    page, data = browser.pull_page(path)
    output = browser.pull(data, PULL_SECONDS)
    folder = home_of(settings, participant) / data.get("targetpath", repo_dir(repo))
    if not folder.is_dir():
        raise ActionFailed(f"nbgitpuller finished, but {folder} is not there")
    notebooks = cells.find_notebooks(folder)
    listed, used = [], 0
    for path_ in notebooks:
        info = _notebook_info(path_, folder)
        used += len(json.dumps(info)) + 2
        if used > NAMES_BUDGET:
            break
        listed.append(info)
    return {
        "changed": True,
        "participant": participant,
        "link": path,
        "opened": urllib.parse.urlsplit(page).path,
        "how": how,
        "git": [faults.plain(line, 200) for line in output[-5:]],
        "folder": folder.name,
        "count": len(notebooks),
        "notebooks": listed,
        "notebooks_complete": len(listed) == len(notebooks),
        "folder_bytes": tree_bytes(folder),
        "data": data_links(settings, home_of(settings, participant)),
        "data_bytes": tree_bytes(settings.data_root),
        "removed_leftovers": leftovers,
        "seconds": round(time.monotonic() - started, 2),
    }


def _notebook_info(path: Path, folder: Path) -> dict[str, Any]:
    name = str(path.relative_to(folder))
    try:
        code = cells.code_cells(cells.read(path))
    except (OSError, ValueError) as err:
        return {"name": name, "error": faults.plain(f"cannot be read: {err}", 200)}
    return {"name": name, "code_cells": len(code), "empty_cells": sum(1 for c in code if c.empty)}


def data_links(settings: Settings, home: Path) -> list[str]:
    """The data repos linked into a home (links into the data root)."""
    if not home.is_dir():
        return []
    root = settings.data_root.resolve()
    found = []
    for entry in sorted(home.iterdir()):
        if entry.is_symlink() and Path(os.path.realpath(entry)).parent == root:
            found.append(entry.name)
    return found


def tree_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (links not followed, git's own folder left out)."""
    total = 0
    for top, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in files:
            try:
                entry = (Path(top) / name).lstat()
            except OSError:
                continue
            if stat.S_ISREG(entry.st_mode):
                total += entry.st_size
    return total


# --- notebook ----------------------------------------------------------------------------------------


def notebook(
    settings: Settings, participant: str, repo: str, index: int, from_cell: int, cell_timeout: int
) -> dict[str, Any]:
    started = time.monotonic()
    hub = _hub(settings)
    home = home_of(settings, participant)
    folder = home / repo_dir(repo)
    found = cells.find_notebooks(folder) if folder.is_dir() else []
    if index >= len(found):
        raise ActionFailed(
            f"there is no notebook {index + 1} in {folder} (it has {len(found)}): run begin first"
        )
    path = found[index]
    name = str(path.relative_to(folder))
    result: dict[str, Any] = {"changed": False, "participant": participant, "index": index, "notebook": name}
    try:
        nb = cells.read(path)
    except (OSError, ValueError) as err:
        return result | {"error": faults.plain(f"the notebook cannot be read: {err}"), "next_cell": None}
    code = cells.code_cells(nb)
    result |= {
        "cells": len(nb.get("cells") or []),
        "code_cells": len(code),
        "empty_cells": sum(1 for c in code if c.empty),
        "from_cell": from_cell,
    }
    server = UserServer(settings.proxy_url, participant, _token(hub, participant))
    session_path = str(path.relative_to(home))
    kernel_note = None
    if from_cell == 0:
        default, known = server.kernel_names()
        wanted = cells.kernel_name(nb) or default
        kernel = wanted if wanted in known else default
        if kernel != wanted:
            kernel_note = f"the notebook asks for the kernel '{wanted}', which the hub does not have: ran it in '{kernel}'"
        session = server.open_notebook(session_path, kernel)
        before = tree_bytes(home)
    else:
        session = server.session_of(session_path) or {}
        before = None
        if not session:
            raise ActionFailed(f"{name}'s kernel from the earlier run is gone: rehearse again")
    result["kernel"] = (session.get("kernel") or {}).get("name")
    if kernel_note:
        result["kernel_note"] = kernel_note
    run_ = _Run(
        server,
        session,
        here=faults.Situation(
            home=home, data_root=settings.data_root, cell_timeout=cell_timeout, probe=faults.probe
        ),
    )
    try:
        result |= run_.cells(code, from_cell, cell_timeout, started, settings.rehearse_budget_s)
    finally:
        run_.close()
    if result["next_cell"] is None:
        server.close_notebook(str(session["id"]))  # as a participant closes it: the kernel shuts down
        if before is not None:
            result["written_bytes"] = max(0, tree_bytes(home) - before)
    result["seconds"] = round(time.monotonic() - started, 2)
    return _fit(result)


class _Run:
    """One notebook's kernel: its WebSocket, its process for /proc, and the counts of what ran."""

    def __init__(self, server: UserServer, session: dict[str, Any], here: faults.Situation) -> None:
        self.server = server
        self.kernel_id = str(session["kernel"]["id"])
        self.session_id = str(session["id"])
        self.here = here
        self.client = KernelClient(server.channels(self.kernel_id, self.session_id), self.session_id)
        self.client.wait_ready()
        pid = self._pid()
        self.sampler = proctree.PeakSampler(pid)
        self.baseline = self.sampler.sample()
        self.sampler.start()

    def _pid(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = proctree.find_kernel(self.kernel_id)
            if pid is not None:
                return pid
            time.sleep(0.2)
        raise ActionFailed(f"the kernel {self.kernel_id}'s process was not found in /proc")

    def close(self) -> None:
        self.sampler.stop()
        self.client.ws.close()

    def _recover(self, reply: Reply) -> None:
        """After a timeout: interrupt (as a participant presses stop), restart if it does not answer.
        After a death: the server restarted it; wait for the fresh one."""
        if reply.status == "timeout":
            self.server.interrupt(self.kernel_id)
            self.client.drain(5)
            try:
                self.client.wait_ready(20)
                return
            except ActionFailed:
                self.server.restart(self.kernel_id)
        self.client.wait_ready(90)
        self.sampler.follow(self._pid())

    def _facts(self) -> dict[str, Any]:
        reply = self.client.execute(
            faults.FACTS_CODE, 60, store_history=False, user_expressions={"facts": faults.FACTS_EXPRESSION}
        )
        value = (reply.user_expressions.get("facts") or {}).get("data", {}).get("text/plain")
        try:
            facts = json.loads(ast.literal_eval(value)) if isinstance(value, str) else {}
        except (ValueError, SyntaxError):
            facts = {}
        return facts if isinstance(facts, dict) else {}

    def cells(
        self, code: list[cells.Cell], from_cell: int, cell_timeout: int, started: float, budget_s: int
    ) -> dict[str, Any]:
        pid = self.sampler.pid
        spent = {"code_seconds": 0.0, "cpu_seconds": 0.0, "import_seconds": 0.0, "import_cpu_seconds": 0.0}
        outcomes, failures = "", []
        ran = failed = worked = import_cells = 0
        earlier: list[tuple[int, str]] = []
        next_cell = None
        for position, cell in enumerate(code):
            if cell.number < from_cell:
                continue
            if ran and time.monotonic() - started + cell_timeout > budget_s:
                next_cell = cell.number
                break
            if cell.empty:
                outcomes += "-"
                continue
            parts = (
                [("import", cell.imports), ("code", cell.rest)]
                if cell.imports and not cell.only_imports
                else [("import" if cell.only_imports else "code", cell.source)]
            )
            reply = Reply()
            cell_started = time.monotonic()
            for kind, source in parts:
                left = cell_timeout - (time.monotonic() - cell_started)
                cpu = proctree.tree_cpu_seconds(pid)
                try:
                    reply = self.client.execute(source, max(left, 1))
                except SocketClosed:
                    reply = Reply("died")
                self.sampler.sample()
                used = max(0.0, proctree.tree_cpu_seconds(pid) - cpu)
                spent[f"{'import_' if kind == 'import' else 'code_'}seconds"] += reply.seconds
                spent["import_cpu_seconds" if kind == "import" else "cpu_seconds"] += used
                if reply.status != "ok":
                    break
            ran += 1
            import_cells += 1 if cell.only_imports else 0
            if reply.status == "ok":
                outcomes += "."
                worked += 0 if cell.only_imports else 1
                continue
            failed += 1
            outcomes += {"timeout": "T", "died": "D"}.get(reply.status, "F")
            if reply.status in ("timeout", "died"):
                self._reconnect_if_closed()
                self._recover(reply)
                pid = self.sampler.pid
                facts: dict[str, Any] = {}
            else:
                facts = self._facts()
            here = self.here
            here.earlier = tuple(earlier)
            here.peak_mib = self.sampler.peak / 2**20
            finding = faults.classify(reply.status, reply.ename, reply.evalue, facts, here)
            error = {"timeout": f"ran longer than {cell_timeout} s", "died": "the kernel died"}.get(
                reply.status, f"{reply.ename}: {reply.evalue}"
            )
            failures.append(
                {
                    "cell": cell.number,
                    "code_cell": position + 1,
                    "category": finding.category,
                    "error": faults.plain(error, ERROR_CHARS),
                    "hint": faults.plain(finding.hint, HINT_CHARS),
                }
            )
            earlier.append((cell.number, cell.source))
        return {
            "ran": ran,
            "failed": failed,
            "worked": worked,  # cells beyond imports that ran without an error
            "import_cells": import_cells,
            "outcomes": outcomes,
            "failures": failures,
            "failures_complete": True,
            "next_cell": next_cell,
            "peak_bytes": self.sampler.peak,
            "baseline_bytes": self.baseline,
            **{key: round(value, 3) for key, value in spent.items()},
        }

    def _reconnect_if_closed(self) -> None:
        try:
            self.client.drain(0.1)
        except SocketClosed:
            self.client = KernelClient(self.server.channels(self.kernel_id, self.session_id), self.session_id)


def _fit(result: dict[str, Any], budget: int = OUTPUT_BUDGET) -> dict[str, Any]:
    """The result within ``budget`` characters of JSON: the failures that fit are listed whole, the rest
    keep their cell and category only, and, if still too long, only the count."""
    failures = list(result.get("failures") or [])
    if len(json.dumps(result)) <= budget:
        return result
    kept: list[dict[str, Any]] = []
    base = len(json.dumps({**result, "failures": []}))
    used = base
    for failure in failures:
        whole = len(json.dumps(failure)) + 2
        short = {"cell": failure["cell"], "category": failure["category"]}
        if used + whole <= budget - 200:
            kept.append(failure)
            used += whole
        elif used + len(json.dumps(short)) + 2 <= budget - 200:
            kept.append(short)
            used += len(json.dumps(short)) + 2
        else:
            break
    return result | {
        "failures": kept,
        "failures_complete": len(kept) == len(failures) and all("hint" in f for f in kept),
    }


# --- end ---------------------------------------------------------------------------------------------


def end(settings: Settings, participant: str) -> dict[str, Any]:
    hub = _hub(settings)
    removed = remove_all(hub, settings, also=participant)
    return {"changed": bool(removed), "participant": participant, "removed": removed}


def remove_all(hub: Hub, settings: Settings, also: str = "") -> list[str]:
    """Remove every rehearsal participant on the hub (and ``also``): server, hub user, unix user, home."""
    names = {str(u["name"]) for u in hub.users() if str(u["name"]).startswith(rules.REHEARSAL_PREFIX)}
    if also:
        names.add(also)
    for home in settings.homes.glob(f"jupyter-{rules.REHEARSAL_PREFIX}*") if settings.homes.is_dir() else []:
        names.add(home.name.removeprefix("jupyter-"))
    removed = []
    for name in sorted(names):
        try:
            rules.REHEARSAL_USER.check("participant", name)
        except rules.RuleError:
            continue  # never touch a name outside the rehearsal's own pattern
        if remove(hub, settings, name):
            removed.append(name)
    return removed


def remove(hub: Hub, settings: Settings, participant: str) -> bool:
    """Stop the participant's server, delete them from the hub, then their unix user and home."""
    found = False
    if hub.user(participant) is not None:
        found = True
        log(f"removing {participant} from the hub")
        hub.call("DELETE", f"/users/{participant}/server", ok=(202, 204, 400, 404))
        deadline = time.monotonic() + 60
        while _server(hub, participant) and time.monotonic() < deadline:
            time.sleep(0.5)
        hub.delete_user(participant)
    unix = f"jupyter-{participant}"
    try:
        entry = pwd.getpwnam(unix)
    except KeyError:
        entry = None
    if entry is not None and os.geteuid() == 0:
        found = True
        _end_processes(entry.pw_uid)
        userdel = shutil.which("userdel", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin") or "userdel"
        run([userdel, unix], what=f"userdel {unix}")
    home = home_of(settings, participant)
    if home.is_dir() and not home.is_symlink():
        found = True
        shutil.rmtree(home)
    return found


def _end_processes(uid: int) -> None:
    """What is left of the throwaway unix user's processes (its server was stopped): SIGKILL them."""
    for entry in proctree.PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            owner = entry.stat().st_uid
        except OSError:
            continue
        if owner == uid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)
