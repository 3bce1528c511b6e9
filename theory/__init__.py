"""neurodyn.theory: activations and their mean-field laws, in pure SymPy."""

from . import catalog
from .activation import Activation
from .derivations import derive
from .errors import (ActivationError, BudgetExceeded, ConvergenceError, NeurodynError, NotDefinedError,
                     WorkerError)
from .expectation import (BivariateGaussianExpectation, ExpectationResult, GaussianExpectation, Step,
                          UnevaluatedExpectation)
from .laws import LAWS, Law, Laws, derive_uncached, law
from . import geometry  # noqa: E402,F401  (registers the geometry laws)
from .tactics import TACTICS, expect, expect2, expect_product

__all__ = [
    "Activation", "catalog", "GaussianExpectation", "BivariateGaussianExpectation", "UnevaluatedExpectation",
    "ExpectationResult", "Step", "expect", "expect_product", "expect2", "TACTICS",
    "NeurodynError", "ActivationError", "NotDefinedError", "ConvergenceError", "BudgetExceeded",
    "WorkerError",
    "Law", "Laws", "LAWS", "law", "derive", "derive_uncached",
]
