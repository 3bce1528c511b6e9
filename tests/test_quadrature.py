"""The quadrature kernels against independent mpmath.quad computations (the maps of docs/theory.md §2 and §3).

Every expected value here is computed in the test by plain (nested) ``mpmath.quad`` at a
higher precision than the engine's, never taken from the engine's own output.
"""

from __future__ import annotations

import gc
import time
import weakref

import mpmath
import pytest
import sympy

from neurodyn.numerics import compile_laws, fixed_point
from neurodyn.numerics.quadrature import IntegrandBundle, expect_mp
from neurodyn.numerics.quadrature2d import BivariateBundle, expect2_mp
from neurodyn.theory import catalog, derive
from neurodyn.theory.errors import NeurodynError
from neurodyn.theory.symbols import x

TANH = sympy.tanh(x)
DTANH = 1 - sympy.tanh(x) ** 2
# max(0, x) - max(0, x - 1)/2: kinks at 0 and 1
KINKED = sympy.Piecewise((0, x < 0), (x, x < 1), (x / 2 + sympy.Rational(1, 2), True))
DKINKED = sympy.Piecewise((0, x < 0), (1, x < 1), (sympy.Rational(1, 2), True))


def nested_reference(f, g, v11, v12, v22, dps, f_kinks=(), g_kinks=()):
    """E[f(u1) g(u2)] by nested mpmath.quad: u1 = s1 z1, u2 = a z1 + b z2, split at every kink."""
    with mpmath.workdps(dps):
        v11, v12, v22 = (mpmath.mpf(v) for v in (v11, v12, v22))
        s1 = mpmath.sqrt(v11)
        a = v12 / s1
        b = mpmath.sqrt(v22 - a * a)
        F = sympy.lambdify(x, f, "mpmath")
        G = sympy.lambdify(x, g, "mpmath")
        inf = mpmath.inf

        def inner(z1):
            # the kinks in z2 plus 0 and +-12 (so that no piece is a long interval with the
            # Gaussian bump somewhere inside it, which tanh-sinh could miss)
            cuts = {mpmath.mpf(t) for t in (-12, 0, 12)} | {(k - a * z1) / b for k in g_kinks}
            cuts = sorted(t for t in cuts if -12 <= t <= 12)
            return mpmath.quad(lambda z2: G(a * z1 + b * z2) * mpmath.npdf(z2), [-inf, *cuts, inf])

        outer = {mpmath.mpf(t) for t in (-12, 0, 12)} | {k / s1 for k in f_kinks} | {k / a for k in g_kinks}
        outer = sorted(t for t in outer if -12 <= t <= 12)
        return mpmath.quad(lambda z1: F(s1 * z1) * inner(z1) * mpmath.npdf(z1), [-inf, *outer, inf])


@pytest.mark.slow
@pytest.mark.parametrize("f, g, cov", [
    (TANH, TANH, ("0.8", "0.4536", "0.8")),                 # c* region of tanh at (2.25, 0.05)
    (DTANH, DTANH, ("0.8", "0.4536", "0.8")),
    (TANH, x * TANH, ("0.7", "0.3", "1.3")),                # unequal variances, no symmetry
    (TANH, TANH, ("2", "-1.7", "2")),                       # strong negative correlation
])
def test_smooth_two_input_against_nested_quad(f, g, cov):
    ref = nested_reference(f, g, *cov, dps=20)
    for dps in (6, 10):
        (val,), (err,) = expect2_mp(BivariateBundle([(f, g)]), *cov, dps=dps)
        with mpmath.workdps(40):
            assert abs(val - ref) <= err, (dps, val, ref, err)        # the estimate covers the error
            assert err <= mpmath.mpf(10) ** -dps


@pytest.mark.slow
def test_kinked_near_one_is_fast_and_correct():
    # c ~ 0.9995 at q* of the kinked activation at (3, 0.1) (issue 8 §4): minutes before
    v = mpmath.mpf("1.6347446128038")
    c = mpmath.mpf("0.9995")
    bundle = BivariateBundle([(KINKED, KINKED), (DKINKED, DKINKED)])
    start = time.perf_counter()
    vals, errs = expect2_mp(bundle, v, c * v, v, dps=15)
    elapsed = time.perf_counter() - start
    refs = [nested_reference(f, g, v, c * v, v, dps=28, f_kinks=(0, 1), g_kinks=(0, 1))
            for f, g in bundle.pairs]
    with mpmath.workdps(40):
        for val, err, ref in zip(vals, errs, refs):
            assert abs(val - ref) <= err and err <= mpmath.mpf(10) ** -15
    assert elapsed < 20, elapsed


