"""Price's theorem gives up at once on back-integrations SymPy cannot do (issue 7: cold derivations <= 10 s).

Hard tanh's cov_map and chi_c reach the bivariate density at its kinks (+-1), whose
integral in the covariance is a bivariate normal probability (not elementary): refused too.

GELU's chi_1 and chi_c reach ``E[phi''(u1) phi''(u2)]`` with ``phi'' = (2 - x^2) pdf(x)``: a
rational function of the covariance ``t`` over ``(A - t^2)^(5/2)``. SymPy's integrators do
not integrate such powers with a symbolic ``A`` (checked below), so the tactic used to
spend its whole budget there and fail; it now fails as soon as the form is seen, with
the same (unevaluated) law.
"""

import time

import pytest
import sympy
from sympy.integrals.manualintegrate import manualintegrate

from neurodyn.theory import catalog
from neurodyn.theory.symbols import q, x
from neurodyn.theory.tactics import expect
from neurodyn.theory.tactics.base import TacticFailed
from neurodyn.theory.tactics.price import price_integral


def test_gelu_back_integration_is_not_attempted():
    d1 = sympy.diff(catalog.get("gelu").expr, x)
    start = time.monotonic()
    with pytest.raises(TacticFailed, match=r"\^\(-5/2\) in t, which SymPy's integrators do not find: not attempted"):
        price_integral(d1, d1, q, q, q, one_input=lambda h, v: expect(h, v, allow_price=False), seconds=60)
    assert time.monotonic() - start < 30          # was: the whole budget, then a failure (even at 16 s)


def test_hard_tanh_back_integration_is_not_attempted():
    """Kinks at +-1 sift the bivariate density there: exp(rational in t)/sqrt(q11 q22 - t^2)."""
    from neurodyn.theory.symbols import q11, q12, q22
    ht = catalog.get("hard_tanh").expr
    start = time.monotonic()
    with pytest.raises(TacticFailed, match="a bivariate normal probability"):
        price_integral(ht, ht, q11, q12, q22, one_input=lambda h, v: expect(h, v, allow_price=False), seconds=60)
    assert time.monotonic() - start < 30


def test_price_still_integrates_inverse_square_roots():
    """The arcsine kernel of erf comes from (A - t^2)^(-1/2), which is not refused."""
    erf = sympy.erf(x)
    value, _ = price_integral(erf, erf, q, q, q, one_input=lambda h, v: expect(h, v, allow_price=False))
    assert value.has(sympy.asin)


@pytest.mark.slow
def test_sympy_does_not_integrate_the_refused_form():
    """The claims behind the refusals: (A - s^2)^(-3/2) with symbolic A has no usable antiderivative
    from manualintegrate (left unevaluated) or integrate (complex Piecewise branches), and
    manualintegrate leaves exp(-1/(A - s^2))/sqrt(A - s^2) unevaluated."""
    s, a = sympy.Symbol("s", real=True), sympy.Symbol("q", positive=True)
    K = ((a + 1)**2 - s**2) ** sympy.Rational(-3, 2)
    assert manualintegrate(K, s).has(sympy.Integral)
    anti = sympy.integrate(K, s)
    assert anti.has(sympy.Piecewise) or anti.has(sympy.I) or anti.has(sympy.Integral)
    assert manualintegrate(sympy.exp(-1 / (a - s**2)) / sympy.sqrt(a - s**2), s).has(sympy.Integral)
