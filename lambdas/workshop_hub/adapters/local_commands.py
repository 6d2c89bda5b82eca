"""InstanceCommands in the local sandbox: runs the SSM document's own script, locally.

Where SSM Run Command would run a document on the instance, this adapter does what SSM and the
document do, on this machine, with the sandbox's paths:

* refuses to run when moto's instance is not ``running`` (AgentOffline, as a stopped hub's agent is);
* checks the parameters as SSM does (known names, defaults filled in, ``allowedPattern``, ``maxChars``,
  ``allowedValues``; a bad value is refused before anything runs);
* runs the document's ``aws:runShellScript`` lines (from hubagent.documents, so the two cannot drift)
  under ``sh`` with each parameter as ``SSM_<Name>`` in the environment, the agent at the sandbox's
  path instead of the downloaded zip, and HUBAGENT_* pointing at the sandbox: in the background, as
  SSM does (``send`` returns its id, ``result`` looks at it), ended (killed) past the document's
  timeoutSeconds;
* keeps the first 24,000 characters of stdout only, as SSM does (StandardOutputContent), then reads
  its last JSON line, as the SSM adapter does: a result too long for SSM fails here too.

Sandbox data repos are https://git.sandbox.invalid/PATH URLs (they pass the API's https-only rule);
here they become the local repository they stand for (``repo_map``), which hubagent accepts with
HUBAGENT_ALLOW_LOCAL_REPOS=1. Not part of the Lambda asset (stacks/bundles.py excludes it).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubagent import documents

from workshop_hub.ports import (
    SSM_STDOUT_LIMIT,
    AgentError,
    AgentFailed,
    AgentOffline,
    AgentTimeout,
    CommandLost,
    last_json_line,
    run_now,
)

# The document line that names the downloaded agent zip; replaced by the sandbox's agent.
_AGENT_LINE = re.compile(r"^agent=\S+$")


# A command's result stays readable this long after it ended (a replay may ask again).
KEEP_RESULTS_S = 3600


@dataclass
class _Command:
    action: str
    values: dict[str, str]
    proc: subprocess.Popen[str]
    limit: int
    done: threading.Event = field(default_factory=threading.Event)
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    ended_at: float | None = None


def _kill(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
        os.killpg(proc.pid, signal.SIGKILL)


class InvalidParameters(AgentFailed):
    """What SSM answers (InvalidParameters) when a value breaks the document's parameter rules."""


