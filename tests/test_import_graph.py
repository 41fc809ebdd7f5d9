"""The package's imports flow one way: no module imports, directly or through others, a module
that imports it back (function-level imports count: they run too). Parsed from the source, so a
new circle fails here before anyone trips over it at run time."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "harness"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                # a package's __init__ importing its own submodules (a registry filling itself) is
                # the package's own business, not a circle between modules
                if target and target != name and not target.startswith(f"{name}."):
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_harness_has_no_import_circle():
    assert cycles(import_graph()) == []


def test_the_checker_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# ARCHITECTURE.md's layers, lowest first: a module imports from its own layer or below, never above
LAYERS = [
    ("foundations", ["harness", "harness.errors", "harness.progress", "harness.library_noise", "harness.lifetime",
                     "harness.metrics", "harness.record.schema"]),
    ("building blocks", ["harness.precision", "harness.models", "harness.methods", "harness.tasks", "harness.measure",
                         "harness.record.store", "harness.record.environment", "harness.record.integrity",
                         "harness.learning_curve", "harness.distributed", "harness.generation", "harness.evaluation",
                         "harness.training", "harness.record.identity", "harness.record", "harness.predict.gpus",
                         "harness.trackers"]),
    ("cell set-up", ["harness.cell_setup"]),
    ("modes", ["harness.run", "harness.predict"]),
    ("cell", ["harness.cell"]),
    ("launching", ["harness.lr_search", "harness.recipes", "harness.claims", "harness.validate", "harness.launch",
                   "harness.compact", "harness.cli", "harness.__main__", "harness.calibration",
                   "harness.recompute"]),
    ("outputs", ["harness.report", "harness.regress"]),
]


def layer_of(module: str) -> int:
    best, level = "", None
    for k, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(f"{p}.")) and len(p) > len(best):
                best, level = p, k
    assert level is not None, f"{module}: in no layer of ARCHITECTURE.md"
    return level


def test_no_module_imports_from_a_higher_layer():
    graph = import_graph()
    upward = sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets if layer_of(b) > layer_of(a))
    assert upward == []
