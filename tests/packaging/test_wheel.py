"""What `pip install .` installs: every module of the source tree, importable from the wheel alone.

The wheel is built once per session from a copy of the files git knows (a stale build/ folder cannot hide
a missing package, and an untracked file cannot fill one). What must be in it comes from the source tree,
not from a list here: every ``.py`` file in a package folder (one with ``__init__.py``) is a module to ship
and import, every other file under a package folder is data to ship. A Python file outside any package
must be named in CLONE_ONLY with the reason it runs from the clone.

The imports run in a venv of their own that holds the wheel and, through a ``.pth`` line, the dependencies
of the project's venv (``.pth`` files in that folder are not processed, so its editable install of the
project is not on the path); each module's ``__file__`` must lie in that venv. The uv test installs the
wheel with its declared dependencies only, as ``uv tool install`` / ``pipx install`` do.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Python files outside every package: they run from a clone of the project, never from the wheel.
CLONE_ONLY = {
    "app.py": "the CDK entry point that cdk.json runs",
    "conftest.py": "pytest's root configuration",
    "bench/": "benchmark scripts (make bench)",
    "tests/": "the tests",
    "agent/launcher/__main__.py": "copied to the root of the hubagent bundle (stacks/bundles.py)",
}
# Running these runs a command: they are shipped and checked by their console script or `-m`, not imported.
NOT_IMPORTED = ("__main__",)


def source_files() -> list[str]:
    """The project's files as git sees them: tracked, plus untracked ones not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted(p for p in listed.split("\0") if p and (PROJECT_ROOT / p).is_file())


def top_package(folder: Path) -> Path | None:
    """The outermost package folder that holds ``folder`` (itself included), or None."""
    top = None
    while folder != PROJECT_ROOT and (folder / "__init__.py").is_file():
        top, folder = folder, folder.parent
    return top


@dataclass(frozen=True)
class Expected:
    modules: dict[str, str]  # module name -> its path in the wheel
    data: list[str]  # paths in the wheel
    loose: list[str]  # Python files outside every package and outside CLONE_ONLY


def expected() -> Expected:
    modules: dict[str, str] = {}
    data: list[str] = []
    loose: list[str] = []
    for path in source_files():
        if path.startswith("tests/"):
            continue
        file = PROJECT_ROOT / path
        # The nearest folder up from the file that is a package decides where the file lands.
        folder, top = file.parent, None
        while folder != PROJECT_ROOT and top is None:
            top = top_package(folder)
            folder = folder.parent
        if top is None:
            if path.endswith(".py") and not any(path == k or path.startswith(k) for k in CLONE_ONLY):
                loose.append(path)
            continue
        in_wheel = file.relative_to(top.parent).as_posix()
        if path.endswith(".py") and (file.parent / "__init__.py").is_file():
            module = in_wheel.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
            modules[module] = in_wheel
        else:
            data.append(in_wheel)
    return Expected(modules, data, loose)


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for path in source_files():
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / path, source / path)
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    # setuptools' own warnings (e.g. a folder that looks like a package but is not shipped) fail too.
    assert "Warning" not in built.stderr, built.stderr
    (found,) = out.glob("workshop_hub-*.whl")
    return found


