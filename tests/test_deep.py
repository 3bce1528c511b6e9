"""Deep iteration near marginal fixed points (numerics/deep.py) and the extrapolation of the rates.

Expected values are independent of the engine: the exact constants are the closed forms of
docs/theory.md §7.3 (``1/2`` for tanh's q at (1, 0), ``1`` and ``-1/3`` for sin, ``9 pi^2/2`` for
ReLU's c); the local series are computed here from scratch (tanh's Taylor coefficients from
``T' = 1 - T^2`` in exact fractions with the Gaussian moments ``(2n-1)!!``; sin's from the closed
form ``(1 - exp(-2q))/2``; ReLU's from the arcsin and binomial series); plain layer-by-layer mpmath
iteration of the exact map (``series=None``) is the reference for the series phase.
"""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import pytest
import sympy

from neurodyn.numerics.compile import compile_laws
from neurodyn.numerics.deep import Driven, default_samples, extrapolate, iterate_marginal
from neurodyn.numerics.results import ParameterError
from neurodyn.theory import catalog, derive
from neurodyn.theory.errors import ConvergenceError


# ------------------------------------------------------------------ independent series
def _double_factorial(n):
    """(2n-1)!! = E[z^(2n)]."""
    out = 1
    for k in range(1, 2 * n, 2):
        out *= k
    return out


def _tanh_taylor(order):
    """Taylor coefficients of tanh up to x^order, from T' = 1 - T^2, T(0) = 0 (exact)."""
    t = [Fraction(0)] * (order + 2)
    for n in range(order + 1):
        t[n + 1] = (Fraction(n == 0) - sum(t[i] * t[n - i] for i in range(n + 1))) / (n + 1)
    return t


def tanh_series(N=40):
    """q' - q for tanh at (1, 0): E[tanh(sqrt(q) z)^2] - q = sum_n a_n (2n-1)!! q^n, and chi_1(q) likewise."""
    t = _tanh_taylor(2 * N + 2)
    sech2 = [(k + 1) * t[k + 1] for k in range(2 * N + 1)]            # T' = sech^2
    tanh2 = [Fraction(k == 0) - sech2[k] for k in range(2 * N + 1)]
    sech4 = [sum(sech2[i] * sech2[k - i] for i in range(k + 1)) for k in range(2 * N + 1)]
    q_map = [(n, tanh2[2 * n] * _double_factorial(n)) for n in range(2, N + 1)]
    chi_1 = [(n, sech4[2 * n] * _double_factorial(n)) for n in range(0, N + 1)]
    assert q_map[:2] == [(2, -2), (3, Fraction(17, 3))] and chi_1[:2] == [(0, 1), (1, -2)]
    return q_map, chi_1


def sin_q(q):
    return -mpmath.expm1(-2 * q) / 2            # (1 - exp(-2q))/2 without cancellation


def sin_chi_1(q):
    return (1 + mpmath.exp(-2 * q)) / 2


def sin_series(N=30):
    """q' - q = -sum_{n>=2} (-2q)^n/(2 n!) and chi_1 = 1 + sum_{n>=1} (-2q)^n/(2 n!)."""
    q_map = [(n, Fraction(-(-2) ** n, 2 * math.factorial(n))) for n in range(2, N)]
    chi_1 = [(0, 1)] + [(n, Fraction((-2) ** n, 2 * math.factorial(n))) for n in range(1, N)]
    return q_map, chi_1


def relu_c(c):
    return (mpmath.sqrt(1 - c ** 2) + (mpmath.pi - mpmath.acos(c)) * c) / mpmath.pi


