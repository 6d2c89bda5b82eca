"""The two code bundles the stacks upload, staged in folders named after their content hash, so the same
sources give the same folder and the same asset hash wherever and whenever they are built.

The hubagent bundle (the hub stack's asset, downloaded by every SSM document; ``python3 bundle.zip``
runs it because ``__main__.py`` sits at its root)::

    __main__.py          agent/launcher/__main__.py
    hubagent/*.py        agent/hubagent (stdlib only, Ubuntu's python3)

The Lambda bundle (Powertools and pydantic come from the AWS-published layer)::

    handlers/*.py        one thin module per trigger (api, worker, reconcile, schedule)
    workshop_hub/**.py   the domain, its ports and AWS adapters
    hubagent/*.py        the validation rules and SSM document definitions shared with the instance
    workshop.json        the deployed workshop.yaml, as the functions read it
    <dependencies>       stacks/lambda-requirements.txt, exact pins, from pure-Python wheels: the durable
                         execution SDK, the boto3 it needs, tzdata

The wheels are fetched once per set of pins (``pip download --only-binary=:all:`` for Lambda's platform,
no Docker) into a cache folder named after the pins, then unpacked into the staged asset, so a synth
needs PyPI only the first time.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
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
LAMBDA_REQUIREMENTS = ROOT / "stacks" / "lambda-requirements.txt"
# The functions' runtime and architecture (stacks/constructs/control_functions.py): python3.13 on arm64.
LAMBDA_PLATFORM = ("manylinux2014_aarch64", "3.13")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)$")


class BundleError(RuntimeError):
    """The Lambda dependencies could not be fetched or are not what the asset may hold."""


def wheel_cache() -> Path:
    """Where fetched wheels are kept between synths ($WORKSHOP_HUB_CACHE, default ~/.cache/workshop-hub)."""
    return Path(os.environ.get("WORKSHOP_HUB_CACHE") or Path.home() / ".cache" / "workshop-hub")


def requirement_pins(path: Path = LAMBDA_REQUIREMENTS) -> dict[str, str]:
    """Distribution name (normalized) -> exact version, from ``path``; anything but ``NAME==VERSION`` is refused."""
    pins: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _PIN.fullmatch(line)
        if not match:
            raise BundleError(f"{path.name}:{number}: {line!r} is not an exact pin (NAME==VERSION)")
        pins[normalize(match.group(1))] = match.group(2)
    return pins


def normalize(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def fetch_wheels(pins: Mapping[str, str], cache: Path | None = None) -> Path:
    """A folder holding one pure-Python wheel per pin, downloaded once per set of pins."""
    cache = cache or wheel_cache()
    spec = [f"{name}=={version}" for name, version in sorted(pins.items())]
    key = hashlib.sha256("\n".join([*spec, *LAMBDA_PLATFORM]).encode()).hexdigest()[:16]
    target = cache / f"lambda-wheels-{key}"
    if target.is_dir():
        return target
    partial = cache / f"{target.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    platform, python_version = LAMBDA_PLATFORM
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
        "--no-deps", "--only-binary=:all:", "--platform", platform, "--python-version", python_version,
        "--implementation", "cp", "--dest", str(partial), *spec,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        raise BundleError(
            "could not fetch the Lambda dependencies (stacks/lambda-requirements.txt) from PyPI; the first "
            f"synth needs it, later ones use {cache}:\n{result.stderr.strip()[-2000:]}"
        )
    _publish(partial, target)
    return target


def dependency_files(path: Path = LAMBDA_REQUIREMENTS, cache: Path | None = None) -> dict[str, bytes]:
    """Bundle path -> content of every pinned wheel, unpacked as ``pip install --target`` lays it out."""
    pins = requirement_pins(path)
    wheels = sorted(fetch_wheels(pins, cache).glob("*.whl"))
    found = {normalize(w.name.split("-", 1)[0]): w for w in wheels}
    if set(found) != set(pins):
        raise BundleError(f"wheels {sorted(found)} do not match the pins {sorted(pins)}")
    files: dict[str, bytes] = {}
    for name, wheel in sorted(found.items()):
        parts = wheel.name.removesuffix(".whl").split("-")
        version, tags = parts[1], parts[-2:]
        # A compiled wheel built for this machine would crash on Lambda's arm64: pure Python only.
        if version != pins[name] or tags[-1] != "any" or tags[0] != "none":
            raise BundleError(f"{wheel.name} is not the pure-Python wheel of {name}=={pins[name]}")
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.infolist():
                if not member.is_dir() and ".data/" not in member.filename:
                    files[member.filename] = archive.read(member)
    return files


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
    files = dependency_files()
    files["workshop.json"] = config.to_json().encode()
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
        # Per process: synths running at once (tests, the CLI) share the cache folder.
        partial = work_dir / f"{target.name}.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        for name in sorted(files):
            destination = partial / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(files[name])
        _publish(partial, target)
    return target


def _publish(partial: Path, target: Path) -> None:
    """Move a finished folder into place; another process that got there first wins (same content)."""
    try:
        partial.rename(target)
    except OSError:
        if not target.is_dir():
            raise
        shutil.rmtree(partial, ignore_errors=True)


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
