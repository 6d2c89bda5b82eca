"""``hubctl plan``, start to end: find the notebooks, run and measure them, price, show, apply."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from workshop_hub import costs
from workshop_hub.config import ConfigError, WorkshopConfig

from hubctl import aws, output
from hubctl.discovery import Target, local_sandbox
from hubctl.errors import BadInput, HubctlError, NotFound
from hubctl.plan import apply as plan_apply
from hubctl.plan import arithmetic, prices, report
from sandbox.layout import GIT_PREFIX

# Installed without its plan extra (nbclient, ipykernel, psutil), hubctl says how to add it.
try:
    from hubctl.plan import measure
except ModuleNotFoundError as missing:
    raise NotFound(
        f"hubctl plan needs the Python package '{missing.name}', which is not installed",
        "install hubctl with its plan extra: pip install '.[plan]' (pipx install '.[plan]', "
        "uv tool install '.[plan]') in the project folder",
    ) from None


class PriceSource(StrEnum):
    auto = "auto"  # the Price List API when AWS credentials are there, else the table
    table = "table"
    live = "live"


@dataclass
class Request:
    participants: int
    open_notebooks: int = 1
    notebooks: Path | None = None
    data: list[Path] = field(default_factory=list)
    prices: PriceSource = PriceSource.auto
    apply: bool = False
    kernel: str = "python3"
    python: Path | None = None  # an environment's python to run the kernels with (instead of --kernel)
    cell_timeout: int = measure.DEFAULT_CELL_TIMEOUT


@contextmanager
def notebooks_folder(config: WorkshopConfig, given: Path | None) -> Iterator[tuple[Path, str]]:
    """The folder to run, and how to name it: ``given``, the sandbox's local copy of the notebooks repo,
    or a shallow clone of ``notebooks.repo``."""
    if given is not None:
        if not given.is_dir():
            raise BadInput(
                f"--notebooks: {given} is not a folder", "give the folder holding the .ipynb files"
            )
        yield given, str(given)
        return
    if config.notebooks is None:
        raise BadInput(
            "workshop.yaml has no notebooks repo to measure",
            "add notebooks: {repo: https://...}, or pass --notebooks DIR",
        )
    repo, branch = config.notebooks.repo, config.notebooks.branch
    if repo.startswith(GIT_PREFIX):
        local = local_sandbox().repos / repo.removeprefix(GIT_PREFIX)
        if not local.is_dir():
            raise NotFound(f"notebooks.repo: the sandbox has no {local}", "run `make up` first")
        yield local, repo
        return
    with tempfile.TemporaryDirectory(prefix="hubctl-plan-clone-") as tmp:
        target = Path(tmp) / "notebooks"
        command = ["git", "clone", "--quiet", "--depth", "1", *(["--branch", branch] if branch else [])]
        done = subprocess.run(
            [*command, "--", repo, str(target)],
            capture_output=True,
            text=True,
            check=False,
            env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/local/bin:/usr/bin:/bin"},
            timeout=600,
        )
        if done.returncode != 0:
            raise HubctlError(
                f"notebooks.repo: git clone {repo} failed: {done.stderr.strip()[-300:]}",
                "check the URL and branch, or pass --notebooks DIR",
            )
        yield target, f"{repo}{'@' + branch if branch else ''}"


def sandbox_data(config: WorkshopConfig) -> dict[str, Path]:
    """The sandbox's local repositories standing for data_repos (https://git.sandbox.invalid/PATH), by name."""
    repos = local_sandbox().repos
    found = {
        d.name: repos / d.repo.removeprefix(GIT_PREFIX)
        for d in config.data_repos
        if d.repo.startswith(GIT_PREFIX)
    }
    return {name: path for name, path in found.items() if path.is_dir()}


def price_book(region: str, source: PriceSource) -> tuple[costs.PriceBook, list[str]]:
    notes: list[str] = []
    if source is PriceSource.table:
        return prices.from_table(region), notes
    if not aws.credentials_found():
        if source is PriceSource.live:
            raise BadInput("--prices live needs AWS credentials", "use --prices table (the shipped table)")
        notes.append("no AWS credentials: prices from the shipped table")
        return prices.from_table(region), notes
    try:
        # The Price List API answers from us-east-1 (also eu-central-1, ap-south-1) for every region.
        return prices.from_price_list(region, aws.client("pricing", "us-east-1")), notes
    except Exception as err:  # the table is the fallback for any failure of the API
        if source is PriceSource.live:
            raise HubctlError(f"the Price List API failed: {err}", "use --prices table") from None
        notes.append(f"the Price List API failed ({type(err).__name__}): prices from the shipped table")
        return prices.from_table(region), notes


def plan_file(target: Target) -> Path:
    """Where --apply writes: workshop.yaml; with --sandbox, the file `make up` read (its copy in .sandbox/ is
    made again at every `make up`)."""
    path = target.config_path
    if target.in_sandbox:
        layout = local_sandbox()
        source = (layout.read_state() or {}).get("config_source")
        if path == layout.config_yaml and isinstance(source, str) and Path(source).is_file():
            return Path(source)
    return path


