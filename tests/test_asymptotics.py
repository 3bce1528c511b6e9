"""Expansions at marginal fixed points and the algebraic laws (neurodyn.theory.asymptotics).

Expected values come from independent computations: closed forms expanded by hand (or by SymPy
from the closed-form law written out here), Gaussian quadrature with mpmath, and plain mpmath
iteration of maps written out in the test.
"""

import mpmath
import pytest
import sympy

from neurodyn.theory import catalog, derive
from neurodyn.theory.asymptotics import (Expansion, algebraic_law, c_map_at_one, driven_law, driver_terms,
                                         geometry_driver, ntk_driver, q_map_at_zero, series_at)
from neurodyn.theory.errors import NotDefinedError
from neurodyn.theory.symbols import c, q_star, sigma_b2, sigma_w2

pi = sympy.pi
y = sympy.Symbol("y", positive=True)


def _gauss(fn, v):
    """E_z[fn(sqrt(v) z)] by mpmath quadrature."""
    s = mpmath.sqrt(v)
    return mpmath.quad(lambda z: fn(s * z) * mpmath.exp(-z**2 / 2), [-mpmath.inf, 0, mpmath.inf]) \
        / mpmath.sqrt(2 * mpmath.pi)


def test_tanh_q_map_at_zero_against_quadrature():
    """V(q) = E[tanh^2(sqrt(q) z)] = q - 2 q^2 + (17/3) q^3 + O(q^4): the coefficients against quadrature."""
    e = q_map_at_zero(catalog.get("tanh"))
    assert e.sigma_w2 == 1 and e.side == "above" and e.limit == 0
    assert e.terms[:2] == ((2, -2), (3, sympy.Rational(17, 3)))
    with mpmath.workdps(40):
        for qv in (mpmath.mpf("1e-3"), mpmath.mpf("2e-3")):
            v = _gauss(lambda u: mpmath.tanh(u) ** 2, qv)
            # (V - q + 2 q^2)/q^3 -> 17/3 + O(q)
            assert abs((v - qv + 2 * qv**2) / qv**3 - mpmath.mpf(17) / 3) < 200 * qv


def test_erf_q_map_at_zero_from_its_closed_form():
    """erf at sigma_w2 = pi/4: V(q) = (1/2) asin(2q/(1 + 2q)) = q - 2 q^2 + (14/3) q^3 + ... (series by hand)."""
    e = q_map_at_zero(catalog.get("erf"))
    assert e.sigma_w2 == pi / 4
    q = sympy.Symbol("q", positive=True)
    closed = sympy.series(sympy.asin(2 * q / (1 + 2 * q)) / 2, q, 0, 4).removeO()
    assert e.terms[0] == (2, closed.coeff(q, 2)) == (2, -2)
    assert e.terms[1] == (3, closed.coeff(q, 3)) == (3, sympy.Rational(14, 3))
    law = algebraic_law(e)
    # y' = y - a y^2 + b y^3: y_l = 1/(a l) - ((a^2 - b)/a^3) ln l / l^2
    a, b = 2, sympy.Rational(14, 3)
    assert (law.exponent, law.constant) == (1, sympy.Rational(1, 2))
    assert law.next_form == "log" and law.next_power == 2
    assert law.next_coefficient == -(a**2 - b) / a**3 == sympy.Rational(1, 12)


def test_sin_law_and_its_log_correction_against_iteration():
    """sin at (1, 0): q' = (1 - exp(-2q))/2 = q - q^2 + (2/3) q^3, so q_l ~ 1/l - (1/3) ln l/l^2; the
    log coefficient checked by iterating the closed-form map (D(l) = l (l q_l - 1) = -(1/3) ln l + C + o(1))."""
    law = algebraic_law(q_map_at_zero(catalog.get("sin")))
    assert (law.constant, law.next_coefficient, law.next_form) == (1, sympy.Rational(-1, 3), "log")
    assert str(law) == "q_l ~ 1/l - (1/3) ln(l)/l^2"
    with mpmath.workdps(30):
        qv, D = mpmath.mpf(1), {}
        for l in range(1, 16001):
            qv = (1 - mpmath.exp(-2 * qv)) / 2
            if l in (4000, 8000, 16000):
                D[l] = l * (l * qv - 1)
        for lo in (4000, 8000):
            slope = (D[2 * lo] - D[lo]) / mpmath.log(2)
            assert abs(slope - mpmath.mpf(-1) / 3) < 5e-3


def test_tanh_law():
    law = algebraic_law(q_map_at_zero(catalog.get("tanh")))
    # a = 2, b = 17/3: -(a^2 - b)/a^3 = 5/24
    assert (law.exponent, law.constant, law.next_coefficient) == (1, sympy.Rational(1, 2), sympy.Rational(5, 24))


