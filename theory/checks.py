"""Numeric checks of closed forms, and float64 evaluation of engine-built expressions.

Every closed form a tactic finds is checked here against an independent
quadrature before it is accepted: :func:`verify_1d` (mpmath tanh-sinh on each
smooth piece) and :func:`verify_2d` (nested Gauss-Legendre, float64). This is
the only module of :mod:`neurodyn.theory` that computes numbers; it is
independent of :mod:`neurodyn.numerics` on purpose.

``lambdify`` is only ever applied to expressions the engine built (user text is
parsed by :mod:`neurodyn.theory.parse`, never evaluated). numpy lacks ``erf``;
the float64 path takes it from :mod:`scipy.special` (vectorised).

>>> from neurodyn.theory.symbols import q
>>> verify_1d(q / 2, x**2 * sympy.Heaviside(x), q) < 1e-15
True
>>> numpy_function(sympy.erf(x))(np.array([0.0, 1.0])).round(6)
array([0.      , 0.842701])
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import scipy.special
import sympy

from .activation import pieces_of
from .errors import NeurodynError
from .symbols import x

__all__ = ["ClosedFormMismatch", "NUMPY_FUNCTIONS", "numpy_function", "verify_1d", "verify_2d"]


class ClosedFormMismatch(NeurodynError):
    """A closed form disagrees with the independent quadrature of its expectation."""


#: Functions numpy lacks, supplied to ``lambdify`` for float64 evaluation.
NUMPY_FUNCTIONS = {"erf": scipy.special.erf, "erfc": scipy.special.erfc}


def numpy_function(expr, args=(x,)):
    """A float64, broadcasting callable of ``expr`` (an engine-built expression)."""
    fn = sympy.lambdify(args, expr, modules=[NUMPY_FUNCTIONS, "numpy"])

    def call(*values):
        with np.errstate(all="ignore"):
            out = fn(*values)
        return np.broadcast_to(np.asarray(out, dtype=float), np.broadcast(*values).shape)

    return call


#: Variances at which one-input closed forms are checked (fixed, so checks are repeatable).
CHECK_VARIANCES = ("0.37", "1.9")


def verify_1d(closed, integrand, v_symbol, dps: int = 25, rtol: float = 1e-15) -> float:
    """Largest relative gap between ``closed`` and quadrature of ``E[integrand]``.

    Uses mpmath's tanh-sinh on each smooth piece; raises :class:`ClosedFormMismatch`
    when the gap exceeds ``rtol``.
    """
    worst = 0.0
    pieces = pieces_of(integrand)
    with mpmath.workdps(dps):
        for v0 in CHECK_VARIANCES:
            v0 = sympy.Rational(v0)
            exact = closed.subs(v_symbol, v0)
            exact = mpmath.mpmathify(sympy.N(exact, dps).as_real_imag()[0])
            total = mpmath.mpf(0)
            for piece in pieces:
                # lambdify is applied to an engine-built SymPy tree, never to user text
                fn = sympy.lambdify(x, piece.expr, "mpmath")
                s = mpmath.sqrt(mpmath.mpf(v0.p) / v0.q)
                lo = -mpmath.inf if piece.lo == -sympy.oo else mpmath.mpf(sympy.N(piece.lo, dps)) / s
                hi = mpmath.inf if piece.hi == sympy.oo else mpmath.mpf(sympy.N(piece.hi, dps)) / s
                total += mpmath.quad(lambda zz: fn(s * zz) * mpmath.npdf(zz), [lo, hi])
            scale = max(abs(total), mpmath.mpf(1))
            worst = max(worst, float(abs(total - exact) / scale))
    if worst > rtol:
        raise ClosedFormMismatch(f"closed form disagrees with quadrature (relative gap {worst:.1e})")
    return worst


def verify_2d(closed, f, g, cov_symbols, cov_values=("1.3", "0.4", "0.7"), rtol=1e-9):
    """Check a closed form of ``E[f(u1) g(u2)]`` against an independent nested quadrature.

    Outer variable u1, inner the conditional u2 | u1, both by Gauss-Legendre on each
    smooth piece (split at the kinks, truncated at 12 standard deviations), in float64,
    at one covariance; raises :class:`ClosedFormMismatch` when the gap exceeds ``rtol``.
    """
    v11, v12, v22 = (float(sympy.Rational(v)) for v in cov_values)
    subs = dict(zip(cov_symbols, (sympy.Rational(v) for v in cov_values)))
    exact = complex(sympy.N(closed.subs(subs), 20)).real
    nodes, weights = np.polynomial.legendre.leggauss(160)
    cond_sd = math.sqrt(v22 - v12**2 / v11)
    s1 = math.sqrt(v11)

    def ends(piece, scale, shift=0.0):
        lo = -12.0 if piece.lo == -sympy.oo else max((float(piece.lo) - shift) / scale, -12.0)
        hi = 12.0 if piece.hi == sympy.oo else min((float(piece.hi) - shift) / scale, 12.0)
        return lo, hi

    total = 0.0
    for pf in pieces_of(f):
        a, b = ends(pf, s1)
        if b <= a:
            continue
        z1 = (a + b) / 2 + (b - a) / 2 * nodes
        w1 = weights * (b - a) / 2 * np.exp(-z1**2 / 2) / math.sqrt(2 * math.pi)
        y1 = s1 * z1
        mean = v12 / v11 * y1
        inner = np.zeros_like(z1)
        for pg in pieces_of(g):
            lo = -12.0 if pg.lo == -sympy.oo else np.maximum((float(pg.lo) - mean) / cond_sd, -12.0)
            hi = 12.0 if pg.hi == sympy.oo else np.minimum((float(pg.hi) - mean) / cond_sd, 12.0)
            lo, hi = np.broadcast_to(lo, z1.shape), np.broadcast_to(hi, z1.shape)
            hi = np.maximum(hi, lo)
            w = (lo + hi)[:, None] / 2 + (hi - lo)[:, None] / 2 * nodes[None, :]
            ww = weights[None, :] * (hi - lo)[:, None] / 2 * np.exp(-w**2 / 2) / math.sqrt(2 * math.pi)
            inner += (numpy_function(pg.expr)(mean[:, None] + cond_sd * w) * ww).sum(axis=1)
        total += float((numpy_function(pf.expr)(y1) * inner * w1).sum())
    gap = abs(total - exact) / max(abs(total), 1.0)
    if not gap <= rtol:
        raise ClosedFormMismatch(f"closed form disagrees with nested quadrature (relative gap {gap:.1e})")
    return gap
