"""InstanceCommands in the local sandbox: runs the SSM document's own script, locally.

Where SSM Run Command would run a document on the instance, this adapter does what SSM and the
document do, on this machine, with the sandbox's paths:

* refuses to run when moto's instance is not ``running`` (AgentOffline, as a stopped hub's agent is);
* checks the parameters as SSM does (known names, defaults filled in, ``allowedPattern``, ``maxChars``,
  ``allowedValues``; a bad value is refused before anything runs);
* runs the document's ``aws:runShellScript`` lines (from hubagent.documents, so the two cannot drift)
  under ``sh`` with each parameter as ``SSM_<Name>`` in the environment, the agent at the sandbox's
  path instead of the downloaded zip, and HUBAGENT_* pointing at the sandbox;
* keeps the first 24,000 characters of stdout only, as SSM does (StandardOutputContent), then reads
  its last JSON line, as the SSM adapter does: a result too long for SSM fails here too.

Sandbox data repos are https://git.sandbox.invalid/PATH URLs (they pass the API's https-only rule);
here they become the local repository they stand for (``repo_map``), which hubagent accepts with
HUBAGENT_ALLOW_LOCAL_REPOS=1. Not part of the Lambda asset (stacks/bundles.py excludes it).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hubagent import documents

from workshop_hub.ports import SSM_STDOUT_LIMIT, AgentFailed, AgentOffline, AgentTimeout, last_json_line

# The document line that names the downloaded agent zip; replaced by the sandbox's agent.
_AGENT_LINE = re.compile(r"^agent=\S+$")


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

    def timeout_of(self, action: str, timeout_s: int) -> int:
        steps = self.document(action)["mainSteps"]
        document_timeout = next(
            int(s["inputs"].get("timeoutSeconds", 3600)) for s in steps if s["action"] == "aws:runShellScript"
        )
        return min(timeout_s, document_timeout)

    def run(self, action: str, params: Mapping[str, str], timeout_s: int = 600) -> dict[str, Any]:
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
        limit = self.timeout_of(action, timeout_s)
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
        try:
            stdout, stderr = proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            stdout = stdout[:SSM_STDOUT_LIMIT]
            raise AgentTimeout(f"{action} did not finish within {limit} s", last_json_line(stdout)) from None
        self._log(action, values, proc.returncode, stdout, stderr)
        printed = len(stdout)
        stdout = stdout[:SSM_STDOUT_LIMIT]
        result = last_json_line(stdout)
        if result is None:
            cut = (
                f" (printed {printed} characters; SSM keeps {SSM_STDOUT_LIMIT})"
                if printed > SSM_STDOUT_LIMIT
                else ""
            )
            raise AgentFailed(
                f"{action} printed no JSON result{cut} (exit {proc.returncode})\nstderr: {stderr[-2000:]}"
            )
        if proc.returncode != 0 or not result.get("ok", False):
            message = str(result.get("error") or f"{action} failed (exit {proc.returncode})")
            raise AgentFailed(message, result)
        return result

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