def test_relu_puiseux_series_and_law():
    """C(1 - e) = 1 - e + (2 sqrt 2/(3 pi)) e^(3/2) + 0 e^2 + O(e^(5/2)) (by hand from acos(1 - e) =
    sqrt(2e)(1 + e/12 + ...)); p = 3/2, A = a/2: 1 - c_l ~ 9 pi^2/(2 l^2); the ln l/l^3 coefficient
    -2B/A^4 with B = 3a^2/8 (no e^2 term) = -27 pi^2/2."""
    act = catalog.get("relu")
    e = c_map_at_one(act, derive(act).c_map, point={sigma_w2: 2, sigma_b2: 0})
    a = 2 * sympy.sqrt(2) / (3 * pi)
    assert e.side == "below" and e.quantity == "c"
    assert e.terms[0] == (sympy.Rational(3, 2), -a)
    assert e.coefficient(2) == 0
    law = algebraic_law(e)
    A, B = a / 2, 3 * a**2 / 8
    assert law.exponent == 2 and sympy.simplify(law.constant - 9 * pi**2 / 2) == 0
    assert law.next_form == "log" and law.next_power == 3
    assert sympy.simplify(law.next_coefficient - (-2 * B / A**4)) == 0
    assert sympy.simplify(law.next_coefficient + 27 * pi**2 / 2) == 0


def test_relu_law_against_iteration():
    """l^2 (1 - c_l) from c0 = 0 by plain iteration of the arc-cosine map, with the derived log term:
    D(l) = l (l^2 (1 - c_l) - 9 pi^2/2) = -(27 pi^2/2) ln l + C + O(ln^2 l/l): the ln l coefficient by a
    least-squares fit of D at l = 1000 ... 32000."""
    with mpmath.workdps(30):
        cv, D = mpmath.mpf(0), {}
        layers = [1000 * 2**k for k in range(6)]
        for l in range(1, layers[-1] + 1):
            cv = (mpmath.sqrt(1 - cv**2) + (mpmath.pi - mpmath.acos(cv)) * cv) / mpmath.pi
            if l in layers:
                D[l] = l * (l**2 * (1 - cv) - 9 * mpmath.pi**2 / 2)
        A = mpmath.matrix([[mpmath.log(l), 1, mpmath.log(l) ** 2 / l, mpmath.log(l) / l] for l in layers])
        fit, _ = mpmath.qr_solve(A, mpmath.matrix([D[l] for l in layers]))
        assert abs(fit[0] / (-27 * mpmath.pi**2 / 2) - 1) < 2e-3


@pytest.mark.slow
@pytest.mark.parametrize("alpha", ["1/10", "1/2"])
def test_leaky_relu_constant_as_a_function_of_alpha(alpha):
    """Leaky ReLU at sigma_w2 = 2/(1 + alpha^2), sigma_b2 = 0: only the ReLU part of phi = alpha x +
    (1 - alpha) relu(x) has the e^(3/2) term, a = (1-alpha)^2/(1+alpha^2) 2 sqrt 2/(3 pi), so
    1 - c_l ~ 4/(a^2 l^2) = 9 pi^2 (1 + alpha^2)^2/(2 (1 - alpha)^4 l^2), checked by plain iteration of
    the hand-written kernel."""
    al = sympy.Rational(alpha)
    act = catalog.get("leaky_relu", alpha=alpha)
    sw2 = 2 / (1 + al**2)
    law = algebraic_law(c_map_at_one(act, derive(act).c_map, point={sigma_w2: sw2, sigma_b2: 0}))
    expected = 9 * pi**2 * (1 + al**2) ** 2 / (2 * (1 - al) ** 4)
    assert law.exponent == 2 and sympy.simplify(law.constant - expected) == 0
    assert sympy.simplify(law.next_coefficient + 3 * expected) == 0       # -12/a^2 = -3 * (4/a^2)
    with mpmath.workdps(30):
        A = mpmath.mpf(al.p) / al.q
        w = 2 / (1 + A**2)

        def cmap(cv):        # sigma_w2 E[phi(u1) phi(u2)]/q, q = 1
            relu = (mpmath.sqrt(1 - cv**2) + (mpmath.pi - mpmath.acos(cv)) * cv) / (2 * mpmath.pi)
            return w * (A**2 * cv + A * (1 - A) * cv + (1 - A) ** 2 * relu)
        cv, L = mpmath.mpf(0), 8000
        for _ in range(L):
            cv = cmap(cv)
        K = mpmath.mpf(sympy.N(expected, 30))
        predicted = K - 3 * K * mpmath.log(L) / L
        assert abs(L**2 * (1 - cv) / predicted - 1) < 30 / L * 2


