"""Tactic ``catalogue``: known Gaussian kernels, each with its reference.

Most kernels of the catalogue are *derived* by the other tactics (Price's
theorem gives erf's arcsin law, splitting at kinks gives the ReLU family).
This module holds the forms that are looked up instead, matched on the
integrand; every entry is still checked against quadrature before use.

>>> from neurodyn.theory.symbols import x, q
>>> gelu = x*(1 + sympy.erf(x/sympy.sqrt(2)))/2
>>> lookup_1d(gelu, gelu, q)[0]
q*((q/((q + 1)*sqrt(2*q + 1)) + atan(q/sqrt(2*q + 1))/2)/pi + 1/4)
"""

from __future__ import annotations

import sympy

from ..expectation import Step
from ..symbols import x
from .base import Tactic, TacticFailed

__all__ = ["lookup_1d", "lookup_2d", "KERNELS_1D", "KERNELS_2D", "TACTIC"]


def _gelu_second_moment(v):
    # E[gelu(u)^2], u ~ N(0, v); neural-tangents stax.Gelu (VERIFIED code), after
    # Tsuchida et al. arXiv:2002.08517; docs/theory.md §10.
    return v * (sympy.Rational(1, 4) + (v / ((1 + v) * sympy.sqrt(1 + 2 * v))
                                        + sympy.atan(v / sympy.sqrt(1 + 2 * v)) / 2) / sympy.pi)


#: (f, g, kernel(v), reference) rows: E[f(u) g(u)] for u ~ N(0, v).
KERNELS_1D = [
    (x * (1 + sympy.erf(x / sympy.sqrt(2))) / 2, x * (1 + sympy.erf(x / sympy.sqrt(2))) / 2,
     _gelu_second_moment, "GELU second moment: neural-tangents stax.Gelu; arXiv:2002.08517"),
]


def _gelu_kernel(v11, v12, v22):
    # E[gelu(u1) gelu(u2)]; neural-tangents stax.Gelu (VERIFIED code), docs/theory.md §10
    dl = sympy.sqrt((1 + v11) * (1 + v22) - v12**2)
    return ((v12**2 + v11 * v22 * dl**2) / ((1 + v11) * (1 + v22) * dl)
            + v12 * sympy.atan(v12 / dl)) / (2 * sympy.pi) + v12 / 4


#: (f, g, kernel(v11, v12, v22), reference) rows: E[f(u1) g(u2)].
KERNELS_2D = [
    (KERNELS_1D[0][0], KERNELS_1D[0][1], _gelu_kernel,
     "GELU kernel: neural-tangents stax.Gelu; arXiv:2002.08517"),
]


def _lookup(rows, f, g, cov):
    for kf, kg, kernel, ref in rows:
        if sympy.expand(f - kf) == 0 and sympy.expand(g - kg) == 0:
            value = kernel(*cov)
            return value, [Step.text(f"known closed form ({ref})", value)]
    raise TacticFailed("no catalogued kernel matches")


def lookup_1d(f, g, v):
    """The catalogued ``E[f(u) g(u)]``, as ``(value, steps)``; raises TacticFailed when absent."""
    return _lookup(KERNELS_1D, f, g, (v,))


def lookup_2d(f, g, v11, v12, v22):
    """The catalogued ``E[f(u1) g(u2)]``, as ``(value, steps)``; raises TacticFailed when absent."""
    return _lookup(KERNELS_2D, f, g, (v11, v12, v22))


def _catalogue(p):
    return lookup_1d(p.f, p.g, p.v) if p.inputs == 1 else lookup_2d(p.f, p.g, *p.cov)


TACTIC = Tactic(
    "catalogue",
    "a known Gaussian kernel from the engine's catalogue of closed forms, matched on the "
    "expression (its reference is in the step below) and checked against quadrature",
    frozenset({1, 2}), _catalogue)
