"""The package's import graph, lazy imports inside functions included: no circle, and no
module imports from a floor above its own (the floors the README's development section draws)."""

from __future__ import annotations

import ast
from pathlib import Path

import rwsr

PACKAGE = Path(rwsr.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """rwsr module -> the rwsr modules it imports (`from a.b import c` names a.b.c when c is a
    module, else a.b); TYPE_CHECKING-only imports are left out (they never run)."""
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        type_only = {
            id(node)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
            for node in ast.walk(block)
        }
        for node in ast.walk(tree):
            if id(node) in type_only:
                continue
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rwsr"):
                for alias in node.names:
                    target = f"{node.module}.{alias.name}"
                    graph[name].add(target if target in modules else node.module)
            elif isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names if a.name.startswith("rwsr"))
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for child in sorted(graph.get(node, ())):
            if child == node or child not in graph:
                continue
            if state.get(child) == "open":
                return path[path.index(child) :] + [child]
            if child not in state and (cycle := visit(child)):
                return cycle
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_package_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


# The floors of the house, top to bottom, as the README's development section draws them: a
# module imports only from its own floor or the floors below.
FLOORS = (
    ("__main__", "cli"),
    ("train", "eval", "mos"),
    ("upscale", "metrics"),  # LPIPS loads its backbones through rwsr.models.pretrained
    ("models",),
    ("data",),
    ("imageio", "device", "outputs"),
    ("atomic", "errors", "sample_types", ""),
)


def floor_of(module: str) -> int:
    room = module.split(".")[1] if "." in module else ""
    level = next((level for level, rooms in enumerate(FLOORS) if room in rooms), None)
    assert level is not None, f"{module}: give rwsr.{room} a floor in FLOORS"
    return level


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        for target in targets
        if target in graph and floor_of(target) < floor_of(module)
    )


def test_every_module_imports_only_from_its_floor_or_below() -> None:
    graph = import_graph()
    for module in graph:
        floor_of(module)  # every module has a floor, importing or not
    assert upward_imports(graph) == []


def test_an_upward_import_is_found() -> None:
    graph = {"rwsr.data.pairs": {"rwsr.upscale.engine"}, "rwsr.upscale.engine": set()}
    assert upward_imports(graph) == ["rwsr.data.pairs -> rwsr.upscale.engine"]