def relu_series(M=40):
    """eps' - eps for the normalised ReLU c-map, eps = 1 - c = t^2: with acos(1 - t^2) = 2 asin(t/sqrt 2),
    eps' - eps = (sqrt 2/pi) sum_m [a_m 2^-m - a_(m-1) 2^(1-m) - binom(1/2, m) (-1/2)^m] t^(2m+1)."""
    def a(n):          # asin x = sum a_n x^(2n+1)
        return Fraction(math.factorial(2 * n), 4 ** n * math.factorial(n) ** 2 * (2 * n + 1)) if n >= 0 else 0

    def binom_half(m):
        out = Fraction(1)
        for i in range(m):
            out *= (Fraction(1, 2) - i) / (i + 1)
        return out

    out = []
    for m in range(1, M):
        r = a(m) / 2 ** m - a(m - 1) / 2 ** (m - 1) - binom_half(m) * Fraction(-1, 2) ** m
        out.append((Fraction(2 * m + 1, 2), sympy.sqrt(2) / sympy.pi * sympy.Rational(r.numerator, r.denominator)))
    assert out[0][1] == -2 * sympy.sqrt(2) / (3 * sympy.pi)            # docs/theory.md §7.3
    return out


@pytest.fixture(scope="module")
def tanh_laws():
    return compile_laws(derive(catalog.get("tanh")))


def _tanh_maps(f, dps):
    return (lambda q: f.q_map(q, 1, 0, dps=dps + 10)), (lambda q: f.chi_1(q, 1, 0, dps=dps + 10))


def _rel(a, b):
    return abs(a - b) / abs(b)


# ------------------------------------------------------------------ the rates
def test_sin_q_constant_and_log_correction():
    """sin at (1, 0): q_l ~ 1/l - (1/3) ln l / l^2 (for y' = y - a y^2 + b y^3 the ln l / l^2 coefficient is
    -(a^2 - b)/a^3; here a = 1, b = 2/3)."""
    q_map, _ = sin_series()
    run = iterate_marginal(sin_q, 1, 20000, dps=30, fixed_point=0, side=1, series=q_map)
    assert run.switch.confirmed and run.switch.agreement < mpmath.mpf(10) ** -30
    ls, ys = run.column("y")
    fit = extrapolate(ls, ys, 1, form="log", exact=1)
    assert fit.digits >= 12
    assert abs(fit.value - 1) <= fit.error                     # the error estimate covers the true error
    assert abs(fit.coefficient(1, 1) + mpmath.mpf(1) / 3) < 1e-8


def test_relu_c_constant():
    """ReLU's normalised c-map from c0 = 0: l^2 (1 - c_l) -> 9 pi^2 / 2 (a half-integer series: eps^(3/2))."""
    run = iterate_marginal(relu_c, 0, 10000, dps=30, fixed_point=1, side=-1, series=relu_series())
    assert run.switch.confirmed
    # docs/theory.md §7.3: l^2 (1 - c_l) = 35.77, 43.13, 44.25 at l = 10^2, 10^3, 10^4
    assert [round(float(run.at(l).y * l ** 2), 2) for l in (100, 1000, 10000)] == [35.77, 43.13, 44.25]
    ls, ys = run.column("y")
    fit = extrapolate(ls, ys, 2, form="log", exact=9 * sympy.pi ** 2 / 2)
    assert fit.digits >= 10 and abs(fit.value - 9 * mpmath.pi ** 2 / 2) <= fit.error


@pytest.mark.slow
def test_tanh_q_and_metric(tanh_laws):
    """tanh at (1, 0) from q0 = 1 (the exact map by quadrature): l q_l -> 1/2 with the next term
    +(5/24) ln l / l (-(a^2 - b)/a^3 with a = 2, b = 17/3); the metric g' = chi_1(q) g driven by it decays
    as C l^-1, C (not universal) the same from two precisions."""
    q_map, chi_1 = tanh_series(60)          # more terms: the switch comes earlier (fewer quadratures)
    fits = []
    for dps in (30, 40):
        F, G = _tanh_maps(tanh_laws, dps)
        run = iterate_marginal(F, 1, 10000, dps=dps, fixed_point=0, side=1, series=q_map,
                               samples=default_samples(10000) + [5000],
                               driven={"metric": Driven(1, G, gain_series=chi_1)})
        assert run.switch.confirmed and 0 < run.switch.layer < 200
        assert run.switch.driven["metric"] < mpmath.mpf(10) ** -dps
        ls, ys = run.column("y")
        fit = extrapolate(ls, ys, 1, form="log", exact=Fraction(1, 2))
        assert fit.digits >= 12 and abs(fit.value - mpmath.mpf(1) / 2) <= fit.error
        assert abs(fit.coefficient(1, 1) - mpmath.mpf(5) / 24) < 1e-7
        ls, zs = run.column("metric")
        z1, z2 = run.at(5000).driven["metric"][0], run.at(10000).driven["metric"][0]
        assert abs(mpmath.log(z2 / z1) / mpmath.log(2) + 1) < 1e-3          # the local exponent is -1
        fits.append(extrapolate(ls, zs, 1, form="log"))
    assert fits[0].value_digits() >= 10
    assert abs(fits[0].value - fits[1].value) <= fits[0].error + fits[1].error