def sandbox_python(target: Target) -> Path | None:
    """With --sandbox, the python of the sandbox's user environment (where `hubctl packages add` installs)."""
    if not target.in_sandbox:
        return None
    python = local_sandbox().user_env / "bin" / "python"
    return python if python.is_file() else None


def run(config: WorkshopConfig, config_path: Path, request: Request, *, json_output: bool) -> dict[str, Any]:
    if request.python is None:
        measure.check_kernel(request.kernel)
    book, notes = price_book(config.hub.region, request.prices)
    data = _data_folders(config, request, notes)
    data_bytes = sum(measure.folder_bytes(d) for d in data.values())
    with notebooks_folder(config, request.notebooks) as (folder, source):
        if not measure.find_notebooks(folder):
            raise BadInput(f"no .ipynb notebooks in {source}", "pass --notebooks DIR")
        measured = _measure(folder, request, data, live=not json_output and sys.stderr.isatty())
        notebooks_bytes = measure.folder_bytes(folder)

    ok = [m for m in measured if m.ok]
    if not ok:
        raise HubctlError(
            "no notebook ran to the end: nothing to plan from",
            "fix the notebooks (or the packages they need) and run hubctl plan again",
            details=[f"{m.name}: cell {m.cell}: {m.error}" for m in measured],
        )
    inputs = arithmetic.Inputs(
        participants=request.participants,
        open_notebooks=request.open_notebooks,
        data_bytes=data_bytes,
        notebooks_bytes=notebooks_bytes,
    )
    result = arithmetic.plan(config, book, measured, inputs)
    failed = len(measured) - len(ok)
    if failed:
        notes.append(f"{failed} notebook(s) failed and are left out of the plan")
    if result.recommended is None:
        raise HubctlError(
            f"no {arithmetic.architecture(config.hub.instance_type)} type in the table has "
            f"{result.memory.needed / arithmetic.GIB:.1f} GiB for {request.participants} participants",
            "plan for fewer participants per hub, or lighter notebooks",
        )
    answer = report.as_dict(
        result,
        measured,
        book,
        participants=request.participants,
        open_notebooks=request.open_notebooks,
        source=source,
        notes=notes,
    )
    answer["applied"] = None
    if request.apply:
        answer["applied"] = _apply(
            config_path,
            plan_apply.Applied(
                instance_type=result.recommended.name,
                memory_limit=arithmetic.limit_text(result.memory.limit),
                participants=request.participants,
                planned_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%MZ"),
                source=f"{len(ok)} of {len(measured)} notebooks in {source}",
                monthly_usd=result.recommended.per_month,
            ),
        )
    _show(answer, json_output=json_output)
    return answer


def _data_folders(config: WorkshopConfig, request: Request, notes: list[str]) -> dict[str, Path]:
    """The data repos' folders to count on the disk, by the name they are linked under in every home."""
    missing = [str(d) for d in request.data if not d.is_dir()]
    if missing:
        raise BadInput(f"--data: not a folder: {', '.join(missing)}", "give folders holding the data repos")
    # Linked into the kernels' home as ~/NAME, as the hub links data repos into every home.
    data = {d.resolve().name: d for d in request.data}
    if config.data_repos and not request.data:
        local = sandbox_data(config)
        if local:
            data = local
            notes.append(f"data repos measured in the sandbox's local copies: {', '.join(local)}")
        else:
            notes.append("data repos not measured (pass --data DIR for each): the disk counts no data")
    return data


def _measure(
    folder: Path, request: Request, data: dict[str, Path], *, live: bool
) -> list[arithmetic.Measured]:
    err = output.stderr()
    with (
        measure.python_kernels(request.python) if request.python else _nothing() as specs,
        err.status("starting") if live else _nothing() as status,
    ):
        return measure.run_all(
            folder,
            kernel_name=request.kernel,
            cell_timeout=request.cell_timeout,
            progress=status.update if status is not None else None,
            kernel_specs=specs,
            data=data,
        )


def _apply(config_path: Path, applied: plan_apply.Applied) -> dict[str, Any]:
    """Write the plan into workshop.yaml; what was written, and the sessions that keep a type of their own."""
    try:
        checked = plan_apply.apply(config_path, applied)
    except ConfigError as error:
        raise BadInput(str(error).splitlines()[0], details=str(error).splitlines()[1:]) from None
    explicit = [
        f"sessions[{i}] ({s.date}) keeps its instance_type {s.instance_type}"
        for i, s in enumerate(checked.sessions)
        if s.instance_type not in ("auto", applied.instance_type)
    ]
    return {
        "file": str(config_path),
        "instance_type": applied.instance_type,
        "memory_limit": applied.memory_limit,
        "sessions_not_auto": explicit,
    }


def _show(answer: dict[str, Any], *, json_output: bool) -> None:
    if json_output:
        output.print_json(answer)
        return
    console = output.stdout()
    report.show(answer, console)
    applied = answer["applied"]
    if applied:
        console.print(
            f"[green]written to {applied['file']}[/]: plan.instance_type {applied['instance_type']}, "
            f"hub.memory_limit {applied['memory_limit']}"
        )
        for line in applied["sessions_not_auto"]:
            console.print(f"  {line} (set it to `auto` to use the plan)")


@contextmanager
def _nothing() -> Iterator[None]:
    yield None
