"""Benchmark: deep iteration at a marginal fixed point, 30 digits, engine against the plain loop.

Two cases of docs/theory.md §7.3: tanh's q-map at (sigma_w2, sigma_b2) = (1, 0) from q0 = 1 (the
exact map is the compiled law, a quadrature per layer) and ReLU's normalised c-map from c0 = 0
(a closed form). The engine (:func:`neurodyn.numerics.deep.iterate_marginal`: exact map until its
local series is exact to working precision, confirmed there, then the series in integer fixed-point
arithmetic) runs side by side in the same process with a plain layer-by-layer mpmath loop of the
exact map at the same working precision (dps + 10 digits). Both go to the same depth (where the
plain loop is feasible) and are compared digit by digit; the engine then runs to 10^6 layers, and
its time is set against the plain loop's time per layer times 10^6, with and without the jumps
(``jumps=False``: the series one layer at a time).

Run: ``python benchmarks/bench_deep.py [--plain-tanh N] [--plain-relu N] [--deep N]``
"""

from __future__ import annotations

import argparse
import math
import time
from fractions import Fraction

import mpmath
import sympy

from neurodyn.numerics import compile_laws
from neurodyn.numerics.deep import extrapolate, iterate_marginal
from neurodyn.theory import catalog, derive

DPS = 30


def tanh_series(N=40):
    """q' - q = sum_n a_n (2n-1)!! q^n, a_n the x^(2n) coefficient of tanh^2 (from T' = 1 - T^2)."""
    t = [Fraction(0)] * (2 * N + 4)
    for n in range(2 * N + 2):
        t[n + 1] = (Fraction(n == 0) - sum(t[i] * t[n - i] for i in range(n + 1))) / (n + 1)
    tanh2 = [Fraction(k == 0) - (k + 1) * t[k + 1] for k in range(2 * N + 1)]
    return [(n, tanh2[2 * n] * math.prod(range(1, 2 * n, 2))) for n in range(2, N + 1)]


def relu_series(M=40):
    """eps' - eps in powers of t = sqrt(eps) (acos(1 - t^2) = 2 asin(t / sqrt 2), binomial series)."""
    def a(n):
        return Fraction(math.factorial(2 * n), 4 ** n * math.factorial(n) ** 2 * (2 * n + 1)) if n >= 0 else 0
    out = []
    for m in range(1, M):
        b = math.prod(Fraction(1, 2) - i for i in range(m)) / math.factorial(m)
        r = a(m) / 2 ** m - a(m - 1) / 2 ** (m - 1) - b * Fraction(-1, 2) ** m
        out.append((Fraction(2 * m + 1, 2), sympy.sqrt(2) / sympy.pi * sympy.Rational(r.numerator, r.denominator)))
    return out


def relu_c(c):
    return (mpmath.sqrt(1 - c ** 2) + (mpmath.pi - mpmath.acos(c)) * c) / mpmath.pi


def plain(F, x0, layers, dps=DPS + 10):
    """The baseline: x -> F(x), one layer at a time, at the engine's working precision."""
    with mpmath.workdps(dps):
        x = mpmath.mpf(x0)
        for _ in range(layers):
            x = F(x)
            x = x.value if hasattr(x, "value") else x
        return x


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def case(name, F, x0, xs, side, series, exponent, exact, plain_layers, deep, reference=False):
    kw = dict(dps=DPS, fixed_point=xs, side=side, series=series)
    t_plain, x_plain = timed(plain, F, x0, plain_layers)
    t_short, short = timed(iterate_marginal, F, x0, plain_layers, **kw)
    t_deep, run = timed(iterate_marginal, F, x0, deep, **kw)
    t_single, single = timed(iterate_marginal, F, x0, deep, jumps=False, **kw)
    with mpmath.workdps(DPS + 10):
        y_plain = (x_plain - xs) * side
        gap = abs(short.samples[-1].y - y_plain) / y_plain
        gap_single = max(abs(a.y - b.y) / b.y for a, b in zip(run.samples, single.samples) if b.y)
    ls, ys = run.column("y")
    fit = extrapolate(ls, ys, exponent, exact=exact)
    if reference:              # which of the two is right: the plain loop with twice the digits
        with mpmath.workdps(2 * DPS + 10):
            y_ref = (plain(F, x0, plain_layers, 2 * DPS + 10) - xs) * side
            ref = (f"; against the plain loop at {2 * DPS + 10} digits: "
                   f"plain {mpmath.nstr(abs(y_plain - y_ref) / y_ref, 2)}, "
                   f"engine {mpmath.nstr(abs(short.samples[-1].y - y_ref) / y_ref, 2)} (its error estimate "
                   f"{mpmath.nstr(short.samples[-1].error / y_ref, 2)})")
    per_layer = t_plain / plain_layers
    print(f"{name}, {DPS} digits")
    print(f"  {run.notes[-1]}")
    print(f"  depth {plain_layers}: plain loop {t_plain:9.3f} s ({per_layer * 1e6:8.1f} us/layer), "
          f"engine {t_short:7.3f} s, ratio {t_plain / t_short:7.1f}x, relative gap {mpmath.nstr(gap, 2)}"
          + (ref if reference else ""))
    print(f"  depth {deep}: engine {t_deep:7.3f} s (exact phase {run.seconds['exact']:.3f} s, series phase "
          f"{run.seconds['series']:.3f} s; {run.notes[0]})")
    print(f"  depth {deep}: engine one layer at a time (jumps=False) {t_single:7.3f} s (series phase "
          f"{single.seconds['series'] / deep * 1e6:.2f} us/layer); largest relative gap to the jumps "
          f"{mpmath.nstr(gap_single, 2)}")
    print(f"  depth {deep}: plain loop projected {per_layer * deep:9.1f} s; ratio plain/engine "
          f"{per_layer * deep / t_deep:8.1f}x (one layer at a time: {per_layer * deep / t_single:.1f}x)")
    print(f"  y at {deep}: {mpmath.nstr(run.samples[-1].y, DPS)} (error estimate "
          f"{mpmath.nstr(run.samples[-1].error, 2)})")
    print(f"  extrapolated constant {mpmath.nstr(fit.value, 25)} +- {mpmath.nstr(fit.error, 2)}; exact "
          f"{exact} agrees to {fit.digits:.1f} digits")
    if gap > mpmath.mpf(10) ** -DPS or gap_single > mpmath.mpf(10) ** -DPS:
        raise SystemExit(f"{name}: engine and plain loop disagree")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plain-tanh", type=int, default=1000, help="plain-loop depth for tanh (quadrature)")
    parser.add_argument("--plain-relu", type=int, default=10000, help="plain-loop depth for ReLU (closed form)")
    parser.add_argument("--deep", type=int, default=10 ** 6)
    args = parser.parse_args()
    t_setup, f = timed(lambda: compile_laws(derive(catalog.get("tanh"))))
    print(f"derive + compile tanh (once): {t_setup:.3f} s")
    case("tanh q-map at (1, 0), q0 = 1", lambda q: f.q_map(q, 1, 0, dps=DPS + 10), 1, 0, 1, tanh_series(),
         1, "1/2", args.plain_tanh, args.deep)
    case("ReLU c-map at (2, 0), c0 = 0", relu_c, 0, 1, -1, relu_series(), 2, 9 * sympy.pi ** 2 / 2,
         args.plain_relu, args.deep, reference=True)


if __name__ == "__main__":
    main()
