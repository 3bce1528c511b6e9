"""Every docstring example in the package runs and prints what it shows."""

import doctest
import importlib
import pkgutil

import pytest

import neurodyn
import neurodyn.cli
import neurodyn.numerics
import neurodyn.reports
import neurodyn.theory

PACKAGES = (neurodyn.theory, neurodyn.numerics, neurodyn.cli, neurodyn.reports)

MODULES = sorted(
    {"neurodyn", "neurodyn.cli", "neurodyn.reports", "neurodyn.theory", "neurodyn.numerics"}
    | {f"{pkg.__name__}.{info.name}" for pkg in PACKAGES for info in pkgutil.walk_packages(pkg.__path__)
       if info.name.rpartition(".")[2] != "__main__"}
)


def test_module_list_covers_the_layers():
    """The list is found, not hand-kept: every layer contributes modules (a new one is tested too)."""
    for layer in ("neurodyn.theory.", "neurodyn.numerics.", "neurodyn.cli.", "neurodyn.reports."):
        assert sum(name.startswith(layer) for name in MODULES) >= 2, layer
    assert {"neurodyn.cli.options", "neurodyn.reports.files", "neurodyn.reports.plots"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstrings(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
