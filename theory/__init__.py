"""neurodyn.theory: activations and their mean-field laws, in pure SymPy.

The public names are loaded on first use (PEP 562), so that importing a light
submodule (``neurodyn.theory.errors``, ``neurodyn.theory.catalog_entries``)
does not import SymPy: a cached catalogue query (``neurodyn fixed-point tanh
...``) never needs it. The first public name used loads every module below,
so the law registry is complete (``geometry`` registers its laws on import).

>>> import neurodyn.theory as theory
>>> theory.LAWS["Hsq_map"].group
'geometry'
"""

from __future__ import annotations

import importlib

from .errors import (ActivationError, BudgetExceeded, ConvergenceError, NeurodynError, NotDefinedError,
                     WorkerError)

__all__ = [
    "Activation", "catalog", "GaussianExpectation", "BivariateGaussianExpectation", "UnevaluatedExpectation",
    "ExpectationResult", "Step", "expect", "expect_product", "expect2", "TACTICS",
    "NeurodynError", "ActivationError", "NotDefinedError", "ConvergenceError", "BudgetExceeded",
    "WorkerError",
    "Law", "Laws", "LAWS", "law", "derive", "derive_uncached",
]

#: Where each public name lives; every one of these modules is loaded on first use of any name
#: (in this order: a module that registers laws, like ``geometry``, is among them).
_HOME = {
    "catalog": "catalog", "Activation": "activation", "derive": "derivations",
    "BivariateGaussianExpectation": "expectation", "ExpectationResult": "expectation",
    "GaussianExpectation": "expectation", "Step": "expectation", "UnevaluatedExpectation": "expectation",
    "LAWS": "laws", "Law": "laws", "Laws": "laws", "derive_uncached": "laws", "law": "laws",
    "geometry": "geometry",
    "TACTICS": "tactics", "expect": "tactics", "expect2": "tactics", "expect_product": "tactics",
}


def _load_all() -> None:
    for module in dict.fromkeys(_HOME.values()):
        importlib.import_module(f"{__name__}.{module}")


def __getattr__(name):
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    _load_all()
    module = importlib.import_module(f"{__name__}.{home}")
    value = module if name == home else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