@pytest.mark.slow
def test_tanh_at_huge_weight_variance():
    # issue 9: tanh at sigma_w2 = 1e4 failed with "the integrand does not decay fast enough"
    f = compile_laws(derive(catalog.get("tanh")))
    fp = fixed_point(f, "1e4", "0.05", dps=20, two_input=False)
    with mpmath.workdps(35):
        sw2, sb2 = mpmath.mpf("1e4"), mpmath.mpf("0.05")

        def gauss(h, q):
            s = mpmath.sqrt(q)
            pts = [-mpmath.inf, -10 / s, -1 / s, 0, 1 / s, 10 / s, mpmath.inf]
            return mpmath.quad(lambda z: h(s * z) * mpmath.npdf(z), pts)

        q_ref = mpmath.findroot(lambda q: sw2 * gauss(lambda u: mpmath.tanh(u) ** 2, q) + sb2 - q,
                                mpmath.mpf(9900))
        chi_ref = sw2 * gauss(lambda u: mpmath.sech(u) ** 4, q_ref)
        assert abs(fp.value - q_ref) <= fp.error
        chi = f.chi_1(q_ref, "1e4", "0.05", dps=20)          # the quadrature at the reference q*
        assert abs(chi.value - chi_ref) <= chi.error <= mpmath.mpf(10) ** -20 * chi_ref
        assert fp.error <= mpmath.mpf(10) ** -20 * q_ref


def test_bundles_are_garbage_collected():
    one = IntegrandBundle([TANH ** 2])
    expect_mp(one, "0.5", 15)
    two = BivariateBundle([(TANH, TANH)])
    expect2_mp(two, "0.8", "0.4", "0.8", 15)
    refs = [weakref.ref(one), weakref.ref(two)]
    del one, two
    gc.collect()
    assert all(r() is None for r in refs)


def test_invalid_covariances_raise_project_errors():
    with pytest.raises(NeurodynError):
        expect_mp(IntegrandBundle([TANH ** 2]), -1, 15)
    with pytest.raises(NeurodynError):
        expect2_mp(BivariateBundle([(TANH, TANH)]), 1, 2, 1, 15)


@pytest.mark.parametrize("dps", [5, 8, 12, 16, 20, 30])
def test_one_input_error_estimate_covers_true_error(dps):
    # the level-error model with its factor 10 (quadrature.level_error) against the truth
    v = mpmath.mpf("2.5")
    with mpmath.workdps(60):
        ref = mpmath.quad(lambda z: mpmath.tanh(mpmath.sqrt(v) * z) ** 2 * mpmath.npdf(z),
                          [-mpmath.inf, 0, mpmath.inf])
    (val,), (err,) = expect_mp(IntegrandBundle([TANH ** 2]), v, dps)
    with mpmath.workdps(60):
        assert abs(val - ref) <= err <= mpmath.mpf(10) ** -dps


