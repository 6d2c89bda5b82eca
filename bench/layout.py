"""The code's shape in numbers: largest module and function, imports inside functions, import cycles,
imports that point up a layer, lines. Run: python bench/layout.py [ROOT] (default: this checkout).

Read from the source (ast), nothing imported. An import under ``if TYPE_CHECKING:`` counts for cycles and
layers (the module depends on what it names) but it is not an import inside a function (it never runs).
tests/unit/test_layout.py holds the rules below as facts (no cycle, nothing points up).
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# Where each top-level package lives (pyproject.toml's package-dir).
PACKAGE_ROOTS = {
    "workshop_hub": "lambdas/workshop_hub",
    "handlers": "lambdas/handlers",
    "hubagent": "agent/hubagent",
    "hubctl": "hubctl",
    "sandbox": "sandbox",
    "stacks": "stacks",
}
# Counted for "imports inside functions": every package.
FUNCTION_IMPORT_SCOPE = ("lambdas", "stacks", "hubctl", "sandbox", "agent")

# (importer prefix, imported prefix, why it points up). Prefixes match whole dotted parts.
UPWARD: tuple[tuple[str, str, str], ...] = (
    ("workshop_hub", "handlers", "the domain reaches into the Lambda handlers"),
    ("workshop_hub", "hubctl", "the domain reaches into the CLI"),
    ("workshop_hub", "stacks", "the domain reaches into the infrastructure"),
    ("stacks", "hubctl", "the infrastructure depends on the CLI"),
    ("stacks", "handlers", "the infrastructure depends on the Lambda handlers"),
    ("hubagent", "workshop_hub", "the agent (on the instance) depends on the control plane"),
    ("hubagent", "hubctl", "the agent (on the instance) depends on the CLI"),
    ("hubagent", "sandbox", "the agent (on the instance) depends on the local sandbox"),
    ("workshop_hub", "sandbox", "the domain reaches into the local sandbox"),
    ("handlers", "sandbox", "the Lambda handlers depend on the local sandbox"),
    ("stacks", "sandbox", "the infrastructure depends on the local sandbox"),
    (
        "sandbox",
        "hubctl",
        "the local sandbox depends on the CLI (hubctl may drive the sandbox, not the reverse)",
    ),
)
# The domain talks to AWS through its ports only: these packages are wired in by the handlers.
ADAPTER_PACKAGES = (
    "workshop_hub.adapters",
    "workshop_hub.store",
)  # store: the DynamoDB adapters until they moved


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module
    imported: str  # dotted module (or package) it names
    line: int
    in_function: bool
    typing_only: bool = False  # under `if TYPE_CHECKING:`


@dataclass
class Module:
    name: str
    path: Path
    lines: int
    imports: list[Import] = field(default_factory=list)
    largest_function: tuple[int, str] = (0, "")


def module_name(path: Path, root: Path) -> str | None:
    relative = path.relative_to(root)
    for package, folder in PACKAGE_ROOTS.items():
        base = Path(folder)
        if relative.parts[: len(base.parts)] == base.parts:
            rest = relative.relative_to(base).with_suffix("")
            parts = [package, *rest.parts]
            if parts[-1] == "__init__":
                parts.pop()
            return ".".join(parts)
    return None


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(
    node: ast.AST, in_function: bool, typing_only: bool = False
) -> Iterator[tuple[ast.AST, bool, bool]]:
    """Every node under ``node`` with (inside a function, under ``if TYPE_CHECKING:``)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _type_checking(child):
            for body in child.body:
                yield body, in_function, True
                yield from _walk(body, in_function, True)
            for other in child.orelse:
                yield other, in_function, typing_only
                yield from _walk(other, in_function, typing_only)
            continue
        yield child, in_function, typing_only
        inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        yield from _walk(child, inner, typing_only)


