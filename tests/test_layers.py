"""The core is laid out in layers, and imports point one way: from the
command line down to the plugin contract. Every import counts, at the top of
a module, inside a function, or for type hints only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ingest"

#: Bottom to top: a module may import from its own layer and the ones below.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("the plugin contract", ("ingest.contract",)),
    ("configuration and the plugin host", ("ingest.host",)),
    ("the engine's parts", ("ingest.engine",)),
    ("the executors", ("ingest.executors",)),
    ("the pipeline", ("ingest.sharded_run", "ingest.runner")),
    ("report and explain", ("ingest.report",)),
    (
        "command line, plugin kit and public API",
        ("ingest.cli", "ingest.testing", "ingest.__main__", "ingest"),
    ),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The ``ingest`` modules that ``name`` imports (``from ingest.x import y``
    counts as ``ingest.x.y`` when that is a module, else as ``ingest.x``)."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def layer_of(module: str) -> int:
    best = None
    for index, (_title, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            inside = module == prefix or module.startswith(prefix + ".")
            if inside and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best[0]


def test_every_module_is_in_a_layer():
    for module in modules():
        layer_of(module)


def test_imports_point_down_the_layers():
    wrong = []
    for module, targets in import_graph().items():
        for target in targets:
            if layer_of(target) > layer_of(module):
                wrong.append(
                    f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
                )
    assert wrong == [], "\n".join(sorted(wrong))


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph``, as a list of modules, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def test_no_import_cycle_inside_ingest():
    graph = import_graph()
    # ``ingest`` itself re-exports the public API from everywhere: inside the
    # package, nothing imports it back.
    assert [m for m, targets in graph.items() if "ingest" in targets and m != "ingest.__main__"] == []
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"a": {"a2"}, "a2": set(), "b": {"c"}, "c": {"b"}}, ["b", "c", "b"]),
    ],
)
def test_the_cycle_finder_finds_cycles(graph, expected):
    assert find_cycle(graph) == expected


def test_the_graph_sees_function_level_and_type_only_imports(tmp_path, monkeypatch):
    package = tmp_path / "ingest"
    (package / "contract").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "contract" / "__init__.py").write_text("")
    (package / "runner.py").write_text("")
    (package / "contract" / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ingest.runner import X\n"
        "def f():\n    from ingest import runner\n"
    )
    monkeypatch.setattr(__import__(__name__), "PACKAGE", package)
    graph = import_graph()
    assert graph["ingest.contract.a"] == {"ingest.runner"}
