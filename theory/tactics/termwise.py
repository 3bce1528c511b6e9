"""Tactic ``termwise``: linearity, a sum whose every term has a closed form (one input).

Each term is odd (expectation 0) or Gaussian-exponential (integrated exactly).
"""

from __future__ import annotations

import sympy

from ..expectation import Step
from ..symbols import x
from .base import Tactic, TacticFailed, tidy
from .gaussian_exponential import one_input as gaussian_exponential_one_input

__all__ = ["TACTIC"]


def _term(term, v):
    if sympy.expand(term.subs(x, -x) + term) == 0:
        return sympy.S.Zero
    return gaussian_exponential_one_input(term, v)[0]


def _termwise(p):
    terms = sympy.Add.make_args(sympy.expand(p.integrand))
    if len(terms) < 2:
        raise TacticFailed("not a sum")
    total = sympy.S.Zero
    for term in terms:
        try:
            total += _term(term, p.v)
        except TacticFailed:
            raise TacticFailed(f"term {term} has no closed form") from None
    total = tidy(total)
    return total, [Step.text("by linearity, term by term (odd terms vanish, Gaussian-exponential "
                             "terms integrated exactly)", total)]


TACTIC = Tactic(
    "termwise",
    "linearity: every term of the integrand was integrated exactly on its own "
    "(odd terms vanish); the sum was checked against quadrature",
    frozenset({1}), _termwise)
