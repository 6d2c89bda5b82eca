"""A notebook's code cells as a participant runs them, and which part of each only imports.

The rehearsal (on the hub) and ``hubctl plan`` (here) share this. A cell's leading import statements are
run as a request of their own, so the time and CPU spent importing libraries (once per kernel) is told
apart from the cells' own work: the plan's CPU share is measured over the work only. Running a cell's
leading imports and then its rest is what running the cell does (the same statements, in order, in the
same namespace); a cell Python cannot parse (IPython magics, shell escapes) is run whole.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Cell:
    number: int  # 1-based, among all the notebook's cells (markdown included), as a reader counts them
    source: str
    imports: str  # the leading import statements ('' when none)
    rest: str  # what follows them ('' when the cell only imports)

    @property
    def empty(self) -> bool:
        return not self.source.strip()

    @property
    def only_imports(self) -> bool:
        return bool(self.imports) and not self.rest.strip()


def _text(source: object) -> str:
    if isinstance(source, list):
        return "".join(str(line) for line in source)
    return str(source or "")


def split_imports(source: str) -> tuple[str, str]:
    """(leading import statements, the rest) of a cell's code; ('', source) when Python cannot parse it
    or it starts with something else."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return "", source
    lines = source.splitlines(keepends=True)
    last = 0
    for node in tree.body:
        if not isinstance(node, ast.Import | ast.ImportFrom):
            break
        last = node.end_lineno or node.lineno
    if last == 0:
        return "", source
    return "".join(lines[:last]), "".join(lines[last:])


def code_cells(notebook: dict[str, Any]) -> list[Cell]:
    cells = []
    for index, cell in enumerate(notebook.get("cells") or []):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = _text(cell.get("source"))
        imports, rest = split_imports(source)
        cells.append(Cell(index + 1, source, imports, rest))
    return cells


def read(path: Path) -> dict[str, Any]:
    """A notebook file as JSON (nbformat 4)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a notebook (not a JSON object)")
    return data


def kernel_name(notebook: dict[str, Any]) -> str | None:
    spec = (notebook.get("metadata") or {}).get("kernelspec") or {}
    name = spec.get("name") if isinstance(spec, dict) else None
    return str(name) if name else None


def assigned_names(source: str) -> set[str]:
    """Names a cell binds at its top level (assignments, imports, defs): a later NameError on one of
    them follows from this cell's failure."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
    return names


def find_notebooks(folder: Path) -> list[Path]:
    """Every ``.ipynb`` under ``folder`` (hidden folders and checkpoints left out), sorted."""
    found = []
    for path in sorted(folder.rglob("*.ipynb")):
        parts = path.relative_to(folder).parts
        if any(part.startswith(".") for part in parts):
            continue
        found.append(path)
    return found
