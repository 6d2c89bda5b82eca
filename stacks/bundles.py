"""The two code bundles the stacks upload, staged in folders named after their content hash, so the same
sources give the same folder and the same asset hash wherever and whenever they are built.

The hubagent bundle (the hub stack's asset, downloaded by every SSM document; ``python3 bundle.zip``
runs it because ``__main__.py`` sits at its root)::

    __main__.py          agent/launcher/__main__.py
    hubagent/*.py        agent/hubagent (stdlib only, Ubuntu's python3)

The Lambda bundle (our code only: Powertools and pydantic come from the AWS layer, boto3 from the
runtime)::

    handlers/*.py        one thin module per trigger (api, worker, reconcile, schedule)
    workshop_hub/**.py   the domain, its ports and AWS adapters
    hubagent/*.py        the validation rules and SSM document definitions shared with the instance
    workshop.json        the deployed workshop.yaml, as the functions read it
"""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from collections.abc import Mapping
from pathlib import Path

from workshop_hub.config import WorkshopConfig

ROOT = Path(__file__).resolve().parent.parent
AGENT_PACKAGE = ROOT / "agent" / "hubagent"
AGENT_LAUNCHER = ROOT / "agent" / "launcher" / "__main__.py"
LAMBDA_PACKAGES = {
    "handlers": ROOT / "lambdas" / "handlers",
    "workshop_hub": ROOT / "lambdas" / "workshop_hub",
    "hubagent": AGENT_PACKAGE,
}
# Only the sandbox runs this adapter: it is kept out of the functions' asset.
LAMBDA_EXCLUDED = (
    "workshop_hub/adapters/local_commands.py",
    "workshop_hub/adapters/local_executions.py",
)


def python_files(name: str, package: Path, excluded: tuple[str, ...] = ()) -> dict[str, bytes]:
    """Bundle path -> content for every module of ``package`` (no caches), sorted."""
    files = {}
    for source in sorted(package.rglob("*.py")):
        relative = f"{name}/{source.relative_to(package).as_posix()}"
        if "__pycache__" not in source.parts and relative not in excluded:
            files[relative] = source.read_bytes()
    return files


def agent_files() -> dict[str, bytes]:
    return {"__main__.py": AGENT_LAUNCHER.read_bytes(), **python_files("hubagent", AGENT_PACKAGE)}


def lambda_files(config: WorkshopConfig) -> dict[str, bytes]:
    files = {"workshop.json": config.to_json().encode()}
    for name, package in LAMBDA_PACKAGES.items():
        files.update(python_files(name, package, LAMBDA_EXCLUDED))
    return files


def stage_files(work_dir: Path, prefix: str, files: Mapping[str, bytes]) -> Path:
    """Write ``files`` into ``work_dir/<prefix>-<hash>`` once (atomically) and return that folder."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name] + b"\0")
    target = work_dir / f"{prefix}-{digest.hexdigest()[:16]}"
    if not target.is_dir():
        partial = work_dir / f"{target.name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        for name in sorted(files):
            destination = partial / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(files[name])
        partial.rename(target)
    return target


def stage_agent(work_dir: Path) -> Path:
    return stage_files(work_dir, "hubagent", agent_files())


def stage_lambda(work_dir: Path, config: WorkshopConfig) -> Path:
    return stage_files(work_dir, "lambda", lambda_files(config))


def build_agent_zip(dest: Path) -> Path:
    """The zip the SSM documents download (for tests and the bench): ``python3 -I dest ARGS`` runs it."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in agent_files().items():
            archive.writestr(name, content)
    return dest
