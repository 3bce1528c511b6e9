import json
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy

from neurodyn.numerics import compile_laws, fixed_point
from neurodyn.numerics.quadrature import IntegrandBundle, expect_mp
from neurodyn.theory import Activation, catalog, derive
from neurodyn.theory.errors import ConvergenceError, NotDefinedError
from neurodyn.theory.laws import SINGLE_INPUT
from neurodyn.theory.symbols import x

from cache import compiled
from quadref import reference_expectation

REFERENCE = json.loads((Path(__file__).parent / "reference" / "fixed_points.json").read_text())


@pytest.mark.parametrize("expr, breaks", [
    (sympy.tanh(x)**2, ()), (x * sympy.tanh(sympy.log(1 + sympy.exp(x))), ()),
    (sympy.sin(3 * x) + x**3 * sympy.exp(x), ()), (sympy.Max(0, x)**3, (0,)),
    (sympy.Piecewise((sympy.exp(x) - 1, x < 0), (x, True))**2, (0,)),
    (sympy.Max(-1, sympy.Min(1, x))**2 * sympy.cos(x), (-1, 1)),
])
@pytest.mark.parametrize("v", ["0.05", "0.9", "30"])
def test_quadrature_against_mpmath_quad(expr, breaks, v):
    dps = 40
    (val,), (err,) = expect_mp(IntegrandBundle([expr]), v, dps)
    ref = reference_expectation(expr, v, dps=dps + 20, breaks=breaks or (0,))
    with mpmath.workdps(dps + 20):
        assert abs(val - ref) <= max(err, abs(ref) * mpmath.mpf(10) ** -dps)
        assert err <= abs(ref) * mpmath.mpf(10) ** -dps + mpmath.mpf(10) ** -(dps + 5)


def test_quadrature_restores_precision():
    before = mpmath.mp.dps
    expect_mp(IntegrandBundle([sympy.tanh(x)**2]), "1", 60)
    assert mpmath.mp.dps == before


def test_variance_zero_is_the_value_at_zero():
    vals, errs = expect_mp(IntegrandBundle([sympy.cos(x)**2]), 0, 20)
    assert vals[0] == 1 and errs[0] == 0


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "softsign" else n
                                  for n in catalog.names()])
def test_float64_against_mpmath(name):
    """The float64 path agrees with the 30-digit path for every law of every activation."""
    f = compiled(name)
    qs = np.array([0.05, 0.4, 1.3, 4.0])
    for law in [n for n in SINGLE_INPUT if n in f.names()]:
        fast = f.evaluate([law], qs, 1.7, 0.2)[law]
        for qv, got in zip(qs, fast):
            slow = f.evaluate([law], float(qv), 1.7, 0.2, dps=30)[law].value
            assert abs(got - float(slow)) <= 5e-13 * (1 + abs(float(slow))), (name, law, qv)


def test_estimate_error_is_honest():
    """An Estimate at 30 digits lies within its error of a 60-digit evaluation."""
    f = compile_laws(derive(catalog.get("mish")))
    for law in ("q_map", "chi_par", "chi_1", "chi_2"):
        low = f.evaluate([law], "0.8", "1.5", "0.05", dps=30)[law]
        high = f.evaluate([law], "0.8", "1.5", "0.05", dps=60)[law]
        with mpmath.workdps(70):
            assert abs(low.value - high.value) <= low.error
            assert low.error <= mpmath.mpf(10) ** -30 * abs(high.value)


def test_undefined_law_raises():
    f = compile_laws(derive(catalog.get("relu")))
    with pytest.raises(NotDefinedError, match="delta"):
        f.chi_2(1.0, 2.0)


@pytest.mark.parametrize("case", REFERENCE["cases"], ids=lambda c: f"{c['activation']}-{c['sigma_w2']}-{c['sigma_b2']}")
def test_fixed_points_against_independent_reference(case):
    """50 digits against tests/reference/fixed_points.json (mpmath.quad + secant, 80/100 digits)."""
    name = case["activation"]
    act = catalog.get(name, **case["params"])
    fp = fixed_point(compile_laws(derive(act)), case["sigma_w2"], case["sigma_b2"], dps=50)
    assert fp.stable
    with mpmath.workdps(60):
        for key, got in (("q_star", fp.q_star), ("chi_1", fp.chi_1), ("chi_2", fp.chi_2),
                         ("chi_par", fp.slope), ("xi_q", fp.xi_q)):
            if case[key] is None:
                assert got is None and key in fp.notes
                continue
            ref = mpmath.mpf(case[key])
            tol = abs(ref) * mpmath.mpf(10) ** -48
            assert abs(got.value - ref) <= tol + got.error, (key, str(got), case[key])
            assert got.error <= abs(ref) * mpmath.mpf(10) ** -49


