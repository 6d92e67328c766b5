"""Print the import cycles among a package's modules at run time; exit 1 if there is one.

Usage: python scripts/check_import_cycles.py rq

Every ``import`` and ``from ... import`` counts, at module level or inside a function,
except those under ``if TYPE_CHECKING:`` (they only feed annotations). An import names
the module it loads: ``from . import layout`` is an edge to ``rq.layout``, ``from .job
import Job`` one to ``rq.job``. Imports by a computed name (``importlib``) are not seen.

A cycle is a strongly connected group of two or more modules. Cycles listed in
``ALLOWED`` are reported but do not fail the check; each entry says why it is there.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

# Cycles tolerated for now, by their exact set of modules, with the reason, e.g.
#     frozenset({"rq.a", "rq.b"}): "a <-> b, until <the change that removes it>",
# Keep it empty: an entry is a debt, each one names what removes it.
ALLOWED: dict[frozenset[str], str] = {}

Edge = tuple[str, str, str]  # (importer, imported, "path:line")


def module_name(root: Path, path: Path) -> str:
    """``rq/job.py`` -> ``rq.job``; ``rq/cli/__init__.py`` -> ``rq.cli``."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements outside ``if TYPE_CHECKING:`` blocks (their ``else`` counts)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
            continue
        if isinstance(node, ast.If) and is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def resolve(importer: str, is_package: bool, node: ast.Import | ast.ImportFrom, modules: set[str]) -> Iterator[str]:
    """The package's modules that ``node`` loads (the most specific one of each name)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            name = alias.name
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                yield name
        return
    if node.level:
        base = importer.split(".") if is_package else importer.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    found = False
    for alias in node.names:
        submodule = f"{target}.{alias.name}"
        if submodule in modules:  # from package import submodule
            found = True
            yield submodule
    if not found:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target:
            yield target


def edges_of(root: Path) -> tuple[set[str], list[Edge]]:
    paths = {module_name(root, path): path for path in sorted(root.rglob("*.py"))}
    modules = set(paths)
    edges: list[Edge] = []
    for importer, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in runtime_imports(tree):
            for imported in resolve(importer, is_package, node, modules):
                if imported != importer:
                    edges.append((importer, imported, f"{path}:{node.lineno}"))
    return modules, edges


def cycles(modules: set[str], edges: list[Edge]) -> list[list[str]]:
    """Strongly connected groups of two or more modules (Tarjan's algorithm, iterative)."""
    graph: dict[str, set[str]] = {module: set() for module in modules}
    for importer, imported, _ in edges:
        graph[importer].add(imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
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
    return sorted(groups, key=lambda group: (-len(group), group))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    root = Path(argv[1]).resolve()
    if not (root / "__init__.py").is_file():
        print(f"{argv[1]} is not a package directory", file=sys.stderr)
        return 2
    modules, edges = edges_of(root)
    failing = allowed = 0
    for group in cycles(modules, edges):
        members = set(group)
        reason = ALLOWED.get(frozenset(members))
        label = f"allowed cycle ({reason})" if reason else "cycle"
        print(f"{label} of {len(group)}: {', '.join(group)}")
        for importer, imported, where in sorted(edges):
            if importer in members and imported in members:
                print(f"   {importer} -> {imported} ({Path(where).relative_to(root.parent)})")
        failing += reason is None
        allowed += reason is not None
    if failing:
        print(f"{failing} import cycle(s) at run time in {root.name}/", file=sys.stderr)
        return 1
    tolerated = f", {allowed} allowed one(s) listed above" if allowed else ""
    print(f"no import cycle at run time in {root.name}/ ({len(modules)} modules{tolerated})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