def test_power_correction_between_p_and_2p_minus_1():
    """y' = y - y^2 + y^(5/2): s = 1/2, the correction (A l)^-1 b A^(-s-1) l^(-s)/(1 - s) = 2 l^(-3/2),
    against plain iteration: (l y_l - 1) sqrt(l) -> 2."""
    e = Expansion("y", sympy.S.Zero, "above", ((2, -1), (sympy.Rational(5, 2), 1)), sympy.Integer(3), "test")
    law = algebraic_law(e)
    assert (law.next_form, law.next_power, law.next_coefficient) == ("power", sympy.Rational(3, 2), 2)
    yv = 0.1                 # float64: the rounding adds at most ~1e-11 to l y_l here
    for _ in range(200000):
        yv = yv - yv**2 + yv**2.5
    L = 200000 + 10          # y0 = 0.1 is about layer 10 of the law
    assert abs((L * yv - 1) * L**0.5 - 2) < 0.1


def test_series_at_rejects_non_marginal_and_non_fixed_points():
    with pytest.raises(ValueError, match="not 1"):
        series_at(c / 2, c, 0, "above")
    with pytest.raises(ValueError, match="not a fixed point"):
        series_at(c + 1, c, 0, "above")


def test_q_map_at_zero_needs_phi_of_zero_zero():
    with pytest.raises(NotDefinedError, match="phi\\(0\\) != 0"):
        q_map_at_zero(catalog.get("sigmoid"))


def test_critical_c_map_expansion_is_prices_theorem():
    """The y^2 coefficient is -q* chi_2/2 (docs/theory.md §7.3), the law 2/(q* chi_2 l)."""
    e = c_map_at_one(catalog.get("tanh"))
    law = algebraic_law(e)
    chi2 = derive(catalog.get("tanh")).chi_2.expr
    chi2_at = chi2.subs({s: q_star for s in chi2.free_symbols if s.name == "q"})
    assert sympy.simplify(e.terms[0][1] + q_star * chi2_at / 2) == 0
    assert sympy.simplify(law.constant - 2 / (q_star * chi2_at)) == 0


def test_driven_laws():
    """tanh at (1, 0): chi_1(q) = 1 - 2q + ..., q_l ~ 1/(2l): the metric ~ C l^-1 (not universal);
    |H|^2 (m = 2): g = 1/chi_1 = 1 + 2q: gamma = -1, source 8 chi_2 ~ 32 q decays like 1/l: C l."""
    act = catalog.get("tanh")
    e = q_map_at_zero(act)
    metric = driven_law(*driver_terms(e, *geometry_driver(act, "metric", 1)))
    assert (metric.exponent, metric.constant, metric.universal) == (1, None, False)
    hsq = driven_law(*driver_terms(e, *geometry_driver(act, "Hsq", 2)))
    assert (hsq.exponent, hsq.constant, hsq.universal) == (-1, None, False)
    # NTK on the critical line: g = chi_c = 1 - q* chi_2 y, y ~ 2/(q* chi_2 l): gamma = 2; Theta ~ q* l/3
    ce = c_map_at_one(act)
    ntk = driven_law(*driver_terms(ce, *ntk_driver(ce, q_star)))
    assert (ntk.exponent, ntk.constant, ntk.universal) == (-1, q_star / 3, True)
    # with a source and gamma > -1, z_{l+1} = (1 - gamma/l) z_l + s0 solves to s0 l/(1 + gamma): check gamma = 3
    assert driven_law(3, 1).constant == sympy.Rational(1, 4)


def test_driven_law_solution_against_iteration():
    """z_{l+1} = (1 - 2/l) z_l + 1 grows like l/3 (plain iteration)."""
    zv = mpmath.mpf(0)
    for l in range(3, 20001):
        zv = (1 - mpmath.mpf(2) / l) * zv + 1
    assert abs(zv / 20001 - mpmath.mpf(1) / 3) < 1e-3
    assert driven_law(2, 1).constant == sympy.Rational(1, 3)


def test_kinked_activation_has_half_integer_powers_at_zero():
    """softsign x/(1 + |x|): phi^2 = x^2 - 2|x|^3 + ...: E|z|^3 = 2 sqrt(2/pi): a q^(3/2) term."""
    e = q_map_at_zero(catalog.get("softsign"))
    assert e.terms[0] == (sympy.Rational(3, 2), -4 * sympy.sqrt(2) / sympy.sqrt(pi))
    assert algebraic_law(e).exponent == 2


def test_renderings():
    e = q_map_at_zero(catalog.get("tanh"))
    assert e.latex().startswith("y' = y - 2 y^{2} + \\frac{17 y^{3}}{3}")
    law = algebraic_law(e)
    assert law.latex() == r"q^{l} \simeq \frac{1}{2 l} + \frac{5 \log{\left(l \right)}}{24 l^{2}}"