class LocalCommands:
    def __init__(
        self,
        *,
        agent: Path,
        environ: Mapping[str, str],
        instance_state: Callable[[], str],
        repo_map: Callable[[str], str | None] | None = None,
        log_dir: Path | None = None,
    ) -> None:
        """``agent``: what ``python3 -I AGENT`` runs (the agent zip, or a folder with __main__.py);
        ``environ``: the environment of the script (PATH with a python3, HUBAGENT_*);
        ``instance_state``: moto's state of the hub instance; ``repo_map``: a data repo URL's local path."""
        self.agent = agent
        self.environ = dict(environ)
        self.instance_state = instance_state
        self.repo_map = repo_map
        self.log_dir = log_dir
        self._commands: dict[str, _Command] = {}
        self._lock = threading.Lock()

    def document(self, action: str) -> dict[str, Any]:
        try:
            return documents.document(action, "https://sandbox.invalid/hubagent.zip")
        except ValueError as err:
            raise AgentFailed(str(err)) from None

    def check_parameters(self, action: str, params: Mapping[str, str]) -> dict[str, str]:
        """SSM's checks of send_command's Parameters against the document."""
        declared: dict[str, dict[str, Any]] = self.document(action)["parameters"]
        unknown = sorted(set(params) - set(declared))
        if unknown:
            raise InvalidParameters(f"InvalidParameters: {action} has no parameter {', '.join(unknown)}")
        values: dict[str, str] = {}
        for name, spec in declared.items():
            value = params.get(name, spec.get("default"))
            if value is None:
                raise InvalidParameters(f"InvalidParameters: {action} needs the parameter {name}")
            if not isinstance(value, str):
                raise InvalidParameters(f"InvalidParameters: {name} must be a string")
            if len(value) > int(spec.get("maxChars", 4096)):
                raise InvalidParameters(
                    f"InvalidParameters: {name} is longer than {spec['maxChars']} characters"
                )
            if "allowedValues" in spec and value not in spec["allowedValues"]:
                raise InvalidParameters(f"InvalidParameters: {name} must be one of {spec['allowedValues']}")
            pattern = spec.get("allowedPattern")
            if pattern and not re.search(pattern, value):
                raise InvalidParameters(f"InvalidParameters: {name} {value[:60]!r} does not match {pattern}")
            values[name] = value
        return values

    def script(self, action: str) -> str:
        steps = self.document(action)["mainSteps"]
        lines = next(s["inputs"]["runCommand"] for s in steps if s["action"] == "aws:runShellScript")
        swapped = [
            f"agent={_sh_quote(str(self.agent))}" if _AGENT_LINE.match(line) else line for line in lines
        ]
        if swapped == lines:
            raise AgentFailed(f"the {action} document no longer sets agent=...; update the sandbox adapter")
        return "\n".join(swapped) + "\n"

    def timeout_of(self, action: str) -> int:
        steps = self.document(action)["mainSteps"]
        return next(
            int(s["inputs"].get("timeoutSeconds", 3600)) for s in steps if s["action"] == "aws:runShellScript"
        )

    def send(self, action: str, params: Mapping[str, str]) -> str:
        state = self.instance_state()
        if state != "running":
            raise AgentOffline(f"the hub instance is {state}, so its agent cannot take commands")
        values = self.check_parameters(action, params)
        env = dict(self.environ)
        for name, value in values.items():
            # a data repo is cloned by hubagent itself; a rehearsal's Repo goes into the nbgitpuller link as
            # it is (the participant's server reads git.sandbox.invalid as the local repos)
            if name == "Repo" and action == "data-sync" and self.repo_map is not None:
                value = self.repo_map(value) or value
            env[f"SSM_{name}"] = value
        proc = subprocess.Popen(
            ["sh", "-c", self.script(action)],
            env=env,
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        command = _Command(action, values, proc, self.timeout_of(action))
        command_id = str(uuid.uuid4())
        with self._lock:
            self._prune()
            self._commands[command_id] = command
        # The command runs in the background, as on the instance; result() looks at it.
        threading.Thread(
            target=self._collect, args=(command,), name=f"hubagent {action}", daemon=True
        ).start()
        return command_id

    def _collect(self, command: _Command) -> None:
        try:
            command.stdout, command.stderr = command.proc.communicate(timeout=command.limit)
        except subprocess.TimeoutExpired:  # as SSM ends a run past the document's timeoutSeconds
            _kill(command.proc)
            command.stdout, command.stderr = command.proc.communicate()
            command.timed_out = True
        self._log(command.action, command.values, command.proc.returncode, command.stdout, command.stderr)
        command.ended_at = time.monotonic()
        command.done.set()

    def result(self, command_id: str, action: str) -> dict[str, Any] | None:
        with self._lock:
            command = self._commands.get(command_id)
        if command is None:
            raise CommandLost(
                f"{action}: no command {command_id} runs here (the sandbox restarted while it ran: its "
                "result is lost)"
            )
        if not command.done.is_set():
            return None
        printed = len(command.stdout)
        stdout = command.stdout[:SSM_STDOUT_LIMIT]
        if command.timed_out:
            raise AgentTimeout(f"{action} did not finish within {command.limit} s", last_json_line(stdout))
        code = command.proc.returncode
        result = last_json_line(stdout)
        if result is None:
            cut = (
                f" (printed {printed} characters; SSM keeps {SSM_STDOUT_LIMIT})"
                if printed > SSM_STDOUT_LIMIT
                else ""
            )
            raise AgentFailed(
                f"{action} printed no JSON result{cut} (exit {code})\nstderr: {command.stderr[-2000:]}"
            )
        if code != 0 or not result.get("ok", False):
            message = str(result.get("error") or f"{action} failed (exit {code})")
            raise AgentFailed(message, result)
        return result

    def give_up(self, command_id: str, action: str, waited_s: int) -> AgentError:
        with self._lock:
            command = self._commands.pop(command_id, None)
        if command is not None and not command.done.is_set():
            _kill(command.proc)
        return AgentTimeout(f"{action} did not finish within {waited_s} s (command {command_id} cancelled)")

    def run(self, action: str, params: Mapping[str, str], timeout_s: int = 600) -> dict[str, Any]:
        """Send and wait here (run_now): what GET /status's health look does."""
        return run_now(self, action, params, timeout_s, poll_s=0.05)

    def _prune(self) -> None:
        """Forget the results read long ago (a replay may ask for a result again soon after)."""
        old = time.monotonic() - KEEP_RESULTS_S
        for command_id, command in list(self._commands.items()):
            if command.ended_at is not None and command.ended_at < old:
                del self._commands[command_id]

    def _log(self, action: str, values: Mapping[str, str], code: int, stdout: str, stderr: str) -> None:
        if self.log_dir is None:
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / "hubagent.log").open("a", encoding="utf-8") as log:
            shown = {k: "(not shown)" if k in SECRET_PARAMETERS else v for k, v in values.items()}
            log.write(f"== {action} {json.dumps(shown)} exit {code}\n{stderr}{stdout}\n")


# Never written to the log: initial password hashes.
SECRET_PARAMETERS = frozenset({"Credentials"})


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"
