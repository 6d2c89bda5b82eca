"""packages install: pip or mamba (conda-forge) into the TLJH user environment, reporting versions."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from hubagent import rules
from hubagent.errors import ActionFailed, InputError
from hubagent.proc import log, run

INSTALL_TIMEOUT = 3300  # under the SSM document's timeout, so a JSON line is still printed

# Reads installed versions inside the user environment; the names come in as arguments, not as code.
_PIP_VERSIONS = """
import json, sys
from importlib import metadata
found = {}
for name in sys.argv[1:]:
    try:
        found[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        found[name] = None
print(json.dumps(found))
"""


def check_specs(manager: str, values: list[str]) -> list[str]:
    if manager not in rules.PACKAGE_RULES:
        raise InputError(f"manager: {rules.shown(manager)} must be 'pip' or 'conda'")
    specs: list[str] = []
    for value in values:
        for spec in value.split(" "):
            try:
                rules.check_package(manager, spec)
            except rules.RuleError as err:
                raise InputError(str(err)) from None
            if spec not in specs:
                specs.append(spec)
    if not specs:
        raise InputError("packages: give at least one package")
    if len(specs) > rules.MAX_PACKAGES_PER_REQUEST:
        raise InputError(f"packages: more than {rules.MAX_PACKAGES_PER_REQUEST} in one request; split them")
    return specs


def spec_name(manager: str, spec: str) -> str:
    """The package name of a validated spec: PEP 503-normalized for pip, lowercase for conda."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec)
    assert match is not None  # validated specs start with a name
    name = match.group(0).lower()
    return re.sub(r"[-_.]+", "-", name) if manager == "pip" else name


def _tool(user_env: Path, name: str) -> Path:
    path = user_env / "bin" / name
    if not path.exists():
        raise ActionFailed(f"the user environment {user_env} has no bin/{name}: is TLJH installed there?")
    return path


def pip_versions(user_env: Path, names: list[str]) -> dict[str, str | None]:
    python = _tool(user_env, "python")
    done = run([python, "-I", "-c", _PIP_VERSIONS, *names], what="reading installed versions")
    found: dict[str, str | None] = json.loads(done.stdout)
    return found


def conda_versions(user_env: Path, names: list[str]) -> dict[str, str | None]:
    mamba = _tool(user_env, "mamba")
    done = run([mamba, "list", "--json"], what="mamba list")
    listed = {str(p["name"]).lower(): str(p["version"]) for p in json.loads(done.stdout)}
    return {name: listed.get(name) for name in names}


def _install_argv(user_env: Path, manager: str, specs: list[str]) -> list[str | Path]:
    if manager == "pip":
        return [_tool(user_env, "pip"), "install", "--no-input", "--disable-pip-version-check", "--", *specs]
    # validated specs never start with '-', so they cannot be read as options
    return [_tool(user_env, "mamba"), "install", "--yes", "--channel", "conda-forge", *specs]


def _try_install(user_env: Path, manager: str, specs: list[str], deadline: float) -> str | None:
    """Install ``specs`` in one call; None when it worked, else why not (the tool's last lines)."""
    left = deadline - time.monotonic()
    if left < 1:
        return f"not tried: the {INSTALL_TIMEOUT} s for this action ran out"
    try:
        run(
            _install_argv(user_env, manager, specs),
            what=f"{manager} install of {' '.join(specs)}",
            timeout=left,
        )
    except ActionFailed as err:
        return str(err)
    return None


def install(user_env: Path, manager: str, specs: list[str]) -> dict[str, Any]:
    """Install every spec that can be installed; a spec that cannot never keeps the others out.

    All specs go to the tool in one call first (one resolution: the fast, usual case). When that
    fails, the tool installs nothing, so each spec is tried on its own to find the culprits. The action
    succeeds when at least one spec is installed; ``failed`` lists each one that is not, with why.
    """
    names = {spec: spec_name(manager, spec) for spec in specs}
    versions = pip_versions if manager == "pip" else conda_versions
    before = versions(user_env, list(names.values()))
    deadline = time.monotonic() + INSTALL_TIMEOUT
    reasons: dict[str, str] = {}
    together = _try_install(user_env, manager, specs, deadline)
    if together is not None and len(specs) > 1:
        log(f"{manager} could not install them together; trying each of {len(specs)} on its own")
        for spec in specs:
            alone = _try_install(user_env, manager, [spec], deadline)
            if alone is not None:
                reasons[spec] = alone
    elif together is not None:
        reasons[specs[0]] = together
    after = versions(user_env, list(names.values()))
    for spec, name in names.items():
        if spec not in reasons and after.get(name) is None:
            reasons[spec] = f"{manager} finished but {name} is not installed"
    installed = {names[s]: after[names[s]] for s in specs if s not in reasons}
    failed = [{"spec": spec, "error": reason} for spec, reason in reasons.items()]
    details: dict[str, Any] = {
        "manager": manager,
        "installed": installed,
        "previous": {names[s]: before[names[s]] for s in specs if s not in reasons},
        "failed": failed,
    }
    if not installed:
        listed = "; ".join(f"{f['spec']}: {f['error']}" for f in failed)
        raise ActionFailed(f"no package could be installed: {listed}", details)
    return {"changed": before != after, **details}
