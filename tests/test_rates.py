"""Rates at marginal points (neurodyn.numerics.rates, ``neurodyn rate``).

Expected values: closed forms derived by hand in the tests, the independent reference data
(tests/reference/fixed_points.json, computed by tests/reference/make_reference.py), and plain mpmath
quadrature or iteration written out here; never the engine's own output.
"""

import io
import json

import mpmath
import pytest
import sympy

from neurodyn.cli import main
from neurodyn.numerics import compile_laws
from neurodyn.numerics.rates import rate
from neurodyn.theory import Activation, catalog, derive
from neurodyn.theory.errors import ConvergenceError


@pytest.fixture(autouse=True)
def fifty_digits():
    """The expected values of these tests are computed at 50 digits (restored after each test)."""
    with mpmath.workdps(50):
        yield


def laws(name, **params):
    return compile_laws(derive(catalog.get(name, **params)))


def _gauss(fn, v):
    s = mpmath.sqrt(v)
    return mpmath.quad(lambda z: fn(s * z) * mpmath.exp(-z**2 / 2), [-mpmath.inf, 0, mpmath.inf]) \
        / mpmath.sqrt(2 * mpmath.pi)


def _critical(reference, name, sb2):
    case = next(c for c in reference["critical_cases"] if c["activation"] == name and c["sigma_b2"] == sb2)
    return {k: mpmath.mpf(case[k]) for k in ("sigma_w2", "q_star", "chi_2")}


def close(estimate, expected, rel):
    with mpmath.workdps(50):
        return abs(estimate.value - expected) <= rel * abs(expected) + estimate.error


# ---------------------------------------------------------------------------------------- q* = 0
def test_sin_q_law_with_log_correction():
    r = rate(laws("sin"), "1", "0", "q", dps=20, confirm=False)
    assert r.kind == "algebraic" and r.exponent == 1 and r.side == "above"
    assert (r.exact_constant, r.next_form, r.next_exact) == ("1", "log", "-1/3")
    assert r.limit.value == 0 and r.universal


def test_tanh_q_law():
    r = rate(laws("tanh"), "1", "0", "q", dps=20, confirm=False)
    assert (r.exact_constant, r.next_exact) == ("1/2", "5/24")      # a = 2, b = 17/3: (b - a^2)/a^3


def test_erf_critical_at_zero_bias_is_the_q_star_zero_point():
    """erf: sigma_w2 = pi/4 (erf'(0) = 2/sqrt(pi)); V = (1/2) asin(2q/(1+2q)) = q - 2q^2 + (14/3) q^3."""
    r = rate(laws("erf"), None, "0", "q", dps=20, critical=True, confirm=False)
    assert r.point.startswith("q* = 0 marginal")
    assert (r.exact_constant, r.next_exact) == ("1/2", "1/12")
    assert abs(mpmath.mpf(r.sigma_w2) - mpmath.pi / 4) < 1e-18


def test_user_expression_at_its_zero_marginal_point():
    """tanh(2x)/2: phi'(0) = 1, phi^2 = x^2 - (8/3) x^4 + ...: V = q - 8 q^2 + ...: q_l ~ 1/(8 l)."""
    f = compile_laws(derive(Activation.parse("tanh(2*x)/2")))
    r = rate(f, "1", "0", "q", dps=20, confirm=False)
    assert r.exact_constant == "1/8"


def test_repelling_zero_point_is_refused():
    """x + x^3/10: V = q + (3/5) q^2 + ...: q = 0 repels, no algebraic approach."""
    f = compile_laws(derive(Activation.parse("x + x**3/10")))
    with pytest.raises(ConvergenceError, match="moves away"):
        rate(f, "1", "0", "q", dps=15, confirm=False)


def test_tanh_metric_is_not_universal():
    r = rate(laws("tanh"), "1", "0", "metric", dps=20, confirm=False)
    assert r.kind == "algebraic" and r.exponent == 1 and r.universal is False and r.constant is None


