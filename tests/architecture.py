"""The import graph of the project's own modules, and its cycles.

Counts every import statement, at any depth (inside functions too, where cycles
hide). A package's ``__init__`` importing its own submodules is its face, not a cycle.
Run as ``python -m tests.architecture`` (``make lint`` does): exits 1 on a cycle.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def import_graph(root: Path, packages: tuple[str, ...]
                 ) -> tuple[dict[str, set[str]], dict[str, Path]]:
    """(module -> modules it imports, module -> file) for the modules under ``packages``."""
    files: dict[str, Path] = {}
    for pkg in packages:
        for f in sorted((root / pkg).rglob("*.py")):
            name = ".".join(f.relative_to(root).with_suffix("").parts)
            files[name.removesuffix(".__init__")] = f

    def owner(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in files}
    for module, path in files.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = module.split(".") if is_pkg else module.split(".")[:-1]
                    parts = parts[: len(parts) - (node.level - 1)]
                    base = ".".join([*parts, *([base] if base else [])])
                names = [base, *(f"{base}.{a.name}" for a in node.names)]
            for target in filter(None, map(owner, names)):
                face = (is_pkg and target.startswith(module + ".")) or (
                    files[target].name == "__init__.py" and module.startswith(target + "."))
                if target != module and not face:
                    graph[module].add(target)
    return graph, files


def import_cycles(root: Path, packages: tuple[str, ...]) -> list[list[str]]:
    """Each strongly connected component of two or more modules, sorted."""
    graph, _ = import_graph(root, packages)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    cycles = import_cycles(root, ("harness", "baselines"))
    for c in cycles:
        print("import cycle: " + " -> ".join(c))
    print(f"{len(cycles)} import cycle(s)")
    sys.exit(1 if cycles else 0)