# ------------------------------------------------------------------ the series phase against the plain loop
@pytest.mark.slow
@pytest.mark.parametrize("case", ["sin", "relu"])
def test_series_agrees_with_plain_iteration(case):
    """Over 10^4 layers the series phase reproduces plain layer-by-layer mpmath iteration of the exact
    map to working precision (and within the reported error estimates), driven quantities included."""
    if case == "sin":
        q_map, chi_1 = sin_series()
        F, x0, xs, side, series = sin_q, 1, 0, 1, q_map
        # a driven quantity with a source: z' = chi_1(q) z + q
        driven = {"z": Driven("0.5", sin_chi_1, source=lambda q: q, gain_series=chi_1, source_series=[(1, 1), (2, 0)])}
    else:
        F, x0, xs, side, series = relu_c, 0, 1, -1, relu_series()
        driven = {}
    samples = [0, 7, 100, 1234, 5000, 10000]
    fast = iterate_marginal(F, x0, 10000, dps=30, fixed_point=xs, side=side, series=series, samples=samples,
                            driven=driven)
    plain = iterate_marginal(F, x0, 10000, dps=30, fixed_point=xs, side=side, samples=samples,
                             driven={k: Driven(d.z0, d.gain, d.source) for k, d in driven.items()})
    assert fast.switch is not None and fast.switch.layer < 100 and plain.switch is None
    assert fast.seconds["series"] > 0 and plain.seconds["series"] == 0
    for a, b in zip(fast.samples, plain.samples):
        assert a.l == b.l
        if a.y != b.y:
            assert _rel(a.y, b.y) < mpmath.mpf(10) ** -30
            assert abs(a.y - b.y) <= a.error + b.error
        for name in driven:
            (za, ea), (zb, eb) = a.driven[name], b.driven[name]
            assert _rel(za, zb) < mpmath.mpf(10) ** -30 and abs(za - zb) <= ea + eb


@pytest.mark.parametrize("case", ["sin-driven", "relu"])
def test_jumps_agree_with_single_layers(case):
    """The composed 2^k-layer series (jumps) give the same samples as one layer at a time, to working
    precision and within the error estimates (a driven quantity with a source included)."""
    if case == "relu":
        kw = dict(F=relu_c, x0=0, fixed_point=1, side=-1, series=relu_series())
    else:
        q_map, chi_1 = sin_series()
        kw = dict(F=sin_q, x0=1, fixed_point=0, side=1, series=q_map,
                  driven={"metric": Driven(1, sin_chi_1, gain_series=chi_1),
                          "z": Driven("0.5", sin_chi_1, source=lambda q: q, gain_series=chi_1,
                                      source_series=[(1, 1), (2, 0)])})
    F, x0 = kw.pop("F"), kw.pop("x0")
    runs = [iterate_marginal(F, x0, 100000, dps=30, jumps=j, **kw) for j in (True, False)]
    assert "jumps of 2^k layers covering" in runs[0].notes[0]
    assert int(runs[0].notes[0].split("covering ")[1].split()[0]) > 90000          # most layers were jumped
    for a, b in zip(*(r.samples for r in runs)):
        assert a.l == b.l
        assert _rel(a.y, b.y) < mpmath.mpf(10) ** -30 and abs(a.y - b.y) <= a.error + b.error
        for name in a.driven:
            (za, ea), (zb, eb) = a.driven[name], b.driven[name]
            assert _rel(za, zb) < mpmath.mpf(10) ** -30 and abs(za - zb) <= ea + eb


