"""Every docstring example in the package runs and prints what it shows."""

import doctest
import importlib
import pkgutil

import pytest

import neurodyn.numerics
import neurodyn.theory

MODULES = sorted(
    info.name
    for pkg in (neurodyn.theory, neurodyn.numerics)
    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")     # subpackages too
    if not info.name.endswith(".__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstrings(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