# ---------------------------------------------------------------------------------------- kinks
def test_relu_c_law():
    r = rate(laws("relu"), "2", "0", "c", dps=25, confirm=False)
    assert r.kind == "algebraic" and r.exponent == 2 and r.side == "below"
    assert r.exact_constant == "9*pi**2/2" and r.next_exact == "-27*pi**2/2"
    with mpmath.workdps(40):
        assert close(r.constant, 9 * mpmath.pi**2 / 2, 1e-24)


def test_relu_d_and_ntk():
    """d = 2 q0 (1 - c): 9 pi^2 q0/l^2; the NTK: chi_c = 1 - sqrt(2 y)/pi ~ 1 - 3/l, so gamma = 3 and
    Theta_l ~ q0 l/4 (z = K l in z' = (1 - 3/l) z + q0 gives K = q0/4)."""
    r = rate(laws("relu"), "2", "0", "d", q0="3", dps=20, confirm=False)
    assert r.exact_constant == "27*pi**2"
    r = rate(laws("relu"), "2", "0", "ntk", q0="2", dps=20, confirm=False)
    assert (r.exponent, r.exact_constant, r.universal, r.limit) == (-1, "1/2", True, None)


def test_relu_undefined_curvature_is_null_with_a_note():
    r = rate(laws("relu"), "2", "0", "Hsq", dps=20, confirm=False)
    assert r.kind is None and "chi_2" in r.notes[0]
    out = r.to_json()
    assert out["constant"] is None and out["kind"] is None


def test_relu_q_and_metric_are_preserved():
    r = rate(laws("relu"), "2", "0", "q", q0="3", dps=20, confirm=False)
    assert r.kind == "converged" and r.limit.value == 3


# ---------------------------------------------------------------------------------------- critical line
@pytest.mark.parametrize("name", ["tanh", "erf"])
def test_critical_line_c_constant(reference, name):
    """1 - c_l ~ 2/(q* chi_2 l) (docs/theory.md §7.3), q* and chi_2 from the independent reference."""
    ref = _critical(reference, name, "0.05")
    r = rate(laws(name), None, "0.05", "c", dps=20, critical=True, confirm=False)
    assert r.exponent == 1 and r.universal and r.exact_constant is None
    assert close(r.constant, 2 / (ref["q_star"] * ref["chi_2"]), 1e-18)


def test_critical_line_next_order_tanh(reference):
    """The ln l/l^2 coefficient -(a^2 - b)/a^3, a = q* chi_2/2, b = sigma_w2 q*^2 E[phi'''^2]/6 (quadrature)."""
    ref = _critical(reference, "tanh", "0.05")
    with mpmath.workdps(30):
        d3 = lambda u: mpmath.diff(mpmath.tanh, u, 3)                       # noqa: E731
        e3 = _gauss(lambda u: d3(u) ** 2, ref["q_star"])
        a = ref["q_star"] * ref["chi_2"] / 2
        b = ref["sigma_w2"] * ref["q_star"] ** 2 * e3 / 6
        expected = -(a**2 - b) / a**3
    r = rate(laws("tanh"), None, "0.05", "c", dps=20, critical=True, confirm=False)
    assert r.next_form == "log" and close(r.next_coefficient, expected, 1e-12)


def test_critical_hsq_slope(reference):
    """|H|^2_l ~ m(m+2) chi_2 l at the critical point (m = 2: 8 chi_2), universal."""
    ref = _critical(reference, "tanh", "0.05")
    r = rate(laws("tanh"), None, "0.05", "Hsq", dim=2, dps=20, critical=True, confirm=False)
    assert (r.kind, r.exponent, r.universal) == ("algebraic", -1, True)
    assert close(r.constant, 8 * ref["chi_2"], 1e-18)


def test_critical_ntk_and_d(reference):
    ref = _critical(reference, "erf", "0.05")
    r = rate(laws("erf"), None, "0.05", "ntk", dps=20, critical=True, confirm=False)
    assert close(r.constant, ref["q_star"] / 3, 1e-18)
    r = rate(laws("erf"), None, "0.05", "d", dps=20, critical=True, confirm=False)
    assert close(r.constant, 4 / ref["chi_2"], 1e-18) and r.side == "above"


