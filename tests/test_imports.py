"""The import graph of the project's own code has no cycles, and ``crmsync --help`` stays light.

Every ``import`` statement counts, at module level and inside functions alike: an import
deferred into a function is still a dependency, and two modules that need each other are one
design problem whichever of them defers the import. Imports under ``if TYPE_CHECKING:`` are
type annotations only and are left out. The graph is built from the files on disk, so it
covers whatever modules the tree has when the test runs.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("crmsync", "flows", "tasks")
HEAVY = ("sqlalchemy", "sqlmodel", "pandas", "prefect", "great_expectations", "alembic")


def module_files(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Every module of the packages, by dotted name (a package by its own name)."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node: ast.AST):
    """Import statements anywhere in ``node``, skipping the bodies of ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _import_nodes_of(other)
            continue
        yield from _import_nodes_of(child)


def _import_nodes_of(node: ast.AST):
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    yield from _import_nodes(node)


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The module ``name`` refers to, or its nearest enclosing module we know; None if not ours."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules one module imports.

    ``from a.b import c`` depends on ``a.b.c`` when that is a module, else on ``a.b``; a
    package's own ``__init__`` is not counted as a dependency of its submodules.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" if base else alias.name for alias in node.names]
            names = [name if name in modules else base for name in names]
        for name in names:
            target = _known(name, modules)
            if target and target != module:
                targets.add(target)
    return targets


def import_graph(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    modules = module_files(root, packages)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The cycles of the graph, as closed paths: a shortest one through each module on a cycle.

    Modules on a cycle are those in a strongly connected component of more than one module
    (Tarjan); each cycle is listed once, starting from its alphabetically first module.
    """
    cycles: set[tuple[str, ...]] = set()
    for component in _components(graph):
        for module in component:
            cycle = _shortest_cycle(module, graph, set(component))
            start = cycle.index(min(cycle))
            cycles.add((*cycle[start:], *cycle[:start], min(cycle)))
    return [list(cycle) for cycle in sorted(cycles)]


def _components(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def _shortest_cycle(start: str, graph: dict[str, set[str]], members: set[str]) -> list[str]:
    """A shortest path from ``start`` back to itself inside its component, without the return."""
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph.get(node, set()) & members):
            if nxt == start:
                return paths[node]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    raise AssertionError(f"no cycle through {start}")  # unreachable inside a strongly connected component


def test_no_import_cycles():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles:\n" + "\n".join("  " + " -> ".join(cycle) for cycle in cycles)


def test_the_graph_sees_every_kind_of_import(tmp_path):
    """The walker itself: lazy, relative and from-imports count; TYPE_CHECKING imports do not."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "from pkg import sub  # the package imports its subpackage\n",
        "a.py": "import pkg.b\n",
        "b.py": "def later():\n    from .sub import c\n",
        "sub/__init__.py": "",
        "sub/c.py": "from ..a import something\n",
        "d.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from pkg import e\nelse:\n    import os\n"
        ),
        "e.py": "import typing\nif typing.TYPE_CHECKING:\n    import pkg.d\nfrom pkg import d\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    graph = import_graph(tmp_path, ("pkg",))
    assert graph == {
        "pkg": {"pkg.sub"},
        "pkg.a": {"pkg.b"},
        "pkg.b": {"pkg.sub.c"},
        "pkg.sub": set(),
        "pkg.sub.c": {"pkg.a"},
        "pkg.d": set(),
        "pkg.e": {"pkg.d"},
    }
    assert find_cycles(graph) == [["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]]
    assert find_cycles({"a": {"b", "c"}, "b": {"a"}, "c": {"a"}, "d": {"a"}}) == [
        ["a", "b", "a"],
        ["a", "c", "a"],
    ]


def test_help_imports_no_heavy_library():
    """``crmsync --help`` stays fast: the heavy libraries load inside the commands that need them."""
    probe = (
        "import sys\n"
        "from crmsync.cli import main\n"
        "sys.argv = ['crmsync', '--help']\n"
        "try:\n    main()\n"
        "except SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout
