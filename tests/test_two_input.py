"""Two inputs: bivariate kernels, c-map, chi_c, c*, critical line, phase diagram (docs/theory.md §3, §7, §9, §10)."""

import json
import math
import re

import mpmath
import numpy as np
import pytest
import sympy

from neurodyn.numerics import fixed_point
from neurodyn.numerics.criticality import correlation_fixed_points, critical_point, phase_diagram
from neurodyn.theory import BivariateGaussianExpectation, expect2
from neurodyn.theory.errors import ConvergenceError
from neurodyn.theory.symbols import c, q, q11, q12, q22, q_star, sigma_b2, sigma_w2, x

from cache import compiled, laws

S11, S12, S22 = q11, q12, q22
T = sympy.acos(S12 / sympy.sqrt(S11 * S22))
DG = sympy.sqrt((1 + 2 * S11) * (1 + 2 * S22) - 4 * S12**2)
# docs/theory.md §10 (neural-tangents code, independently checked there)
SHEET_KERNELS = {
    "linear": (x, S12),
    "relu": (sympy.Max(0, x), sympy.sqrt(S11 * S22) / (2 * sympy.pi) * (sympy.sin(T) + (sympy.pi - T) * sympy.cos(T))),
    "erf": (sympy.erf(x), 2 / sympy.pi * sympy.asin(2 * S12 / sympy.sqrt((1 + 2 * S11) * (1 + 2 * S22)))),
    "sin": (sympy.sin(x), sympy.exp(-(S11 + S22) / 2) * sympy.sinh(S12)),
    "cos": (sympy.cos(x), sympy.exp(-(S11 + S22) / 2) * sympy.cosh(S12)),
    "gaussian": (sympy.exp(-x**2), 1 / DG),
}
COVARIANCES = [("1.3", "0.4", "0.7"), ("0.5", "-0.3", "2.0"), ("1", "0.999", "1"), ("0.8", "0.7992", "0.8")]


def _nested(f, g, v11, v12, v22, dps=20, breaks=()):
    """Independent E[f(u1) g(u2)]: mpmath.quad over u1 of the conditional mpmath.quad over u2."""
    ff, gf = sympy.lambdify(x, f, "mpmath"), sympy.lambdify(x, g, "mpmath")
    with mpmath.workdps(dps):
        v11, v12, v22 = (mpmath.mpf(v) for v in (v11, v12, v22))
        s1, sd = mpmath.sqrt(v11), mpmath.sqrt(v22 - v12**2 / v11)

        def inner(y):
            mean = v12 / v11 * y
            pts = [-mpmath.inf] + [(b - mean) / sd for b in breaks] + [mpmath.inf]
            return mpmath.quad(lambda w: gf(mean + sd * w) * mpmath.npdf(w), pts)

        pts = [-mpmath.inf] + [b / s1 for b in breaks] + [mpmath.inf]
        return mpmath.quad(lambda z: ff(s1 * z) * inner(s1 * z) * mpmath.npdf(z), pts)


@pytest.mark.parametrize("name", list(SHEET_KERNELS))
def test_kernels_match_the_reference_sheet(name):
    phi, kernel = SHEET_KERNELS[name]
    r = expect2(phi, phi, q11, q12, q22)
    assert r.closed
    for cov in COVARIANCES:
        subs = dict(zip((q11, q12, q22), map(sympy.Rational, cov)))
        got, want = sympy.N(r.value.subs(subs), 30), sympy.N(kernel.subs(subs), 30)
        assert abs(got - want) < 1e-25, (name, cov, got, want)


@pytest.mark.parametrize("name, tactic", [("relu", "price"), ("leaky_relu", "price"), ("abs", "price"),
                                          ("erf", "price")])
def test_kernels_are_derived_by_price(name, tactic):
    law = laws(name).cov_map
    assert law.closed and law.tactic == tactic
    assert any("Price" in s.description for s in law.steps)
    assert any("t = 0" in s.description for s in law.steps)      # the constant at zero covariance


@pytest.mark.parametrize("name, cov", [pytest.param("leaky_relu", COVARIANCES[0], marks=pytest.mark.slow),
                                       pytest.param("abs", COVARIANCES[1], marks=pytest.mark.slow),
                                       pytest.param("gelu", COVARIANCES[0], marks=pytest.mark.slow)])