def test_rerun_at_higher_precision_agrees():
    """The 30-digit run agrees with a 45-digit rerun to 30 digits, within its error estimate."""
    runs = [iterate_marginal(relu_c, 0, 30000, dps=d, fixed_point=1, side=-1, series=relu_series(50))
            for d in (30, 45)]
    assert runs[1].switch.layer > runs[0].switch.layer          # the tighter tolerance switches later
    for a, b in zip(*(r.samples for r in runs)):
        assert a.l == b.l
        assert abs(a.y - b.y) <= a.error + b.error
        if a.l:
            assert _rel(a.y, b.y) < mpmath.mpf(10) ** -30


def test_start_near_the_fixed_point_error_is_honest():
    """From c0 = 1 - 10^-12 the 40-digit start and the exact map (sqrt(1 - c^2) cancels) carry a relative
    error of ~1e-28 in y = 1 - c: the switch is confirmed to the map's own accuracy, and the error
    estimates cover the gap to a 50-digit rerun."""
    runs = [iterate_marginal(relu_c, "0.999999999999", 1000, dps=d, fixed_point=1, side=-1, series=relu_series(),
                             samples=[0, 1, 10, 1000]) for d in (30, 50)]
    assert runs[0].switch.confirmed and runs[0].switch.tolerance > mpmath.mpf(10) ** -30
    assert "within the exact map's own accuracy" in runs[0].switch.describe()
    gaps = []
    for a, b in zip(*(r.samples for r in runs)):
        gaps.append(_rel(a.y, b.y))
        assert abs(a.y - b.y) <= a.error + b.error
    assert max(gaps) > mpmath.mpf(10) ** -31            # the error is real, not an artefact of the test


# ------------------------------------------------------------------ the switch can fail, bad input
def test_wrong_series_is_not_confirmed():
    """A series with a wrong coefficient (q^3 off by 1e-20) never passes the confirmation."""
    q_map, _ = sin_series()
    wrong = [(p, c + Fraction(1, 10 ** 20) if p == 3 else c) for p, c in q_map]
    with pytest.raises(ConvergenceError, match="could not take over"):
        iterate_marginal(sin_q, 1, 5000, dps=30, fixed_point=0, side=1, series=wrong, max_exact=300)
    run = iterate_marginal(sin_q, 1, 300, dps=30, fixed_point=0, side=1, series=wrong)
    assert run.switch is None and any("not confirmed" in n for n in run.notes)


def test_repelling_series_never_switches():
    """A series whose leading term pushes y away (x' = x + x^2, not an approach) is never used."""
    run = iterate_marginal(lambda x: x + x ** 2, "0.001", 50, dps=30, fixed_point=0, side=1,
                           series=[(2, 1), (3, 0)])
    assert run.switch is None and run.notes == ["no switch to the series: the exact map was iterated at every layer"]


@pytest.mark.parametrize("kwargs, match", [
    (dict(side=0), "side"),
    (dict(series=[(1, -1)]), "power 1 must be > 1"),
    (dict(series=[(2.5, -1)]), "rational"),
    (dict(series=[(2, -1), (2, 3)]), "twice"),
    (dict(layers=0), "layers"),
    (dict(dps=0), "dps"),
    (dict(samples=[5, 10 ** 6]), "samples"),
])
def test_bad_input(kwargs, match):
    args = dict(layers=100, dps=20, fixed_point=0, side=1)
    args.update(kwargs)
    layers = args.pop("layers")
    with pytest.raises(ValueError, match=match):
        iterate_marginal(sin_q, 1, layers, **args)