@pytest.fixture(scope="session")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with the wheel installed and the project venv's dependencies visible, not its source."""
    env = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=120)
    python = env / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
         "--no-index", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(purelib, "project-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what would put the project's source on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "HUBCTL_"))}
    env.update(JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20", **extra)
    return env


def test_every_package_module_and_data_file_of_the_tree_is_in_the_wheel(wheel: Path) -> None:
    want = expected()
    assert not want.loose, (
        f"Python files outside every package: {want.loose}; make their folder a package (it ships) "
        "or name them in CLONE_ONLY with why they run from the clone"
    )
    assert (
        "hubctl.cli" in want.modules and "workshop_hub.adapters.dynamodb" in want.modules
    )  # the walk found the tree
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    missing_modules = sorted(m for m, p in want.modules.items() if p not in names)
    assert not missing_modules, (
        f"not in the wheel (pyproject.toml [tool.setuptools.packages]): {missing_modules}"
    )
    missing_data = sorted(p for p in want.data if p not in names)
    assert not missing_data, f"data files not in the wheel ([tool.setuptools.package-data]): {missing_data}"
    extra = sorted(
        n for n in names if ".dist-info/" not in n and n not in want.data and n not in want.modules.values()
    )
    assert not extra, f"the wheel holds files the source tree does not: {extra}"


def test_each_module_imports_from_the_wheel_alone(venv: Path, tmp_path: Path) -> None:
    modules = sorted(m for m in expected().modules if m.rsplit(".", 1)[-1] not in NOT_IMPORTED)
    script = """
import importlib, json, sys, traceback
prefix, names = sys.argv[1], sys.argv[2:]
report = {}
for name in names:
    try:
        module = importlib.import_module(name)
        where = getattr(module, "__file__", None) or ""
        report[name] = "" if where.startswith(prefix) else f"imported from {where}, not the wheel"
    except BaseException:
        report[name] = traceback.format_exc(limit=3)
print(json.dumps(report))
"""
    # -I: no current folder, no PYTHON* variables, no user site: only the venv's own site-packages.
    done = subprocess.run(
        [venv / "bin" / "python", "-I", "-c", script, str(venv), *modules],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=clean_env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(report) == modules
    failed = {name: why for name, why in report.items() if why}
    assert not failed, "\n".join(f"{name}: {why}" for name, why in failed.items())


def test_the_console_scripts_of_the_wheel_run(venv: Path, tmp_path: Path) -> None:
    hubctl = venv / "bin" / "hubctl"
    shown = subprocess.run([hubctl, "--help"], cwd=tmp_path, capture_output=True, text=True, env=clean_env())
    assert shown.returncode == 0 and "keep-awake" in shown.stdout, shown.stderr
    # A command that reads workshop.yaml and goes as far as the network: unreachable is exit 6.
    shutil.copy(PROJECT_ROOT / "workshop.yaml", tmp_path / "workshop.yaml")
    (tmp_path / "token").write_text("not-a-real-token\n")
    status = subprocess.run(
        [hubctl, "status"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=clean_env(HUBCTL_API_URL="http://127.0.0.1:9/", HUBCTL_TOKEN_FILE=str(tmp_path / "token")),
        timeout=120,
    )
    assert status.returncode == 6, status.stdout + status.stderr
    # hubagent answers help as it answers everything: one JSON line saying no action ran (exit 2).
    agent = subprocess.run([venv / "bin" / "hubagent", "health", "--help"], capture_output=True, text=True)
    assert agent.returncode == 2 and "usage: hubagent health" in agent.stderr, agent.stdout + agent.stderr
    assert json.loads(agent.stdout.strip().splitlines()[-1])["ok"] is False


def test_uv_tool_install_gives_a_working_hubctl_with_the_declared_dependencies_only(
    wheel: Path, tmp_path: Path
) -> None:
    """As `uv tool install .` (or pipx) sets it up: its own venv, the wheel's dependencies from PyPI, no extras."""
    tools = tmp_path / "tools"
    env = clean_env(
        UV_TOOL_DIR=str(tools / "envs"),
        UV_TOOL_BIN_DIR=str(tools / "bin"),
        UV_PYTHON_DOWNLOADS="never",
        UV_NO_PROGRESS="1",
    )
    base_python = getattr(sys, "_base_executable", sys.executable)
    uv = Path(sys.executable).parent / "uv"
    installed = subprocess.run(
        [uv, "tool", "install", "--python", base_python, str(wheel)],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    hubctl = tools / "bin" / "hubctl"
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(PROJECT_ROOT / "workshop.yaml", project / "workshop.yaml")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [hubctl, *args], cwd=project, capture_output=True, text=True, env=env, timeout=120, check=False
        )

    shown = run("--help")
    assert shown.returncode == 0 and "keep-awake" in shown.stdout, shown.stderr
    # The plan extra is not installed: a clear error (exit 4) that names it, no traceback.
    plan = run("plan", "--participants", "3")
    assert plan.returncode == 4, plan.stdout + plan.stderr
    assert "'.[plan]'" in plan.stderr and "Traceback" not in plan.stderr, plan.stderr
    # --sandbox looks in ./.sandbox of the folder it runs in (site-packages is no project folder).
    (project / ".sandbox").mkdir()
    (project / ".sandbox" / "state.json").write_text(json.dumps({"api_url": "http://127.0.0.1:9/"}))
    (project / ".sandbox" / "api-token").write_text("not-a-real-token\n")
    status = run("--sandbox", "status")
    assert status.returncode == 6, status.stdout + status.stderr  # found the API there; nothing answers
    assert "127.0.0.1:9" in status.stderr, status.stderr