def test_derived_kernels_against_nested_quadrature(name, cov):
    act = laws(name).activation
    kernel = (laws(name).cov_map.expr - sigma_b2) / sigma_w2
    got = sympy.N(kernel.subs(dict(zip((q11, q12, q22), map(sympy.Rational, cov)))), 25)
    ref = _nested(act.piecewise, act.piecewise, *cov, dps=12, breaks=tuple(float(k) for k in act.kinks))
    assert abs(float(got) - float(ref)) < 1e-9 * max(1, abs(float(ref)))


@pytest.mark.parametrize("cov", COVARIANCES)
def test_relu_family_identities_including_strong_correlation(cov):
    """leaky(x) = a x + (1-a) relu(x) and |x| = 2 relu(x) - x, with E[u1 relu(u2)] = q12/2."""
    subs = dict(zip((q11, q12, q22), map(sympy.Rational, cov)))
    k_relu = SHEET_KERNELS["relu"][1].subs(subs)
    alpha = sympy.Rational(1, 10)
    leaky = ((laws("leaky_relu").cov_map.expr - sigma_b2) / sigma_w2).subs(subs)
    absk = ((laws("abs").cov_map.expr - sigma_b2) / sigma_w2).subs(subs)
    s12 = subs[q12]
    assert abs(sympy.N(leaky - (alpha**2 * s12 + alpha * (1 - alpha) * s12 + (1 - alpha)**2 * k_relu), 30)) < 1e-25
    assert abs(sympy.N(absk - (4 * k_relu - s12), 30)) < 1e-25


def test_polynomials_by_mehler():
    r = expect2(x**3, x**3, q11, q12, q22)
    assert r.tactic == "mehler"
    assert sympy.expand(r.value - (9 * q11 * q22 * q12 + 6 * q12**3)) == 0


def test_unevaluated_bivariate_prints_and_differentiates():
    e = BivariateGaussianExpectation(sympy.tanh(x), sympy.tanh(x), q_star, c * q_star, q_star)
    assert str(e).startswith("E[tanh(u1)*tanh(u2);")
    assert r"\mathbb{E}" in sympy.latex(e)
    assert sympy.diff(e, c).has(BivariateGaussianExpectation)


@pytest.mark.parametrize("name", ["relu", "erf", "sin", "gaussian", "linear"])
def test_chi_c_at_one_is_chi_1(name):
    L = laws(name)
    at_one = L.chi_c.expr.subs(c, 1)
    chi_1 = L.chi_1.expr.subs(q, q_star)
    assert sympy.simplify(at_one - chi_1) == 0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tanh", "erf"])
def test_identities_numerically(name):
    """chi_c = dC/dc, chi_c(1) = chi_1 and C''(1) = q* chi_2 at the tanh/erf fixed point."""
    f = compiled(name)
    fp = fixed_point(f, "2", "0.05", dps=20)
    point = dict(q_star=fp.value, sigma_w2="2", sigma_b2="0.05")
    with mpmath.workdps(30):
        chi_1 = f.evaluate_at(["chi_c"], dict(point, c=1), dps=15)["chi_c"].value
        assert abs(chi_1 - fp.chi_1.value) < 1e-13
        h = mpmath.mpf("1e-4")
        cm = [f.evaluate_at(["c_map"], dict(point, c=1 - k * h), dps=18)["c_map"].value for k in (0, 1, 2)]
        second = (cm[0] - 2 * cm[1] + cm[2]) / h**2
        assert abs(second - fp.value * fp.chi_2.value) < 1e-3 * fp.chi_2.value   # O(h) difference
        slope = (f.evaluate_at(["c_map"], dict(point, c="0.3001"), dps=18)["c_map"].value
                 - f.evaluate_at(["c_map"], dict(point, c="0.2999"), dps=18)["c_map"].value) / mpmath.mpf("0.0002")
        chi_c = f.evaluate_at(["chi_c"], dict(point, c="0.3"), dps=18)["chi_c"].value
        assert abs(slope - chi_c) < 1e-7


