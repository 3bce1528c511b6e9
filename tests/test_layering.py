"""The layers of neurodyn, checked statically: no import cycle, no private name across modules.

Every module's imports are read with :mod:`ast` (imports inside functions included),
the graph over neurodyn modules is built, and it must be acyclic; ``theory`` imports
neither ``numerics`` nor the application, ``numerics`` not the application; no module
imports another module's private (``_underscore``) names or private modules.
Run alone: ``python -m pytest tests/test_layering.py``.
"""

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

#: The packages whose modules are checked (the application package when it exists).
ROOTS = ("neurodyn.theory", "neurodyn.numerics", "neurodyn")


def _modules() -> dict:
    """Module name -> source path, for every module under the roots."""
    out = {}
    for root in ROOTS:
        try:
            package = importlib.import_module(root)
        except ImportError:
            continue
        init = getattr(package, "__file__", None)
        if init is None:                        # a namespace package holds no code of its own
            pass
        else:
            out[root] = Path(init)
        for info in pkgutil.walk_packages(package.__path__, root + "."):
            spec = importlib.util.find_spec(info.name)
            if spec is not None and spec.origin and spec.origin.endswith(".py"):
                out[info.name] = Path(spec.origin)
    return out


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _imports(name: str, path: Path, modules: dict):
    """(imported neurodyn modules, private names or modules imported) of one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets, private = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("neurodyn"):
                    targets.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if not source.startswith("neurodyn"):
                continue
            for alias in node.names:
                # a submodule is imported itself; any other name comes from the module ``source``
                submodule = f"{source}.{alias.name}"
                targets.add(submodule if submodule in modules else source)
                if _is_private(alias.name):
                    private.append(f"{name}: from {source} import {alias.name}")
    for target in targets:
        if any(_is_private(part) for part in target.split(".")):
            private.append(f"{name}: imports the private module {target}")
    return {t for t in targets if t in modules and t != name}, private


def _graph():
    modules = _modules()
    graph, private = {}, []
    for name, path in modules.items():
        graph[name], bad = _imports(name, path, modules)
        private += bad
    return graph, private


def _cycle(graph: dict, within: str = "") -> list | None:
    """One import cycle among the modules whose names start with ``within``, or None."""
    nodes = {n for n in graph if n.startswith(within)}
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n] & nodes):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(nodes):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_the_checker_sees_cycles_and_private_names(tmp_path):
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycle(graph) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from .other import _hidden, shown\n    import neurodyn.theory.y\n")
    targets, private = _imports("neurodyn.theory.m", source, {"neurodyn.theory.other": None,
                                                              "neurodyn.theory.y": None})
    assert targets == {"neurodyn.theory.other", "neurodyn.theory.y"}
    assert private == ["neurodyn.theory.m: from neurodyn.theory.other import _hidden"]


def test_theory_has_no_cycle_and_no_private_imports():
    graph, private = _graph()
    cycle = _cycle(graph, "neurodyn.theory")
    assert cycle is None, " -> ".join(cycle)
    assert [p for p in private if p.startswith("neurodyn.theory")] == []
    assert any(n.startswith("neurodyn.theory.tactics.") for n in graph)      # subpackages are walked


def test_layers_point_one_way():
    graph, _ = _graph()
    for name, targets in graph.items():
        if name.startswith("neurodyn.theory"):
            assert all(t.startswith("neurodyn.theory") for t in targets), (name, targets)
        elif name.startswith("neurodyn.numerics"):
            assert all(t.startswith(("neurodyn.theory", "neurodyn.numerics")) for t in targets), (name, targets)


def test_no_import_cycle_anywhere():
    graph, _ = _graph()
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_no_private_name_imported_across_modules():
    _, private = _graph()
    assert private == [], "\n".join(private)


@pytest.mark.parametrize("module", ["neurodyn.theory.laws", "neurodyn.theory.latex"])
def test_latex_and_laws_are_apart(module):
    graph, _ = _graph()
    assert "neurodyn.theory.laws" not in graph["neurodyn.theory.latex"]
    assert module in graph