# docs/theory.md §9 (12 significant digits)
SHEET = [
    ("tanh", "1.69", "0.09", "0.607046791909", "0.939807428682", "0.543472018641", "0.473515869865", "1.33766764254"),
    ("tanh", "16", "0.09", "12.6041494978", "2.36726103555", "1.85717604141", "0.130082102326", "0.490294745077"),
    ("erf", "4", "0", "2.51149802169", "1.53238448453", "1.39365683811", "0.254422296394", "0.730588371998"),
    ("relu", "1.9", "0.05", "1.0", "0.95", None, "0.95", "19.4957257462"),
]


@pytest.mark.parametrize("row", SHEET, ids=lambda r: f"{r[0]}-{r[1]}-{r[2]}")
def test_fixed_points_against_reference_sheet(row):
    name, sw2, sb2, *values = row
    fp = fixed_point(compile_laws(derive(catalog.get(name))), sw2, sb2, dps=20)
    for got, ref in zip((fp.q_star, fp.chi_1, fp.chi_2, fp.slope, fp.xi_q), values):
        if ref is None:
            assert got is None
        else:
            assert abs(float(got.value) / float(ref) - 1) < 1e-11, (str(got), ref)


def test_higher_precision_rerun_agrees():
    f = compile_laws(derive(catalog.get("tanh")))
    a = fixed_point(f, "2.25", "0.05", dps=30)
    b = fixed_point(f, "2.25", "0.05", dps=60)
    with mpmath.workdps(80):
        assert abs(a.value - b.value) <= a.error + b.error
        assert a.error <= mpmath.mpf(10) ** -30 * a.value


def test_relu_without_finite_fixed_point():
    f = compile_laws(derive(catalog.get("relu")))
    with pytest.raises(ConvergenceError, match="no finite fixed point"):
        fixed_point(f, 2.5, 0.1)


def test_zero_fixed_point_and_marginal():
    f = compile_laws(derive(catalog.get("tanh")))
    fp = fixed_point(f, "0.5", "0", dps=20)
    assert fp.value == 0 and fp.stable and abs(float(fp.slope.value) - 0.5) < 1e-18
    fp = fixed_point(f, "1", "0", dps=20)
    assert fp.value == 0 and fp.marginal and fp.xi_q is None and "marginal" in fp.notes["xi_q"]


def test_relu_critical_point_every_q_fixed():
    fp = fixed_point(compile_laws(derive(catalog.get("relu"))), "2", "0", dps=20)
    assert fp.marginal and fp.value == 1


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(sigma_w2=-1, sigma_b2=0.1), "sigma_w2"), (dict(sigma_w2="abc", sigma_b2=0.1), "sigma_w2"),
    (dict(sigma_w2=1, sigma_b2=-0.1), "sigma_b2"), (dict(sigma_w2=1, sigma_b2=0.1, dps=0), "dps"),
    (dict(sigma_w2=1, sigma_b2=0.1, dps=10**6), "dps"), (dict(sigma_w2=float("nan"), sigma_b2=0.1), "sigma_w2"),
])
def test_bad_numbers(kwargs, fragment):
    f = compile_laws(derive(catalog.get("tanh")))
    with pytest.raises(ValueError, match=fragment):
        fixed_point(f, **kwargs)


def test_user_expression_end_to_end():
    act = Activation.parse("x*tanh(log(1+exp(x)))", name="mish")
    fp = fixed_point(compile_laws(derive(act)), "1.5", "0.05", dps=30)
    ref = next(c for c in REFERENCE["cases"] if c["activation"] == "mish")
    with mpmath.workdps(50):
        assert str(fp.q_star) == mpmath.nstr(mpmath.mpf(ref["q_star"]), 30, strip_zeros=False)