# ------------------------------------------------------------------ extrapolate on known sequences
def test_extrapolate_known_log_sequence():
    """A sequence with known terms: C = 2, and the error estimate covers the true error."""
    with mpmath.workdps(40):
        ls = default_samples(10 ** 5)
        ys = [None if l == 0 else (2 + 3 * mpmath.log(l) / l - mpmath.mpf(5) / l + 7 * mpmath.log(l) ** 2 / l ** 2)
              / l ** mpmath.mpf(1.5) for l in ls]
        ls, ys = zip(*[(l, y) for l, y in zip(ls, ys) if y is not None])
        fit = extrapolate(ls, ys, Fraction(3, 2), form="log", orders=3, exact=2)
        assert fit.digits > 20 and abs(fit.coefficient(1, 1) - 3) < 1e-15 and abs(fit.coefficient(2, 2) - 7) < 1e-10
        # one order too few for a sequence with l^-3 and l^-4 terms: less accurate, and the estimate says so
        ys2 = [y + mpmath.mpf(11) / l ** 4.5 for l, y in zip(ls, ys)]
        fit2 = extrapolate(ls, ys2, Fraction(3, 2), form="log", orders=2, exact=2)
        assert fit2.digits < fit.digits and abs(fit2.value - 2) <= fit2.error
        power = extrapolate(ls, [3 / mpmath.mpf(l) ** 2 + 5 / mpmath.mpf(l) ** 3 for l in ls], 2, form="power",
                            exact=3)
        assert power.digits > 25


def test_growing_driven_quantity():
    """Growth: z' = (1 + q^2) z + 1 along the sine q-map (q ~ 1/l): z_l = sum_k prod_(k<j<l) (1 + q_j^2) + ...
    ~ l (the products tend to 1 for large k), so the slope lim z_l / l is exactly 1 (negative exponent in
    extrapolate); jumps and single layers agree while z grows by 10^5 (its integer is rescaled)."""
    q_map, _ = sin_series()
    driven = {"z": Driven(1, lambda q: 1 + q ** 2, source=lambda q: 1, gain_series=[(0, 1), (2, 1), (3, 0)],
                          source_series=[(0, 1), (1, 0)])}
    runs = [iterate_marginal(sin_q, 1, 100000, dps=30, fixed_point=0, side=1, series=q_map, driven=driven,
                             jumps=j) for j in (True, False)]
    for a, b in zip(*(r.samples for r in runs)):
        (za, ea), (zb, eb) = a.driven["z"], b.driven["z"]
        assert _rel(za, zb) < mpmath.mpf(10) ** -30 and abs(za - zb) <= ea + eb
    slope = extrapolate(*runs[0].column("z"), -1, exact=1)
    assert slope.digits >= 12 and abs(slope.value - 1) <= slope.error


def test_extrapolate_bad_input():
    with pytest.raises(ParameterError, match="form"):
        extrapolate([10, 20], [1, 2], 1, form="exp")
    with pytest.raises(ParameterError, match="too few"):
        extrapolate([10, 20, 40], [1, 2, 3], 1)


# ------------------------------------------------------------------ 10^6 layers
@pytest.mark.slow
def test_deep_million_layers(tanh_laws):
    """10^6 layers at 30 digits: the three constants to >= 15 digits, the metric's C consistent with the
    10^4-layer value."""
    q_map, chi_1 = tanh_series()
    F, G = _tanh_maps(tanh_laws, 30)
    run = iterate_marginal(F, 1, 10 ** 6, dps=30, fixed_point=0, side=1, series=q_map,
                           driven={"metric": Driven(1, G, gain_series=chi_1)})
    ls, ys = run.column("y")
    assert extrapolate(ls, ys, 1, exact=Fraction(1, 2)).digits >= 15
    ls, zs = run.column("metric")
    deep = extrapolate(ls, zs, 1)
    short = extrapolate(*zip(*[(l, z) for l, z in zip(ls, zs) if l <= 10000]), 1)
    assert deep.value_digits() >= 15 and abs(deep.value - short.value) <= deep.error + short.error
    run = iterate_marginal(relu_c, 0, 10 ** 6, dps=30, fixed_point=1, side=-1, series=relu_series())
    assert extrapolate(*run.column("y"), 2, exact=9 * sympy.pi ** 2 / 2).digits >= 15
    run = iterate_marginal(sin_q, 1, 10 ** 6, dps=30, fixed_point=0, side=1, series=sin_series()[0])
    fit = extrapolate(*run.column("y"), 1, exact=1)
    assert fit.digits >= 15 and abs(fit.coefficient(1, 1) + mpmath.mpf(1) / 3) < 1e-12
