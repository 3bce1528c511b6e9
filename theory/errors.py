"""The exception tree of neurodyn: every error it raises on purpose is a NeurodynError.

Every class also derives from the matching built-in, so ``except ValueError``
keeps working for callers who do not know neurodyn.

>>> issubclass(ActivationError, ValueError) and issubclass(ActivationError, NeurodynError)
True
"""

from __future__ import annotations


class NeurodynError(Exception):
    """Base class of every error raised on purpose by neurodyn."""


class ActivationError(NeurodynError, ValueError):
    """The activation is unusable: unparsable, unknown name, forbidden construct,
    not real on the line, or growing too fast for a Gaussian expectation."""


class NotDefinedError(NeurodynError, ValueError):
    """The quantity does not exist for this activation (e.g. chi_2 of ReLU,
    whose second derivative is a Dirac delta)."""


class ConvergenceError(NeurodynError, ArithmeticError):
    """An iteration or quadrature did not reach what was asked.

    Carries the last value, the residual, the working precision and a hint.
    """

    def __init__(self, message: str, *, last=None, residual=None, dps=None, hint: str | None = None):
        self.last = last
        self.residual = residual
        self.dps = dps
        self.hint = hint
        full = message if hint is None else f"{message}; {hint}"
        super().__init__(full)


class BudgetExceeded(NeurodynError, TimeoutError):
    """A symbolic tactic ran out of its time budget (recorded, then the next tactic runs)."""


class WorkerError(NeurodynError, RuntimeError):
    """A worker process (see :func:`neurodyn.theory.budget.run_in_worker`) died without an
    answer, or its result or exception could not be sent back."""