# docs/theory.md §9: (act, sw2, sb2, c*, chi_c, xi_c, digits)
SHEET = [
    ("tanh", "6.25", "0.09", "0.122103747306", "0.822229172724", "5.10891898917", 12),
    ("tanh", "16", "0.09", "0.0296959215803", "0.759743605012", "3.63935102151", 12),
    ("tanh", "2.25", "0.05", "0.56722492676", "0.935990162259", "15.1170864528", 11),
    ("tanh", "1.69", "0.09", "1", "0.939807428682", "16.1081727435", 12),
    ("erf", "2", "0.05", "0.434481237456", "0.906482226963", "10.1849738736", 12),
    ("erf", "0.5", "0.05", "1", "0.533534270072", "1.59176871187", 12),
    ("erf", "4", "0", "0", "0.845585509646", "5.96210554567", 12),
    ("relu", "1.5", "0.1", "1", "0.75", "3.47605949678", 12),
]


@pytest.mark.parametrize("row", SHEET, ids=lambda r: f"{r[0]}-{r[1]}-{r[2]}")
def test_correlation_fixed_points_against_sheet(row):
    name, sw2, sb2, c_ref, chi_ref, xi_ref, digits = row
    fp = fixed_point(compiled(name), sw2, sb2, dps=20, two_input=True)
    tol = 10.0 ** -(digits - 1)
    assert abs(float(fp.c_star.value) - float(c_ref)) <= tol * max(1, float(c_ref))
    assert abs(float(fp.chi_c_star.value) / float(chi_ref) - 1) <= tol
    assert abs(float(fp.xi_c.value) / float(xi_ref) - 1) <= tol
    assert fp.phase == ("ordered" if c_ref == "1" else "chaotic")
    assert fp.c_star.error < 1e-19


def test_c_star_higher_precision_rerun_agrees():
    a = fixed_point(compiled("erf"), "2", "0.05", dps=20, two_input=True)
    b = fixed_point(compiled("erf"), "2", "0.05", dps=35, two_input=True)
    with mpmath.workdps(40):
        assert abs(a.c_star.value - b.c_star.value) <= a.c_star.error + b.c_star.error


@pytest.mark.parametrize("name, sb2, sw2, q_ref, chi2_ref", [
    ("tanh", "0.05", "1.76095463961", "0.570047881641", "0.568531111958"),
    ("tanh", "0.09", "1.94765463171", "0.763474766910", "0.611671349424"),
    ("erf", "0.05", "1.37583900735", "0.517176837981", "0.674129890759"),
])
def test_critical_line_against_sheet(name, sb2, sw2, q_ref, chi2_ref):
    cp = critical_point(compiled(name), sb2, dps=25)
    assert abs(float(cp.sigma_w2.value) / float(sw2) - 1) < 1e-11
    assert abs(float(cp.q_star.value) / float(q_ref) - 1) < 1e-11
    assert abs(float(cp.chi_2.value) / float(chi2_ref) - 1) < 1e-11
    # on the line: chi_1(q*) = 1 and q* is the fixed point at (sigma_w2, sigma_b2)
    with mpmath.workdps(35):
        chk = compiled(name).evaluate(["q_map", "chi_1"], cp.q_star.value, cp.sigma_w2.value, sb2, dps=25)
        assert abs(chk["chi_1"].value - 1) < 1e-22
        assert abs(chk["q_map"].value - cp.q_star.value) < 1e-22


def test_critical_erf_at_zero_bias_is_pi_over_4():
    cp = critical_point(compiled("erf"), "0", dps=20)
    assert abs(float(cp.sigma_w2.value) - math.pi / 4) < 1e-15 and cp.q_star.value == 0


def test_critical_point_that_does_not_exist():
    with pytest.raises(ConvergenceError, match="no critical point"):
        critical_point(compiled("relu"), "0.05", dps=15)


def test_relu_critical_iterates():
    """docs/theory.md §9: ReLU at (2, 0), c^0 = 0 -> c^1..c^5."""
    f = compiled("relu")
    want = ["0.3183098861838", "0.4937310902004", "0.6048257201129", "0.6809535333557", "0.7359463506276"]
    cv = mpmath.mpf(0)
    for w in want:
        cv = f.c_map(cv, "2", "0", 1, dps=20).value
        assert abs(cv - mpmath.mpf(w)) < 1e-12


