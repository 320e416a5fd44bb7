"""The house: one package, layers that import downward only, no circle of imports, every file
<= 600 lines (docs/architecture.md). Read from the sources' syntax trees: nothing is imported."""

import ast
import pathlib

import pytest

from conftest import ROOT

PACKAGE = pathlib.Path(ROOT) / "smoothclap"
# the top-level part of smoothclap -> its layer; a module may import its own part and lower layers
LAYERS = {
    "models": 0, "assets": 0, "repo_ids": 0, "processes": 0, "console": 0, "registration": 0,
    "data": 1,
    "evaluation": 2,                     # below training (validation UAR) and inference (model loading)
    "training": 3, "inference": 3,
    "release": 4, "demo": 4, "app": 4,
    "cli": 5, "api": 5, "__init__": 5, "__main__": 5,
}
BASE = {name for name, layer in LAYERS.items() if layer == 0}  # small shared modules: usable from anywhere
ENTRY = {name for name, layer in LAYERS.items() if layer == 5}


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


ALL_MODULES = {module_name(p) for p in sources()}


def imports(path: pathlib.Path) -> set[str]:
    """Every smoothclap module this file imports, at the top or inside a function."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            submodules = {f"{module}.{a.name}" for a in node.names} & ALL_MODULES  # `from pkg import module`
            found |= submodules or {module}
    return {m for m in found if m.split(".")[0] == "smoothclap" and m != me}


def part(module: str) -> str:
    bits = module.split(".")
    return bits[1] if len(bits) > 1 else "__init__"


def test_every_part_has_a_layer():
    assert {part(module_name(p)) for p in sources()} <= set(LAYERS)


def test_imports_run_downward_only():
    wrong = []
    for path in sources():
        mine = part(module_name(path))
        for module in imports(path):
            theirs = part(module)
            if theirs == mine or theirs in BASE or (mine in ENTRY and theirs in ENTRY):
                continue
            if LAYERS[theirs] >= LAYERS[mine]:
                wrong.append(f"{module_name(path)} -> {module}")
    assert not wrong, "imports that run up or sideways a layer:\n" + "\n".join(wrong)


def test_no_circle_of_imports():
    modules = {module_name(p): p for p in sources()}
    graph = {name: {m for m in imports(path) if m in modules} for name, path in modules.items()}
    state, circle = {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                circle.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not circle, "circles: " + "; ".join(" -> ".join(c) for c in circle)


@pytest.mark.parametrize("folder", ["smoothclap", "tests", "bench", "space", "dataset_scripts", "metrics"])
def test_every_file_is_at_most_600_lines(folder):
    long = [f"{p} ({n})" for p in sorted((pathlib.Path(ROOT) / folder).rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > 600]
    assert not long, long
