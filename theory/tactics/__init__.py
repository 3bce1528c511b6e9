"""Tactics that evaluate Gaussian expectations in closed form: one module per tactic.

:mod:`.base` (the framework: :class:`Tactic`, :class:`Problem`, :func:`run_tactics`),
:mod:`.catalogue`, :mod:`.symmetry`, :mod:`.mehler`, :mod:`.gaussian_exponential`,
:mod:`.termwise`, :mod:`.price` (one tactic each), and :mod:`.pipeline` (the
registry :data:`TACTICS` and :func:`expect`, :func:`expect_product`, :func:`expect2`).
"""

from .base import TACTIC_SECONDS, Problem, Tactic, TacticFailed, run_tactics, tidy
from .pipeline import TACTICS, expect, expect2, expect_product, tactic

__all__ = ["Tactic", "TacticFailed", "Problem", "TACTICS", "TACTIC_SECONDS", "tactic", "run_tactics", "tidy",
           "expect", "expect_product", "expect2"]