def test_erf_iterates_at_q_star():
    f = compiled("erf")
    fp = fixed_point(f, "2", "0.05", dps=20)
    want = ["0.8885284211905", "0.8761964282971", "0.8630317248064", "0.8490798904732", "0.8344044132721"]
    cv = mpmath.mpf("0.9")
    for w in want:
        cv = f.c_map(cv, "2", "0.05", fp.value, dps=20).value
        assert abs(cv - mpmath.mpf(w)) < 1e-12


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tanh", pytest.param("mish", marks=pytest.mark.slow),
                                  pytest.param("hard_tanh", marks=pytest.mark.slow)])
def test_float64_c_map_against_mpmath(name):
    f = compiled(name)
    fp = fixed_point(f, "2", "0.05", dps=20)
    cs = np.array([-1.0, -0.6, 0.0, 0.5, 0.9, 0.999, 1.0])
    fast = f.c_map(cs, "2", "0.05", float(fp.value))
    worst = 0.0
    for cv, got in zip(cs, fast):
        slow = f.c_map(float(cv), "2", "0.05", fp.value, dps=16).value
        worst = max(worst, abs(got - float(slow)))
    assert worst < (1e-12 if name != "hard_tanh" else 1e-9), worst


def test_distance_map_small_distances_grow_by_chi_1():
    f = compiled("tanh")
    fp = fixed_point(f, "2.25", "0.05", dps=20)
    dval = mpmath.mpf("1e-8")
    got = f.evaluate_at(["distance_map"], dict(d=dval, q_star=fp.value, sigma_w2="2.25", sigma_b2="0.05"),
                        dps=20)["distance_map"].value
    assert abs(got / dval - fp.chi_1.value) < 1e-6


def test_ntk_map_linear():
    ntk = laws("linear").ntk_map.expr
    from neurodyn.theory.symbols import Theta
    assert sympy.expand(ntk - (sigma_w2 * q12 + sigma_b2 + sigma_w2 * Theta)) == 0


def test_all_fixed_points_of_odd_activation():
    f = compiled("erf")
    fp = fixed_point(f, "4", "0", dps=15)
    points = correlation_fixed_points(f, fp)
    values = sorted(round(float(p[0].value), 9) for p in points)
    assert 0.0 in values and 1.0 in values
    stable = [float(p[0].value) for p in points if p[2]]
    assert stable == [0.0]


def test_bad_correlation_and_missing_fixed_point():
    f = compiled("tanh")
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        f.c_map(1.5, 2, 0.1, 1.0)
    with pytest.raises(ConvergenceError, match="no finite fixed point"):
        fixed_point(compiled("relu"), "2.5", "0.1", two_input=True)