def test_float64_expectations_of_many_variances_use_bounded_memory():
    """issue 9: the phase diagram peaked at 1.2 GB (one node array per variance, all at once)."""
    import tracemalloc

    import numpy as np

    from cache import compiled

    f = compiled("tanh")
    qs = np.geomspace(1e-9, 1e5, 4001)
    f.evaluate(["q_map", "chi_1"], qs[:10], 1.0, 0.0)        # compile outside the measurement
    tracemalloc.start()
    try:
        out = f.evaluate(["q_map", "chi_1"], qs, 1.0, 0.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out["q_map"].shape == qs.shape and np.all(np.isfinite(out["chi_1"]))
    assert peak < 200 * 2**20, f"{peak / 2**20:.0f} MiB"


def test_float64_two_input_arrays_of_mixed_lengths_are_as_accurate_as_single_points():
    """An array mixing lengths q went to a 96-point Gauss-Legendre rule (error 6e-6 at q = 3, c = 0.9)."""
    import numpy as np
    import sympy

    from neurodyn.numerics.quadrature2d import BivariateBundle, expect2_np
    from neurodyn.theory.symbols import x

    bundle = BivariateBundle([(sympy.tanh(x), sympy.tanh(x)), (1 - sympy.tanh(x)**2, 1 - sympy.tanh(x)**2)])
    q = np.array([0.5, 1.0, 3.0, 3.0])
    q12 = np.array([0.45, 0.9, 2.7, -1.5])
    vals, errs = expect2_np(bundle, q, q12, q)
    for i in range(q.size):
        one, _ = expect2_np(bundle, q[i], q12[i], q[i])
        assert np.allclose(vals[:, i], one, rtol=0, atol=1e-13), (i, vals[:, i] - one)


@pytest.mark.slow
def test_float64_two_input_error_estimate_covers_the_true_error():
    """Mehler's float64 error estimate claimed 5e-16 where the error was 1.6e-13 (cancelling terms)."""
    import mpmath
    import numpy as np
    import sympy

    from neurodyn.numerics.quadrature2d import BivariateBundle, expect2_np
    from neurodyn.theory.symbols import x

    bundle = BivariateBundle([(sympy.tanh(x), sympy.tanh(x))])
    vals, errs = expect2_np(bundle, np.array([0.5, 3.0]), np.array([0.45, 2.7]), np.array([0.5, 3.0]))
    # against a plain nested mpmath.quad at q = 3, c = 0.9
    with mpmath.workdps(20):
        s, c = mpmath.sqrt(3), mpmath.mpf("0.9")
        inner = lambda z1: mpmath.quad(lambda z2: mpmath.tanh(s * (c * z1 + mpmath.sqrt(1 - c**2) * z2))
                                       * mpmath.npdf(z2), [-mpmath.inf, 0, mpmath.inf])
        ref = mpmath.quad(lambda z1: mpmath.tanh(s * z1) * inner(z1) * mpmath.npdf(z1), [-mpmath.inf, 0, mpmath.inf])
    assert abs(vals[0, 1] - float(ref)) <= errs[0, 1]


# ---------------------------------------------------------------------------------------------
# every two-input kernel computes in the mpmath context it is given (issue 7: kernels against a context)
# ---------------------------------------------------------------------------------------------
_KERNEL_CASES = {
    # smooth, equal variances, |rho| <= 0.15: Mehler's series
    "mehler": ([(x**3, x**3 - x), (sympy.tanh(x), sympy.tanh(x))], ("1.3", "0.12", "1.3")),
    # smooth, |rho| < 1: the lattice
    "lattice": ([(sympy.tanh(x), sympy.tanh(x))], ("1.3", "0.7", "0.9")),
    # smooth, sqrt(1 - rho^2) < 1/64: the grid along the conditional variable
    "grid": ([(sympy.tanh(x), sympy.tanh(x))], ("1", "0.99995", "1")),
    # kinked, the inner expectation in closed form (ReLU)
    "kinked, closed inner": ([(sympy.Max(0, x), sympy.Max(0, x))], ("1.3", "0.7", "0.9")),
    # kinked, the inner expectation by Gauss-Legendre on its pieces
    "kinked, quadrature inner": ([(sympy.Max(0, x), sympy.Max(0, x) * sympy.tanh(x))], ("1.3", "0.7", "0.9")),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", [pytest.param(name, marks=pytest.mark.slow) if name == "kinked, quadrature inner"
                                  else name for name in _KERNEL_CASES])       # that one takes ~15 s
def test_two_input_kernels_compute_in_their_context_and_leave_the_global_precision(case):
    """Run with another mpmath context while mpmath.mp is at 6 digits: the values are the
    context's numbers, agree with the default context's to 30 digits, and neither
    mpmath.mp's precision nor the context's own is changed."""
    pairs, cov = _KERNEL_CASES[case]
    bundle = BivariateBundle(pairs)
    expected, expected_err = expect2_mp(bundle, *cov, dps=30)
    ctx = mpmath.MPContext()
    mpmath.mp.dps = 6                                   # restored after the test by conftest
    values, errors = expect2_mp(bundle, *cov, dps=30, ctx=ctx)
    assert mpmath.mp.dps == 6 and ctx.dps == 15
    assert all(isinstance(v, ctx.mpf) for v in values + errors)
    with mpmath.workdps(40):
        for got, want, err in zip(values, expected, expected_err):
            assert abs(mpmath.mpf(got) - want) <= 2 * err + mpmath.mpf(10) ** -30 * abs(want)
