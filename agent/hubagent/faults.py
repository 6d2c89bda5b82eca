"""Why a cell failed, in the instructor's words: a category and a hint for what to do.

Right after a cell fails, ``FACTS_CODE`` runs silently in the participant's kernel and reports what the
error itself knows (its chain of causes, their errno/filename/name attributes, the frames it passed
through, the hosts it was talking to, the installed library it came from and that library's version),
and where the kernel stood (its working folder). ``classify`` turns those facts into a category and a
hint; it looks at the participant's home and the data folders for the nearest existing path, and asks
``probe`` whether the hub itself (root) reaches a host a participant's kernel could not.

Categories (``CATEGORIES``): a missing module, a missing file, a missing folder, no network, a library
that refused an old API, a timeout, a kernel that died, an error that follows an earlier failure, and
an error in the notebook's own code.
"""

from __future__ import annotations

import difflib
import errno
import os
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubagent import rules
from hubagent.cells import assigned_names

CATEGORIES = {
    "missing-module": "missing module",
    "missing-file": "missing file",
    "missing-folder": "missing folder",
    "no-network": "no network",
    "old-api": "library refused",
    "timeout": "timeout",
    "kernel-died": "kernel died",
    "follow-on": "follows a failure",
    "code": "error",
}

# Run silently in the participant's kernel after a failed cell (any Python 3 kernel, standard library
# only); the user expression ``_workshop_hub_facts()`` returns the facts as JSON and removes itself.
FACTS_CODE = r"""
def _workshop_hub_facts():
    import json, os, sys
    globals().pop("_workshop_hub_facts", None)
    error = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    facts = {"cwd": os.getcwd(), "home": os.path.expanduser("~")}
    if error is None:
        return json.dumps(facts)
    chain, seen, current = [], set(), error
    while current is not None and id(current) not in seen and len(chain) < 8:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)

    def describe(exc):
        kinds = [c.__module__ + "." + c.__qualname__ for c in type(exc).__mro__[:-1]][:10]
        item = {"type": kinds[0], "kinds": kinds, "message": str(exc)[:600]}
        for name in ("errno", "filename", "filename2", "name", "strerror"):
            value = getattr(exc, name, None)
            if isinstance(value, (str, int)) and not isinstance(value, bool):
                item[name] = value
        return item

    facts["chain"] = [describe(exc) for exc in chain]
    frames, hosts = [], []
    for exc in chain:
        tb = exc.__traceback__
        while tb is not None:
            frame, here = tb.tb_frame, None
            if exc is error:
                frames.append([frame.f_code.co_filename, tb.tb_lineno, frame.f_code.co_name])
            names = frame.f_locals
            address = names.get("address")
            if isinstance(address, tuple) and len(address) >= 2 and isinstance(address[0], str):
                here = [address[0], address[1]]
            elif isinstance(names.get("host"), str):
                here = [names["host"], names.get("port")]
            else:
                owner = names.get("self")
                module = type(owner).__module__ or ""
                if module.split(".")[0] in ("http", "urllib3", "requests", "httpx", "socket"):
                    try:
                        here = [getattr(owner, "host", None), getattr(owner, "port", None)]
                    except Exception:
                        here = None
            if here and isinstance(here[0], str) and here[0]:
                port = here[1] if isinstance(here[1], int) else None
                if [here[0], port] not in hosts:
                    hosts.append([here[0], port])
            tb = tb.tb_next
    facts["frames"] = frames[-12:]
    facts["hosts"] = hosts[:5]
    modules = []
    for filename, _, _ in reversed(frames):
        parts = filename.replace("\\", "/").split("/")
        for marker in ("site-packages", "dist-packages"):
            if marker in parts and parts.index(marker) + 1 < len(parts):
                top = parts[parts.index(marker) + 1]
                top = top[:-3] if top.endswith(".py") else top
                if top and "." not in top:
                    modules.append(top)
                break
        if modules:
            break
    facts["library_module"] = modules[0] if modules else None
    wanted = [m for m in [facts["library_module"]] if m]
    for item in facts["chain"]:
        if isinstance(item.get("name"), str) and "ModuleNotFoundError" in item["type"]:
            wanted.append(item["name"].split(".")[0])
    import importlib.metadata as metadata, importlib.util
    try:
        owners = metadata.packages_distributions()
    except Exception:
        owners = {}
    facts["modules"] = {}
    for module in wanted:
        try:
            found = importlib.util.find_spec(module) is not None
        except Exception:
            found = False
        dist = (owners.get(module) or [module])[0]
        try:
            version = metadata.version(dist)
        except Exception:
            version = None
        facts["modules"][module] = {"installed": found, "distribution": dist, "version": version}
    return json.dumps(facts)
"""
FACTS_EXPRESSION = "_workshop_hub_facts()"

