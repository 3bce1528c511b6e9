"""Known Gaussian kernels, each with its reference (DESIGN section 5, tactic 1).

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

from .symbols import x

__all__ = ["lookup_1d", "KERNELS_1D"]


def _gelu_second_moment(v):
    # E[gelu(u)^2], u ~ N(0, v); neural-tangents stax.Gelu (VERIFIED code), after
    # Tsuchida et al. arXiv:2002.08517; reference/theory.md section 10.
    return v * (sympy.Rational(1, 4) + (v / ((1 + v) * sympy.sqrt(1 + 2 * v))
                                        + sympy.atan(v / sympy.sqrt(1 + 2 * v)) / 2) / sympy.pi)


#: (f, g, kernel(v), reference) rows: E[f(u) g(u)] for u ~ N(0, v).
KERNELS_1D = [
    (x * (1 + sympy.erf(x / sympy.sqrt(2))) / 2, x * (1 + sympy.erf(x / sympy.sqrt(2))) / 2,
     _gelu_second_moment, "GELU second moment: neural-tangents stax.Gelu; arXiv:2002.08517"),
]


def lookup_1d(f, g, v):
    """The catalogued ``E[f(u) g(u)]``, as ``(value, steps)``; raises when absent."""
    from .gaussian import Step, _TacticFailed

    for kf, kg, kernel, ref in KERNELS_1D:
        if sympy.expand(f - kf) == 0 and sympy.expand(g - kg) == 0:
            value = kernel(v)
            return value, [Step(f"known closed form ({ref})", value)]
    raise _TacticFailed("no catalogued kernel matches")
