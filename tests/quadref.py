"""An independent Gaussian quadrature (plain mpmath.quad) for cross-checks in the tests."""

import mpmath
import sympy

from neurodyn.theory.symbols import x


def reference_expectation(expr, v, dps=30, breaks=(0,)):
    """E_z[expr(sqrt(v) z)] by mpmath.quad (tanh-sinh), split at the given x points.

    Deliberately independent of neurodyn.numerics (no nested trapezoid, no bundles).
    """
    with mpmath.workdps(dps + 10):
        fn = sympy.lambdify(x, expr, "mpmath")
        v = mpmath.mpf(v)
        s = mpmath.sqrt(v)
        pts = [-mpmath.inf] + sorted(mpmath.mpf(b) / s for b in breaks) + [mpmath.inf]
        return mpmath.quad(lambda z: fn(s * z) * mpmath.npdf(z), pts)