# Import names whose pip package has another name (the common ones in teaching material).
PIP_NAMES = {
    "sklearn": "scikit-learn",
    "skimage": "scikit-image",
    "cv2": "opencv-python-headless",
    "PIL": "pillow",
    "yaml": "pyyaml",
    "bs4": "beautifulsoup4",
    "dateutil": "python-dateutil",
    "Bio": "biopython",
    "docx": "python-docx",
    "pptx": "python-pptx",
    "serial": "pyserial",
    "Crypto": "pycryptodome",
    "dotenv": "python-dotenv",
    "jwt": "pyjwt",
    "fitz": "pymupdf",
    "zmq": "pyzmq",
    "attr": "attrs",
    "IPython": "ipython",
    "mpl_toolkits": "matplotlib",
    "google": "google-api-python-client",
}
# Modules installed with conda rather than pip (their pip builds need the C library present).
CONDA_NAMES = {"osgeo": "gdal"}

_NETWORK_TYPES = {
    "socket.gaierror",
    "builtins.ConnectionError",
    "urllib.error.URLError",
    "http.client.RemoteDisconnected",
    "requests.exceptions.ConnectionError",
    "urllib3.exceptions.NewConnectionError",
    "urllib3.exceptions.NameResolutionError",
    "urllib3.exceptions.MaxRetryError",
    "httpx.ConnectError",
}
_NETWORK_ERRNOS = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ECONNREFUSED, errno.ETIMEDOUT, -2, -3, -5}
_NETWORK_WORDS = (
    "Name or service not known",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "No route to host",
    "Failed to establish a new connection",
    "nodename nor servname",
)
_MISSING_WORDS = ("No such file or directory", "does not exist", "non-existent directory", "not found")
_OLD_API_TYPES = (
    "builtins.ValueError",
    "builtins.TypeError",
    "builtins.AttributeError",
    "builtins.NotImplementedError",
    "builtins.ImportError",
    "builtins.DeprecationWarning",
    "builtins.FutureWarning",
)
_NOT_OLD_API = (
    "builtins.KeyError",
    "builtins.IndexError",
    "builtins.MemoryError",
    "builtins.KeyboardInterrupt",
)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def plain(text: str, limit: int = 300) -> str:
    """Printable, one line, at most ``limit`` characters: terminal escapes and control characters out."""
    text = _ANSI.sub("", text)
    text = "".join(ch if ch.isprintable() else " " for ch in text.replace("\n", " "))
    text = re.sub(r" {2,}", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Finding:
    category: str
    hint: str


@dataclass
class Situation:
    """What the classifier may look at besides the facts."""

    home: Path
    data_root: Path
    cell_timeout: int
    earlier: Sequence[tuple[int, str]] = ()  # (cell number, source) of the cells that failed before
    probe: Callable[[str, int], str] | None = None  # the hub's own view of host:port ('ok' or why not)
    peak_mib: float | None = None
    memory_limit: str | None = None


def classify(status: str, ename: str, evalue: str, facts: dict[str, Any], here: Situation) -> Finding:
    """The category and hint of one failed cell (``status``: error, timeout or died)."""
    if status == "timeout":
        return Finding(
            "timeout",
            f"interrupted after {here.cell_timeout} s, as a participant would stop it; the cells after it ran "
            "anyway (a cell that needs longer: rehearse again with a longer --cell-timeout)",
        )
    if status == "died":
        measured = [f"its peak {here.peak_mib:.0f} MiB"] if here.peak_mib else []
        measured += [f"the per-participant limit {here.memory_limit}"] if here.memory_limit else []
        seen = f" ({', '.join(measured)})" if measured else ""
        return Finding(
            "kernel-died",
            f"the kernel stopped while this cell ran{seen}: out of memory? The server started a fresh "
            "kernel and the cells after it ran there",
        )
    chain = [item for item in facts.get("chain") or [] if isinstance(item, dict)]
    kinds = [set(item.get("kinds") or [item.get("type", "")]) for item in chain]
    modules = facts.get("modules") or {}
    for finding in (
        _missing_module(chain, modules),
        _network(chain, kinds, facts, here),
        _missing_path(chain, kinds, facts, here),
        _old_api(ename, evalue, chain, kinds, facts, modules),
        _follow_on(ename, evalue, chain, here),
    ):
        if finding is not None:
            return finding
    return Finding("code", "an error in the notebook's own code")


# --- missing modules and old APIs --------------------------------------------------------------------


def package_spec(module: str) -> tuple[str, str]:
    """(manager, spec) to install a module: pip's name for it, or conda's for the few that need it."""
    if module in CONDA_NAMES:
        return "conda", CONDA_NAMES[module]
    return "pip", PIP_NAMES.get(module, module)


def install_hint(module: str) -> str:
    manager, spec = package_spec(module)
    try:
        rules.check_package(manager, spec)
    except rules.RuleError:
        return f"'{module}' is not installed on the hub, and its package name is not a plain one: find it on PyPI"
    conda = " --conda" if manager == "conda" else ""
    return f"not installed on the hub: hubctl packages add{conda} {spec}"


def _missing_module(chain: list[dict[str, Any]], modules: dict[str, Any]) -> Finding | None:
    for item in chain:
        if "ModuleNotFoundError" not in str(item.get("type")):
            continue
        name = str(item.get("name") or "")
        if not name:
            match = re.search(r"No module named '([^']+)'", str(item.get("message")))
            name = match.group(1) if match else ""
        if not name:
            return None
        top = name.split(".")[0]
        known = modules.get(top) or {}
        if known.get("installed") and name != top:
            # the package is there, one of its modules is not: it moved or went in this release
            return _old_api_finding(known, f"has no module {name}")
        return Finding("missing-module", install_hint(top))
    return None


def _old_api_finding(module: dict[str, Any], what: str) -> Finding:
    dist, version = module.get("distribution") or "the library", module.get("version")
    installed = f"{dist} {version}" if version else dist
    return Finding(
        "old-api",
        f"{installed} (installed on the hub) {what}: the notebook was written for an older {dist}; "
        f"update the notebook, or install the release it was written for (hubctl packages add '{dist}==X.Y')",
    )


def _old_api(
    ename: str, evalue: str, chain: list[dict[str, Any]], kinds: list[set[str]], facts: dict[str, Any],
    modules: dict[str, Any],
) -> Finding | None:  # fmt: skip
    if not chain:
        return None
    first, first_kinds = chain[0], kinds[0]
    if first_kinds & set(_NOT_OLD_API):
        return None
    message = str(first.get("message") or evalue)
    imported = re.search(r"cannot import name '([^']+)' from '([A-Za-z0-9_.]+)'", message)
    if imported:
        top = imported.group(2).split(".")[0]
        return _old_api_finding(
            modules.get(top) or {"distribution": top}, f"has no {imported.group(1)} in {imported.group(2)}"
        )
    attribute = re.search(r"module '([A-Za-z0-9_.]+)' has no attribute '([^']+)'", message)
    if attribute:
        top = attribute.group(1).split(".")[0]
        return _old_api_finding(
            modules.get(top) or {"distribution": top}, f"has no {attribute.group(1)}.{attribute.group(2)}"
        )
    library = facts.get("library_module")
    if library and first_kinds & set(_OLD_API_TYPES):
        return _old_api_finding(
            modules.get(library) or {"distribution": library}, f"refused: {plain(f'{ename}: {evalue}', 160)}"
        )
    return None


# --- no network ----------------------------------------------------------------------------------------


def _network(
    chain: list[dict[str, Any]], kinds: list[set[str]], facts: dict[str, Any], here: Situation
) -> Finding | None:
    hits = False
    for item, item_kinds in zip(chain, kinds, strict=False):
        message = str(item.get("message") or "")
        if (
            item_kinds & _NETWORK_TYPES
            or item.get("errno") in _NETWORK_ERRNOS
            or any(word in message for word in _NETWORK_WORDS)
        ):
            hits = True
        if "builtins.FileNotFoundError" in item_kinds:
            return None  # a missing local file; its errno (2) must not read as a name-resolution code
    if not hits:
        return None
    host, port = _host(facts, chain)
    if not host:
        return Finding("no-network", "the kernel could not reach the network, and the host is unknown")
    if here.probe is None:
        return Finding("no-network", f"a participant's kernel could not reach {host}:{port}")
    seen = here.probe(host, port)
    where = f"{host}:{port}"
    if seen == "ok":
        return Finding(
            "no-network",
            f"the hub blocks it: {where} answers the hub itself (as root) but not a participant's kernel "
            "(a firewall rule for participants' processes); or put the data into a data repo (hubctl sync)",
        )
    return Finding(
        "no-network",
        f"the hub lacks access: {seen} from the hub itself; put the data into a data repo (hubctl sync) "
        "instead of downloading it in the notebook",
    )


def _host(facts: dict[str, Any], chain: list[dict[str, Any]]) -> tuple[str, int]:
    for entry in facts.get("hosts") or []:
        if isinstance(entry, list) and entry and isinstance(entry[0], str):
            port = entry[1] if len(entry) > 1 and isinstance(entry[1], int) else 443
            return entry[0], port
    for item in chain:
        message = str(item.get("message") or "")
        match = re.search(r"host='([^']+)'(?:, port=(\d+))?", message) or re.search(
            r"https?://([A-Za-z0-9.-]+)(?::(\d+))?", message
        )
        if match:
            return match.group(1), int(match.group(2) or 443)
    return "", 0


def probe(host: str, port: int, timeout: float = 5) -> str:
    """'ok' when this machine (root on the hub) resolves ``host`` and connects to ``port``, else why not."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        return f"{host} does not resolve ({getattr(err, 'strerror', None) or err})"
    if not addresses:
        return f"{host} does not resolve"
    family, kind, proto, _, address = addresses[0]
    try:
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(timeout)
            sock.connect(address)
    except OSError as err:
        return f"{host}:{port} does not answer ({err.strerror or err})"
    return "ok"


# --- missing files and folders ---------------------------------------------------------------------------

_QUOTED = re.compile(r"'([^']+)'|\"([^\"]+)\"")
_OTHER_ACCOUNT = re.compile(r"^(?:/home/|/Users/|[A-Za-z]:\\)|(?:^|/)jupyter-[a-z0-9]")


def _missing_path(
    chain: list[dict[str, Any]], kinds: list[set[str]], facts: dict[str, Any], here: Situation
) -> Finding | None:
    written = folder_only = None
    for item, item_kinds in zip(chain, kinds, strict=False):
        message = str(item.get("message") or "")
        is_missing = item.get("errno") == errno.ENOENT or "builtins.FileNotFoundError" in item_kinds
        if not is_missing and not any(word in message for word in _MISSING_WORDS):
            continue
        if "non-existent directory" in message:
            match = _QUOTED.search(message.split("non-existent directory", 1)[1])
            folder_only = (match.group(1) or match.group(2)) if match else None
        written = item["filename"] if isinstance(item.get("filename"), str) else _path_in(message)
        if written or folder_only:
            break
    if not (written or folder_only):
        return None
    cwd = Path(str(facts.get("cwd") or here.home))
    if folder_only:
        return _missing_folder(folder_only, cwd, here)
    assert written is not None
    target = Path(os.path.normpath(cwd / written))
    wants_folder = not Path(written).suffix
    if wants_folder:
        return _missing_folder(written, cwd, here)
    nearest = nearest_path(written, cwd, here, folders=False)
    if nearest is None and not target.parent.exists():
        parent = str(Path(written.rstrip("/")).parent)
        return _missing_folder(parent, cwd, here, file=written)
    return Finding("missing-file", _file_hint(written, cwd, here, nearest))


def _path_in(message: str) -> str | None:
    """The path an error message names: quoted, or before ': No such file or directory'."""
    for match in _QUOTED.finditer(message):
        value = match.group(1) or match.group(2)
        if "/" in value or "." in value:
            return value
    before = re.match(r"^(?:[A-Za-z]+Error: )?(\S+): No such file or directory", message)
    return before.group(1) if before else None


def _shown(path: Path, home: Path) -> str:
    try:
        return "~/" + str(path.relative_to(home))
    except ValueError:
        return str(path)


def _file_hint(written: str, cwd: Path, here: Situation, nearest: Path | None) -> str:
    if nearest is not None:
        relative = os.path.relpath(nearest, cwd)
        return f"'{written}' does not exist; the nearest existing path is '{relative}' ({_shown(nearest, here.home)})"
    where = f"{_shown(cwd, here.home)}"
    return (
        f"'{written}' does not exist (looked from {where}); nothing like it under the home or the data "
        "folders: add it to the notebooks or a data repo"
    )


def _missing_folder(folder: str, cwd: Path, here: Situation, file: str | None = None) -> Finding:
    nearest = nearest_path(folder, cwd, here, folders=True)
    what = f"'{folder}', where '{file}' should be," if file else f"'{folder}'"
    if nearest is not None:
        relative = os.path.relpath(nearest, cwd)
        return Finding(
            "missing-folder",
            f"the folder {what} does not exist; the nearest existing folder is '{relative}' "
            f"({_shown(nearest, here.home)})",
        )
    if _OTHER_ACCOUNT.search(folder):
        return Finding(
            "missing-folder",
            f"the folder {what} does not exist here: it looks like a folder of the author's own account or "
            "computer; use a path relative to the notebook's folder instead",
        )
    return Finding(
        "missing-folder",
        f"the folder {what} does not exist and nobody made it: the notebook expects it; make it in the "
        f"notebook (os.makedirs('{folder}', exist_ok=True)) or keep it in the repository",
    )


SEARCH_LIMIT = 20_000
SEARCH_DEPTH = 6


def candidates(roots: Iterable[Path], folders: bool) -> list[Path]:
    """Existing paths under ``roots`` (following the data links in a home), hidden ones left out."""
    found: list[Path] = []
    for root in roots:
        if not root.is_dir():
            continue
        base = len(root.parts)
        for folder, dirs, files in os.walk(root, followlinks=True):
            here = Path(folder)
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
            if len(here.parts) - base >= SEARCH_DEPTH:
                dirs[:] = []
            found += (
                [here / d for d in dirs]
                if folders
                else [here / f for f in sorted(files) if not f.startswith(".")]
            )
            if len(found) >= SEARCH_LIMIT:
                return found
    return found


def nearest_path(written: str, cwd: Path, here: Situation, *, folders: bool) -> Path | None:
    """The existing path most like ``written`` (as the notebook wrote it, from ``cwd``), under the home
    and the data folders; None when nothing is close."""
    wanted = os.path.normpath(written).lower()
    name = Path(wanted).name
    best: tuple[float, int, Path] | None = None
    for path in candidates([here.home, here.data_root], folders):
        relative = os.path.relpath(path, cwd).lower()
        matcher = difflib.SequenceMatcher(None, wanted, relative)
        bonus = 0.25 if path.name.lower() == name else 0.0
        if matcher.real_quick_ratio() + bonus < 0.7 or matcher.quick_ratio() + bonus < 0.7:
            continue
        score = matcher.ratio() + bonus
        if score >= 0.75 and (best is None or (score, -len(relative)) > (best[0], best[1])):
            best = (score, -len(relative), path)
    return best[2] if best else None


# --- follow-on errors ------------------------------------------------------------------------------------


def _follow_on(ename: str, evalue: str, chain: list[dict[str, Any]], here: Situation) -> Finding | None:
    if ename != "NameError" or not here.earlier:
        return None
    name = str((chain[0] if chain else {}).get("name") or "")
    if not name:
        match = re.search(r"name '([^']+)' is not defined", evalue)
        name = match.group(1) if match else ""
    for number, source in reversed(here.earlier):
        if name and name in assigned_names(source):
            return Finding(
                "follow-on", f"'{name}' comes from cell {number}, which failed first: fix that cell"
            )
    return None
