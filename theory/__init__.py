"""neurodyn.theory: activations and their mean-field laws, in pure SymPy."""

from . import catalog
from .activation import Activation
from .errors import (ActivationError, BudgetExceeded, ConvergenceError, NeurodynError,
                     NotDefinedError)
from .gaussian import GaussianExpectation, expect, expect_product

__all__ = [
    "Activation", "catalog", "GaussianExpectation", "expect", "expect_product",
    "NeurodynError", "ActivationError", "NotDefinedError", "ConvergenceError", "BudgetExceeded",
]

from .laws import Law, Laws, derive  # noqa: E402

__all__ += ["Law", "Laws", "derive"]
