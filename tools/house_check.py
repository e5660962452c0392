"""The house's two rules, checked from the source: no import cycles between the rooms of
`harness/`, and no function over 80 lines (store migrations excepted).

    python tools/house_check.py [--max-lines 80] [--root harness]

A room is a subpackage (`harness/store/`, `harness/sandboxes/`, ...) or a top-level module
(`harness/runner.py`). Every import counts, at the top of a module or inside a function (an
import moved into a function to dodge a cycle is still a cycle), except those under
`if TYPE_CHECKING:`, which never run. Prints each cycle between rooms, with one import that
makes each step, and each long function with its file, line and length; exits 1 if it found
any, 0 if none.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Alembic revisions are generated, linear scripts: their length is not design.
EXEMPT_FROM_LENGTH = ("store/revisions/",)


@dataclass(frozen=True)
class Edge:
    """One import that makes room `source` depend on room `target`."""

    source: str
    target: str
    where: str  # file:line of the import


@dataclass(frozen=True)
class LongFunction:
    where: str
    name: str
    lines: int


def room_of(module: str, package: str, rooms: set[str]) -> str | None:
    """The room a dotted module name belongs to: `harness.store.schema` -> `store`."""
    parts = module.split(".")
    if parts[0] != package or len(parts) < 2:
        return None
    return parts[1] if parts[1] in rooms else None


def module_name(path: Path, package_dir: Path) -> str:
    relative = path.relative_to(package_dir.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(tree: ast.Module, module: str, is_package: bool) -> list[tuple[str, int]]:
    """(imported module, line) of every import that runs, relative ones resolved."""
    found: list[tuple[str, int]] = []
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if _type_checking_block(node):
            skipped.update(id(child) for child in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append((target, node.lineno))
            # `from harness import runner` imports the module harness.runner.
            found += [(f"{target}.{alias.name}", node.lineno) for alias in node.names]
    return found


def scan(package_dir: Path, max_lines: int) -> tuple[list[Edge], list[LongFunction]]:
    package = package_dir.name
    rooms = {
        child.stem if child.is_file() else child.name
        for child in package_dir.iterdir()
        if (child.is_file() and child.suffix == ".py" and child.stem not in ("__init__",
                                                                              "__main__"))
        or (child.is_dir() and (child / "__init__.py").exists())
    }
    edges: list[Edge] = []
    long_functions: list[LongFunction] = []
    for path in sorted(package_dir.rglob("*.py")):
        relative = path.relative_to(package_dir).as_posix()
        module = module_name(path, package_dir)
        source_room = room_of(module, package, rooms)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        if source_room is not None:
            for target, line in imports_of(tree, module, path.name == "__init__.py"):
                target_room = room_of(target, package, rooms)
                if target_room is not None and target_room != source_room:
                    edges.append(Edge(source_room, target_room,
                                      f"{package}/{relative}:{line}"))
        if relative.startswith(EXEMPT_FROM_LENGTH):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > max_lines:
                    long_functions.append(
                        LongFunction(f"{package}/{relative}:{node.lineno}", node.name, length)
                    )
    return edges, long_functions


def cycles(edges: list[Edge]) -> list[list[str]]:
    """The strongly connected components of more than one room (Tarjan), each sorted: every
    room in one can reach every other, so each is one knot to untie."""
    graph: dict[str, set[str]] = defaultdict(set)
    for edge in edges:
        graph[edge.source].add(edge.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
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

    sys.setrecursionlimit(max(1000, 10 * len(graph) + 100))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components)


def shortest_loop(component: list[str], edges: list[Edge]) -> list[Edge]:
    """One shortest loop through the component's first room, as the imports that make it."""
    members = set(component)
    first: dict[tuple[str, str], Edge] = {}
    for edge in edges:
        if edge.source in members and edge.target in members:
            first.setdefault((edge.source, edge.target), edge)
    start = component[0]
    paths: dict[str, list[Edge]] = {start: []}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for (source, target), edge in sorted(first.items()):
                if source != node:
                    continue
                if target == start:
                    return [*paths[node], edge]
                if target not in paths:
                    paths[target] = [*paths[node], edge]
                    following.append(target)
        frontier = following
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(ROOT / "harness"), help="the package folder")
    parser.add_argument("--max-lines", type=int, default=80)
    args = parser.parse_args(argv)
    package_dir = Path(args.root).resolve()
    if not (package_dir / "__init__.py").is_file():
        print(f"error: {package_dir} is not a Python package", file=sys.stderr)
        return 2
    edges, long_functions = scan(package_dir, args.max_lines)
    knots = cycles(edges)
    print(f"import cycles between the rooms of {package_dir.name}/: {len(knots)}")
    for component in knots:
        print(f"  {' <-> '.join(component)}")
        for edge in shortest_loop(component, edges):
            print(f"    {edge.source} -> {edge.target}  ({edge.where})")
    print(f"functions over {args.max_lines} lines (store revisions excepted): "
          f"{len(long_functions)}")
    for function in sorted(long_functions, key=lambda f: -f.lines):
        print(f"  {function.lines:4d}  {function.name}  {function.where}")
    return 1 if knots or long_functions else 0


if __name__ == "__main__":
    sys.exit(main())