def _resolve(name: str, known: set[str]) -> str:
    """The longest known module that ``name`` is or lies in (``a.b.Thing`` -> ``a.b``)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in known:
            return candidate
        parts.pop()
    return name


def parse(root: Path) -> dict[str, Module]:
    modules: dict[str, Module] = {}
    trees: dict[str, tuple[ast.Module, bool]] = {}
    for folder in PACKAGE_ROOTS.values():
        for path in sorted((root / folder).rglob("*.py")):
            name = module_name(path, root)
            if name is None or "__pycache__" in path.parts:
                continue
            source = path.read_text(encoding="utf-8")
            modules[name] = Module(name, path, len(source.splitlines()))
            trees[name] = (ast.parse(source), path.name == "__init__.py")
    known = set(modules)
    for name, (tree, is_package) in trees.items():
        module = modules[name]
        package = name if is_package else name.rpartition(".")[0]
        for node, in_function, typing_only in _walk(tree, False):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                module.largest_function = max(module.largest_function, (length, f"{name}.{node.name}"))
            targets: list[str] = []
            line = getattr(node, "lineno", 0)
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{alias.name}" for alias in node.names]
            for target in targets:
                if target.split(".")[0] not in PACKAGE_ROOTS:
                    continue
                imported = _resolve(target, known)
                module.imports.append(Import(name, imported, line, in_function, typing_only))
    return modules


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def upward(modules: dict[str, Module]) -> list[tuple[Import, str]]:
    found: list[tuple[Import, str]] = []
    for module in modules.values():
        for imp in module.imports:
            for importer, imported, why in UPWARD:
                if _within(imp.importer, importer) and _within(imp.imported, imported):
                    found.append((imp, why))
            in_domain = _within(imp.importer, "workshop_hub") and not any(
                _within(imp.importer, a) for a in ADAPTER_PACKAGES
            )
            if in_domain and any(_within(imp.imported, a) for a in ADAPTER_PACKAGES):
                found.append((imp, "the domain imports an adapter (wire it in from the handlers)"))
    return found


def cycles(modules: dict[str, Module]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    graph = {
        name: sorted({i.imported for i in m.imports if i.imported in modules and i.imported != name})
        for name, m in modules.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(graph[nxt])))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for name in sorted(graph):
        if name not in index:
            visit(name)
    return sorted(groups)


def in_function_imports(modules: dict[str, Module], root: Path) -> list[Import]:
    scope = tuple(root / folder for folder in FUNCTION_IMPORT_SCOPE)
    return [
        imp
        for m in modules.values()
        if any(m.path.is_relative_to(s) for s in scope)
        for imp in m.imports
        if imp.in_function and not imp.typing_only
    ]


def all_in_function_imports(root: Path) -> list[tuple[str, str]]:
    """(module, what it imports) for every import inside a function, of any package (boto3, yaml, ...)."""
    found: list[tuple[str, str]] = []
    for folder in FUNCTION_IMPORT_SCOPE:
        for path in sorted((root / folder).rglob("*.py")):
            name = module_name(path, root) or str(path.relative_to(root))
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node, inside, typing_only in _walk(tree, False):
                if not inside or typing_only:
                    continue
                if isinstance(node, ast.Import):
                    found.extend((name, alias.name) for alias in node.names)
                elif isinstance(node, ast.ImportFrom):
                    found.append((name, "." * node.level + (node.module or "")))
    return found


def lines(root: Path, folder: str) -> tuple[int, int]:
    files = [p for p in (root / folder).rglob("*.py") if "__pycache__" not in p.parts]
    return len(files), sum(len(p.read_text(encoding="utf-8").splitlines()) for p in files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", nargs="?", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("-v", "--verbose", action="store_true", help="list every finding")
    args = parser.parse_args()
    root: Path = args.root.resolve()
    modules = parse(root)
    for folder in ("lambdas", "stacks", "hubctl", "sandbox", "agent"):
        inside = [m for m in modules.values() if m.path.is_relative_to(root / folder)]
        biggest = max(inside, key=lambda m: m.lines)
        function = max(m.largest_function for m in inside)
        files, total = lines(root, folder)
        print(f"{folder + '/':<9} {files:3d} files {total:6d} lines", end="")
        print(f"; largest module {biggest.name} ({biggest.lines} lines)", end="")
        print(f"; largest function {function[1]} ({function[0]} lines)")
    found_cycles = cycles(modules)
    print(f"import cycles (every package): {len(found_cycles)}")
    for group in found_cycles:
        print("    " + " <-> ".join(group))
    found_up = upward(modules)
    print(f"imports that point up a layer: {len(found_up)}")
    for imp, why in found_up:
        print(f"    {imp.importer}:{imp.line} -> {imp.imported} ({why})")
    inside_functions = all_in_function_imports(root)
    print(
        f"imports inside functions (every package): {len(inside_functions)} in all, "
        f"{len(in_function_imports(modules, root))} of the project's own modules"
    )
    if args.verbose:
        for importer, imported in inside_functions:
            print(f"    {importer} -> {imported}")


if __name__ == "__main__":
    main()