def test_phase_diagram_grid_and_limits(tmp_path):
    f = compiled("tanh")
    pd = phase_diagram(f, np.linspace(0.5, 4, 30), np.linspace(0, 0.5, 20))
    assert pd.chi_1.shape == (20, 30) and pd.max_error < 1e-5
    assert np.all(pd.phases()[:, 0] == "ordered") and np.all(pd.phases()[:, -1] == "chaotic")
    # the critical line passes the docs/theory.md §7.2 point (sigma_w2 1.76095 at sigma_b2 0.05)
    line = pd.critical_line
    k = np.argmin(np.abs(line[:, 1] - 0.05))
    assert abs(line[k, 1] - 0.05) < 2e-3 and abs(line[k, 0] - 1.76095463961) < 2e-2
    with pytest.raises(ValueError, match="larger than the limit"):
        phase_diagram(f, np.linspace(0.5, 4, 3000), np.linspace(0, 1, 3000))
    from neurodyn.reports.plots import plot_phase_diagram

    plot_phase_diagram(tmp_path / "pd.png", activation=pd.activation, sigma_w2=pd.sigma_w2, sigma_b2=pd.sigma_b2,
                       q_star=pd.q_star, chi_1=pd.chi_1, critical_line=pd.critical_line)
    assert (tmp_path / "pd.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_kinked_non_gaussian_exponential_pieces_near_full_correlation():
    """softsign (pieces x/(1 +- x)): nested quadrature, clipped and split at the peak, agrees with float64."""
    f = compiled("softsign")
    q = "0.137453164274871"
    fast = f.c_map(np.array([0.999]), "1.5", "0.05", float(q))[0]
    slow = f.c_map(0.999, "1.5", "0.05", q, dps=8)
    # independent value: plain mpmath at 20 digits, nested mpmath.quad in the rotated frame
    # u1,2 = sqrt(q) (sqrt((1+c)/2) a +- sqrt((1-c)/2) b), inner over b split at the kinks b = +-a sqrt((1+c)/(1-c))
    # and at +-8, outer over a split at 0, +-1, +-8 (214 s, so not rerun here): C(0.999) = 0.99932321481475875813
    ref = 0.99932321481475875813
    assert abs(float(slow.value) - fast) < 1e-7 and abs(fast - ref) < 1e-9


# ------------------------------------------------------------------------------------------
# issue 8 and issue 7 section 4: independent values (tests/reference/fixed_points.json keys
# two_input_cases / critical_cases, written by tests/reference/make_reference.py, which never
# imports neurodyn)
# ------------------------------------------------------------------------------------------
from pathlib import Path  # noqa: E402

_REF = json.loads((Path(__file__).parent / "reference" / "fixed_points.json").read_text())


def _two_input_cases():
    cases = _REF["two_input_cases"]
    return [c for c in cases if c["activation"] in ("tanh", "erf", "selu") and not c.get("params")]


@pytest.mark.parametrize("case", _two_input_cases(), ids=lambda c: f"{c['activation']}-{c['sigma_w2']}-{c['sigma_b2']}")
def test_two_input_against_independent_values(case):
    digits = min(int(case["digits"]), 40)
    fp = fixed_point(compiled(case["activation"]), case["sigma_w2"], case["sigma_b2"], dps=digits, two_input=True)
    assert fp.phase == case["phase"]
    with mpmath.workdps(digits + 20):
        tol = mpmath.mpf(10) ** (-digits + 2)
        for key in ("q_star", "c_star", "chi_c_star", "xi_c"):
            want = case.get(key)
            if want is None:
                continue
            got = getattr(fp, key)
            text, err = got.printed()
            # the printed value is within its printed error of the independent value (and that error is small)
            assert abs(mpmath.mpf(text) - mpmath.mpf(want)) <= err + tol * max(1, abs(mpmath.mpf(want))), key
            assert err <= tol * max(1, abs(mpmath.mpf(want))), (key, err)


def test_xi_c_in_the_ordered_phase_has_every_digit():
    """issue 8 section 2: xi_c was evaluated in float64 (mpmath's global precision) in the ordered branch."""
    fp = fixed_point(compiled("tanh"), "0.8", "0", dps=40, two_input=True)
    with mpmath.workdps(60):
        want = -1 / mpmath.log(mpmath.mpf("0.8"))
        assert abs(mpmath.mpf(str(fp.xi_c)) - want) <= mpmath.mpf(fp.xi_c.to_json()["error"]) < 1e-38
        assert str(fp.xi_c) == str(fp.xi_q)


@pytest.mark.parametrize("name, sw2, dps", [("tanh", "1.5", 20), ("tanh", "1.5", 25), ("tanh", "1.5", 40),
                                            ("selu", "1", 20)])
def test_c_star_at_or_near_zero_is_confirmed(name, sw2, dps):
    """issue 8 section 3: the confirmation compared a relative error at a root that is 0."""
    f = compiled(name)
    fp = fixed_point(f, sw2, "0", dps=dps, two_input=True)
    assert fp.phase == "chaotic"
    with mpmath.workdps(dps + 20):
        assert abs(fp.c_star.value) <= fp.c_star.error + mpmath.mpf(10) ** -dps
        # chi_c(0) = sigma_w2 E[phi'(u)]^2 for independent inputs: a 1-D check
        dphi = sympy.lambdify(x, laws(name).activation.derivative(), "mpmath")
        s = mpmath.sqrt(fp.value)
        mean = mpmath.quad(lambda z: dphi(s * z) * mpmath.npdf(z), [-mpmath.inf, 0, mpmath.inf])
        want = mpmath.mpf(sw2) * mean**2
        assert abs(fp.chi_c_star.value - want) <= fp.chi_c_star.error + abs(want) * mpmath.mpf(10) ** (-dps + 3)
    if name == "tanh":
        assert fp.c_star.value == 0            # odd activation, no bias: C(0) = 0 exactly


@pytest.mark.slow
@pytest.mark.parametrize("dps", [15, 30, 45, 60])
def test_c_star_confirmed_on_a_grid_of_precisions(dps):
    """issue 7 section 4: tanh (2.25, 0.05) at dps 45 failed (Newton stopped one step early)."""
    fp = fixed_point(compiled("tanh"), "2.25", "0.05", dps=dps, two_input=True)
    assert "c_star" not in fp.notes
    with mpmath.workdps(dps + 20):
        assert abs(fp.c_star.value - mpmath.mpf("0.56722492676")) < 1e-11
        assert fp.c_star.error <= mpmath.mpf(10) ** -dps


def test_two_input_failure_keeps_the_single_input_answer(monkeypatch):
    import neurodyn.numerics.fixedpoint as fixedpoint

    def fail(f, fp):
        raise ConvergenceError("c* could not be confirmed")
    monkeypatch.setattr(fixedpoint, "correlation_fixed_point", fail)
    fp = fixed_point(compiled("erf"), "2", "0.05", dps=15, two_input=True)
    data = fp.to_json()
    assert data["q_star"]["value"].startswith("0.965954812592") and data["phase"] == "chaotic"
    assert data["c_star"] is None and "could not be confirmed" in data["c_star_note"]


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c["activation"] == "gelu" else c
                                  for c in _REF["critical_cases"]],
                         ids=lambda c: f"{c['activation']}-{c['sigma_b2']}")