def test_user_expression_at_its_critical_point():
    """tanh(2x)/2 at sigma_b2 = 0.05: q*, sigma_w2 solved here by quadrature and findroot, then 2/(q* chi_2)."""
    f = compile_laws(derive(Activation.parse("tanh(2*x)/2")))
    r = rate(f, None, "0.05", "c", dps=15, critical=True, confirm=False)
    with mpmath.workdps(18):
        phi = lambda u: mpmath.tanh(2 * u) / 2                               # noqa: E731
        d1 = lambda u: 1 / mpmath.cosh(2 * u) ** 2                            # noqa: E731
        d2 = lambda u: -4 * mpmath.tanh(2 * u) / mpmath.cosh(2 * u) ** 2     # noqa: E731

        def equations(w, qv):
            return [w * _gauss(lambda u: d1(u) ** 2, qv) - 1, w * _gauss(lambda u: phi(u) ** 2, qv) + 0.05 - qv]
        w, qv = mpmath.findroot(equations, (float(mpmath.mpf(r.sigma_w2)) * 1.01, 0.3))
        chi2 = w * _gauss(lambda u: d2(u) ** 2, qv)
        expected = 2 / (qv * chi2)
    assert close(r.constant, expected, 1e-12)


# ---------------------------------------------------------------------------------------- not marginal
def test_erf_exponential_case():
    """erf at (4, 0.1): c* < 1 attracts; xi_c = -1/ln chi_c(c*), from the closed arcsine kernel iterated here."""
    r = rate(laws("erf"), "4", "0.1", "c", dps=20, confirm=False)
    assert r.kind == "exponential" and r.to_json().get("exponent") is None
    with mpmath.workdps(30):
        qv = mpmath.mpf(1)
        for _ in range(200):
            qv = mpmath.mpf("0.1") + 8 / mpmath.pi * mpmath.asin(2 * qv / (1 + 2 * qv))
        cmap = lambda cv: (mpmath.mpf("0.1") + 8 / mpmath.pi * mpmath.asin(2 * cv * qv / (1 + 2 * qv))) / qv  # noqa
        cv = mpmath.mpf(0)
        for _ in range(2000):
            cv = cmap(cv)
        xi = -1 / mpmath.log(mpmath.diff(cmap, cv))
    assert close(r.limit, cv, 1e-18) and close(r.xi, xi, 1e-15)


# ---------------------------------------------------------------------------------------- CLI
def _cli(argv):
    out = io.StringIO()
    code = main(argv, out=out)
    return code, out.getvalue()


def test_cli_json_schema():
    code, text = _cli(["rate", "relu", "--sigma-w2", "2", "--sigma-b2", "0", "--quantity", "c", "--json",
                       "--no-confirm", "--dps", "20"])
    assert code == 0
    out = json.loads(text)
    assert out["kind"] == "algebraic" and out["side"] == "below"
    assert out["exponent"] == {"value": "2.00000000000000", "exact": "2"}
    assert out["constant"]["exact"] == "9*pi**2/2" and out["constant"]["universal"] is True
    assert out["constant"]["latex"] == r"\frac{9 \pi^{2}}{2}"
    assert out["next_order"]["form"] == "log" and out["next_order"]["coefficient"]["exact"] == "-27*pi**2/2"
    assert mpmath.mpf(out["constant"]["value"]) == pytest.approx(44.4132198049021)


def test_cli_text_output():
    code, text = _cli(["rate", "sin", "--sigma-w2", "1", "--sigma-b2", "0", "--no-confirm", "--dps", "15"])
    assert code == 0 and "q_l ~ 1/l - (1/3) ln(l)/l^2" in text


