"""Tactic ``mehler``: two polynomials, by the finite Mehler (Hermite) sum (two inputs).

``E[f(u1) g(u2)] = sum_k k! a_k b_k rho^k``, ``rho = v12/sqrt(v11 v22)``, with
``a_k``, ``b_k`` the Hermite coefficients of ``f(sqrt(v11) z)`` and ``g(sqrt(v22) z)``.

>>> from neurodyn.theory.symbols import x, q11, q12, q22
>>> from neurodyn.theory.tactics.base import Problem
>>> TACTIC(Problem(x, x**3, q11, q12, q22, inputs=2))[0]
3*q12*q22
"""

from __future__ import annotations

import sympy

from ..expectation import Step
from ..symbols import x
from .base import Tactic, TacticFailed, tidy

__all__ = ["TACTIC"]


def _mehler(p):
    f, g, (v11, v12, v22) = p.f, p.g, p.cov
    if not (f.is_polynomial(x) and g.is_polynomial(x)):
        raise TacticFailed("not polynomials")
    zz = sympy.Dummy("z")
    fz, gz = sympy.expand(f.subs(x, sympy.sqrt(v11) * zz)), sympy.expand(g.subs(x, sympy.sqrt(v22) * zz))
    n = max(sympy.degree(fz, zz), sympy.degree(gz, zz), 0)
    rho = v12 / sympy.sqrt(v11 * v22)

    def coefficient(h, k):            # a_k = E[h(z) He_k(z)] / k!
        prod = sympy.Poly(sympy.expand(h * sympy.hermite_prob(k, zz)), zz)
        return sum(c * sympy.factorial2(m - 1) for (m,), c in prod.terms() if m % 2 == 0) / sympy.factorial(k)

    total = sum(sympy.factorial(k) * coefficient(fz, k) * coefficient(gz, k) * rho**k for k in range(n + 1))
    total = tidy(total)
    return total, [Step(r"Mehler's formula: both polynomials expanded in Hermite polynomials $He_k$; "
                        r"$\mathbb{E}[f(u_1)g(u_2)] = \sum_k k!\,a_k b_k \rho^k$, "
                        r"$\rho = q_{12}/\sqrt{q_{11}q_{22}}$, is a finite sum", total)]


TACTIC = Tactic(
    "mehler",
    r"Mehler's formula: both polynomials expanded in Hermite polynomials $He_k$, "
    r"$\mathbb{E}[f(u_1)g(u_2)] = \sum_k k!\,a_k b_k \rho^k$ with $\rho = q_{12}/\sqrt{q_{11}q_{22}}$, "
    "a finite sum; the result was checked against quadrature",
    frozenset({2}), _mehler)