# ------------------------------------------------------------------------------------------
# issue 8 section 5, issue 9: messages, several attractors, printing. Independent values: the
# tests/reference/fixed_points.json keys attractor_cases / large_sigma_cases (written by
# tests/reference/make_reference.py, which never imports neurodyn).
# ------------------------------------------------------------------------------------------

def _compiled_any(name):
    act = catalog.get(name) if name in catalog.names() else Activation.parse(name)
    return compile_laws(derive(act))


def _slow_if(cases, marker):
    return [pytest.param(c, marks=pytest.mark.slow, id=f"{c['activation']}-{c['sigma_w2']}")
            if marker(c) else pytest.param(c, id=f"{c['activation']}-{c['sigma_w2']}") for c in cases]


@pytest.mark.parametrize("case", _slow_if(REFERENCE["attractor_cases"],
                                          lambda c: "tanh(" in c["activation"] or "gelu" in c["activation"]))
def test_every_stable_fixed_point_is_listed(case):
    f = _compiled_any(case["activation"])
    digits = min(int(case["digits"]), 18)
    stable = [mpmath.mpf(v) for v in case["stable_q_stars"]]
    start = float(min(stable)) if len(stable) == 1 else 1.0
    try:
        fp = fixed_point(f, case["sigma_w2"], case["sigma_b2"], dps=digits)
    except ConvergenceError as exc:
        # iteration from q0 = 1 diverges: the message must name the stable fixed points and --q0
        assert "q0" in str(exc) and f"{float(stable[0]):.4g}" in str(exc), str(exc)
        fp = fixed_point(f, case["sigma_w2"], case["sigma_b2"], dps=digits, q0=start)
    listed = fp.to_json()["stable_q_stars"]
    assert len(listed) == len(stable), listed
    with mpmath.workdps(digits + 10):
        for got, want in zip(listed, sorted(stable)):
            assert abs(mpmath.mpf(got["value"]) - want) <= mpmath.mpf(got["error"]) + want * mpmath.mpf(10) ** (2 - digits)
    if len(stable) > 1:
        assert "another attractor" in fp.notes["q_star"]


def test_diverging_cubic_does_not_suggest_lowering_sigma_w2():
    with pytest.raises(ConvergenceError) as info:
        fixed_point(_compiled_any("x^3/3 + x"), "0.5", "0.05", dps=15)
    assert "lower sigma_w2" not in str(info.value) and "0.1522" in str(info.value) and "q0" in str(info.value)


@pytest.mark.parametrize("case", _slow_if(REFERENCE["large_sigma_cases"],
                                          lambda c: float(c["sigma_w2"]) > 1000))
def test_large_sigma_w2(case):
    digits = min(int(case["digits"]), 18)
    fp = fixed_point(_compiled_any(case["activation"]), case["sigma_w2"], case["sigma_b2"], dps=digits)
    with mpmath.workdps(digits + 10):
        for key in ("q_star", "chi_1"):
            text, err = getattr(fp, key).printed()
            want = mpmath.mpf(case[key])
            assert abs(mpmath.mpf(text) - want) <= err + abs(want) * mpmath.mpf(10) ** (2 - digits), key


def test_negative_slope_says_xi_q_uses_its_absolute_value():
    fp = fixed_point(compile_laws(derive(catalog.get("cos"))), "1.5", "0.1", dps=15)
    assert fp.slope.value < 0 and "|V'(q*)|" in fp.notes["xi_q"] and "oscillat" in fp.notes["xi_q"]


def test_printing_a_result_shows_its_digits_and_the_error_covers_them():
    fp = fixed_point(compile_laws(derive(catalog.get("erf"))), "2", "0.05", dps=40)
    assert str(fp.q_star.value) == str(fp.q_star) and len(str(fp.q_star).replace("0.", "", 1)) == 40
    text, err = fp.q_star.printed()
    with mpmath.workdps(80):
        # the error printed in JSON covers the rounding of the printed 40 digits
        assert mpmath.mpf(fp.q_star.to_json()["error"]) >= abs(mpmath.mpf(text) - fp.q_star.value)
        assert mpmath.mpf(fp.q_star.to_json()["error"]) >= err