def test_cli_errors(capsys):
    assert main(["rate", "relu", "--sigma-w2", "2", "--sigma-b2", "0", "--quantity", "Hsq", "--no-confirm"],
                out=io.StringIO()) == 1
    assert "not defined" in capsys.readouterr().err
    assert main(["rate", "relu", "--critical", "--sigma-b2", "0.1", "--quantity", "c", "--no-confirm"],
                out=io.StringIO()) == 1
    assert "no critical point" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["rate", "tanh", "--critical", "--sigma-w2", "1", "--sigma-b2", "0"], out=io.StringIO())
    assert exc.value.code == 2


# ---------------------------------------------------------------------------------------- deep confirmation
def _digits(r):
    return r.confirmation["digits"]


@pytest.mark.slow
@pytest.mark.parametrize("name, sw2, quantity", [("sin", "1", "q"), ("tanh", "1", "q"), ("relu", "2", "c")])
def test_deep_confirmation(name, sw2, quantity):
    r = rate(laws(name), sw2, "0", quantity, dps=30)
    assert r.confirmation["depth"] == 10**6 and _digits(r) >= 8


@pytest.mark.slow
@pytest.mark.parametrize("alpha", ["1/10", "1/2"])
def test_deep_confirmation_leaky_relu(alpha):
    """The closed form 9 pi^2 (1 + alpha^2)^2/(2 (1 - alpha)^4) (test_asymptotics) against deep iteration."""
    al = sympy.Rational(alpha)
    f = laws("leaky_relu", alpha=alpha)
    r = rate(f, None, "0", "c", dps=30, critical=True)          # sigma_w2 = 2/(1 + alpha^2), solved exactly
    assert r.point.startswith("scale-invariant")
    expected = sympy.N(9 * sympy.pi**2 * (1 + al**2) ** 2 / (2 * (1 - al) ** 4), 40)
    assert abs(mpmath.mpf(r.confirmation["extrapolated"]["value"]) - mpmath.mpf(str(expected))) \
        < 1e-8 * float(expected)


@pytest.mark.slow
def test_deep_confirmation_critical_line():
    r = rate(laws("erf"), None, "0.05", "c", dps=30, critical=True)
    assert _digits(r) >= 8


# ---------------------------------------------------------------------------------------- saddle-node
@pytest.mark.slow
def test_saddle_node_of_gelu(reference):
    """gelu at sigma_b2 = 0.1: the q-map's saddle-node (reference: fold_q, fold_sigma_w2); V(q) > q on both
    sides, so q approaches q* from below with q* - q_l ~ 2/(V''(q*) l), V'' by mpmath.diff of a quadrature."""
    case = next(c for c in reference["critical_cases"] if c["activation"] == "gelu" and c["sigma_b2"] == "0.1")
    r = rate(laws("gelu"), None, "0.1", "q", dps=20, fold=True, confirm=False)
    assert r.side == "below" and r.exponent == 1 and r.universal
    assert close(r.limit, mpmath.mpf(case["fold_q"]), 1e-18)
    assert abs(mpmath.mpf(r.sigma_w2) - mpmath.mpf(case["fold_sigma_w2"])) < 1e-17
    with mpmath.workdps(20):
        w = mpmath.mpf(case["fold_sigma_w2"])
        gelu = lambda u: u * (1 + mpmath.erf(u / mpmath.sqrt(2))) / 2                 # noqa: E731
        V = lambda qv: w * _gauss(lambda u: gelu(u) ** 2, qv) + mpmath.mpf("0.1")   # noqa: E731
        second = mpmath.diff(V, mpmath.mpf(case["fold_q"]), 2)
        expected = 2 / second
    assert close(r.constant, expected, 1e-10)


def test_no_saddle_node():
    with pytest.raises(ConvergenceError, match="no saddle-node"):
        rate(laws("erf"), None, "0.1", "q", dps=15, fold=True, confirm=False)


@pytest.mark.slow
def test_deep_confirmation_saddle_node():
    r = rate(laws("gelu"), None, "0.1", "q", dps=30, fold=True)
    assert _digits(r) >= 8
