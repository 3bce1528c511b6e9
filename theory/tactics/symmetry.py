"""Tactic ``symmetry``: an odd integrand has expectation 0.

One input: ``f(x) g(x)`` odd in ``x``. Two inputs: one factor odd and the other
even. The zero is exact, so it is not checked numerically.

>>> from neurodyn.theory.symbols import x, q
>>> from neurodyn.theory.tactics.base import Problem
>>> TACTIC(Problem(x**3, sympy.S.One, q, q, q, inputs=1))[0]
0
"""

from __future__ import annotations

import sympy

from ..expectation import Step
from ..symbols import x
from .base import Tactic, TacticFailed

__all__ = ["parity", "TACTIC"]


def parity(h) -> int:
    """1 for an even ``h``, -1 for an odd one, 0 otherwise."""
    if sympy.expand(h.subs(x, -x) - h) == 0:
        return 1
    if sympy.expand(h.subs(x, -x) + h) == 0:
        return -1
    return 0


def _symmetry(p):
    if p.inputs == 1:
        integrand = p.integrand
        if sympy.expand(integrand.subs(x, -x) + integrand) == 0:
            return sympy.S.Zero, [Step.text("the integrand is odd in x, so its expectation vanishes",
                                            sympy.S.Zero)]
        raise TacticFailed("integrand is not odd")
    if parity(p.f) * parity(p.g) == -1:
        return sympy.S.Zero, [Step.text("one factor is odd and the other even: the expectation vanishes",
                                        sympy.S.Zero)]
    raise TacticFailed("no parity argument")


TACTIC = Tactic("symmetry", "symmetry: the integrand is odd in $x$, so its Gaussian expectation vanishes",
                frozenset({1, 2}), _symmetry, exact=True)
