"""packages install: pip or mamba (conda-forge) into the TLJH user environment, reporting versions."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from hubagent import rules
from hubagent.errors import ActionFailed, InputError
from hubagent.proc import run

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


def install(user_env: Path, manager: str, specs: list[str]) -> dict[str, Any]:
    names = [spec_name(manager, s) for s in specs]
    versions = pip_versions if manager == "pip" else conda_versions
    before = versions(user_env, names)
    if manager == "pip":
        argv: list[str | Path] = [
            _tool(user_env, "pip"),
            "install",
            "--no-input",
            "--disable-pip-version-check",
            "--",
            *specs,
        ]
    else:
        # validated specs never start with '-', so they cannot be read as options
        argv = [_tool(user_env, "mamba"), "install", "--yes", "--channel", "conda-forge", *specs]
    run(argv, what=f"{manager} install of {' '.join(specs)}", timeout=INSTALL_TIMEOUT)
    after = versions(user_env, names)
    missing = [n for n, v in after.items() if v is None]
    if missing:
        raise ActionFailed(f"{manager} finished but these are not installed: {', '.join(missing)}")
    return {
        "changed": before != after,
        "manager": manager,
        "installed": after,
        "previous": before,
    }