def test_critical_points_are_on_the_attracting_branch(case):
    """issue 8 section 1: gelu at sigma_b2 = 0.1 has chi_1 = 1 only on the repelling branch."""
    if case.get("params"):
        pytest.skip("parametrised activation")
    f = compiled(case["activation"])
    digits = min(int(case["digits"]), 18)
    if not case["exists"]:
        with pytest.raises(ConvergenceError) as info:
            critical_point(f, case["sigma_b2"], dps=digits)
        msg = str(info.value)
        for lo, hi in re.findall(r"\[([^,\]]+), ([^\]]+)\]", msg):     # never a negative sigma_b2 range
            assert float(lo) >= 0 and float(hi) >= 0, msg
        if case.get("fold_sigma_w2"):
            assert "fold" in msg and case["fold_sigma_w2"][:10] in msg, msg
        return
    cp = critical_point(f, case["sigma_b2"], dps=digits)
    with mpmath.workdps(digits + 10):
        for key in ("sigma_w2", "q_star"):
            text, err = getattr(cp, key).printed()
            assert abs(mpmath.mpf(text) - mpmath.mpf(case[key])) <= err + mpmath.mpf(10) ** (-digits + 2), key
        text, err = cp.slope_V.printed()
        assert abs(mpmath.mpf(text) - mpmath.mpf(case["slope_V"])) <= err + mpmath.mpf(10) ** (-digits + 2)
    # V'(q*) < 1: attracting; V'(q*) = 1 (q* = 0 of an odd activation at zero bias): marginal, attracting from above
    assert cp.to_json()["branch"] == ("attracting" if mpmath.mpf(case["slope_V"]) < 1 else "marginal")


def test_critical_at_zero_bias_lists_no_spurious_crossings():
    """issue 9: tanh at sigma_b2 = 0 listed float64 noise (1.00000002) as other crossings, chi_2 null, no note."""
    data = critical_point(compiled("tanh"), "0", dps=20).to_json()
    assert "other_sigma_w2" not in data and data["q_star"]["value"] == "0"
    assert data["chi_2"] == {"value": "0", "error": "0"}          # phi''(0) = 0 for tanh
    relu = critical_point(compiled("relu"), "0", dps=15).to_json()
    assert relu["chi_2"] is None and "delta" in relu["chi_2_note"].lower()


def test_critical_softplus_never_suggests_a_negative_variance():
    with pytest.raises(ConvergenceError) as info:
        critical_point(compiled("softplus"), "0.05", dps=15)
    assert "sigma_b2 < 0 everywhere" in str(info.value) and "[-" not in str(info.value)
