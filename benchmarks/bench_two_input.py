"""Benchmarks of the two-input numerics, each against a baseline run side by side.

(a) 30-digit c* for tanh at (sigma_w2, sigma_b2) = (2.25, 0.05): the engine
    (``fixed_point(..., two_input=True)``: trapezoid rule on a lattice in the standardized variables,
    Newton with the exact slope chi_c, higher-precision check) against a naive
    baseline: q* by mpmath.quad + secant, then c* by ``mpmath.findroot`` (secant) on
    the c-map computed with 2-D ``mpmath.quad`` over the plane.
(b) float64 c-map of tanh at 10^4 values of c: the engine (Mehler series with
    Hermite coefficients computed once) against a plain numpy Gauss-Hermite tensor
    rule of degree 50; both against a 30-digit reference at 101 of the points.

Run: ``python benchmarks/bench_two_input.py [--part a|b|both]``  (part a takes minutes:
the naive baseline needs one 2-D mpmath.quad of about a minute per secant step).
"""

from __future__ import annotations

import argparse
import time

import mpmath
import numpy as np

from neurodyn.numerics import compile_laws, fixed_point
from neurodyn.theory import catalog, derive

SW2, SB2 = "2.25", "0.05"


def naive_c_star(dps=30):
    with mpmath.workdps(dps + 10):
        sw2, sb2 = mpmath.mpf(SW2), mpmath.mpf(SB2)
        e1 = lambda q: mpmath.quad(lambda z: mpmath.tanh(mpmath.sqrt(q) * z) ** 2 * mpmath.npdf(z),
                                   [-mpmath.inf, mpmath.inf])
        q_star = mpmath.findroot(lambda q: sw2 * e1(q) + sb2 - q, mpmath.mpf(1), solver="secant")
        s = mpmath.sqrt(q_star)

        def c_map(c):
            a, b = c * s, s * mpmath.sqrt(1 - c * c)
            e2 = mpmath.quad(lambda z1, z2: mpmath.tanh(s * z1) * mpmath.tanh(a * z1 + b * z2)
                             * mpmath.npdf(z1) * mpmath.npdf(z2),
                             [-mpmath.inf, mpmath.inf], [-mpmath.inf, mpmath.inf])
            return (sw2 * e2 + sb2) / q_star

        return mpmath.findroot(lambda c: c_map(c) - c, mpmath.mpf("0.5"), solver="secant",
                               tol=mpmath.mpf(10) ** (-2 * dps))


def part_a():
    compiled = compile_laws(derive(catalog.get("tanh")))
    start = time.perf_counter()
    fp = fixed_point(compiled, SW2, SB2, dps=30, two_input=True)
    t_engine = time.perf_counter() - start
    start = time.perf_counter()
    c_naive = naive_c_star()
    t_naive = time.perf_counter() - start
    with mpmath.workdps(40):
        gap = abs(fp.c_star.value - c_naive)
    print("(a) 30-digit c* for tanh at (2.25, 0.05)")
    print(f"    engine c* = {fp.c_star}  (+- {fp.c_star.to_json()['error']}), {t_engine:.2f} s")
    print(f"    naive  c* = {mpmath.nstr(c_naive, 30)}, {t_naive:.1f} s")
    print(f"    gap {mpmath.nstr(gap, 2)}; ratio naive/engine {t_naive / t_engine:.0f}x")


def gauss_hermite_cmap(cs, q_star, sw2, sb2, degree=50):
    z, w = np.polynomial.hermite_e.hermegauss(degree)
    w = w / np.sqrt(2 * np.pi)
    s = np.sqrt(q_star)
    out = np.empty_like(cs)
    for i, c in enumerate(cs):
        u1 = s * z[:, None]
        u2 = s * (c * z[:, None] + np.sqrt(max(1 - c * c, 0.0)) * z[None, :])
        out[i] = (sw2 * np.sum(w[:, None] * w[None, :] * np.tanh(u1) * np.tanh(u2)) + sb2) / q_star
    return out


def part_b():
    compiled = compile_laws(derive(catalog.get("tanh")))
    fp = fixed_point(compiled, SW2, SB2, dps=30)
    q_star = float(fp.value)
    cs = np.linspace(-1, 1, 10_000)
    point = dict(c=cs, q_star=q_star, sigma_w2=SW2, sigma_b2=SB2)
    compiled.evaluate_at(["c_map"], point)                 # warm the Hermite coefficients once
    start = time.perf_counter()
    engine = compiled.evaluate_at(["c_map"], point)["c_map"]
    t_engine = time.perf_counter() - start
    start = time.perf_counter()
    gh = gauss_hermite_cmap(cs, q_star, float(SW2), float(SB2))
    t_gh = time.perf_counter() - start
    idx = np.linspace(0, cs.size - 1, 101).astype(int)
    start = time.perf_counter()
    ref = np.array([float(compiled.evaluate_at(["c_map"], dict(point, c=float(cs[i]), q_star=fp.value),
                                                dps=30)["c_map"].value) for i in idx])
    t_ref = time.perf_counter() - start
    err_engine = np.max(np.abs(engine[idx] - ref))
    err_gh = np.max(np.abs(gh[idx] - ref))
    print("(b) float64 c-map of tanh at 10^4 values of c in [-1, 1]")
    print(f"    engine (Mehler)          : {t_engine:.4f} s, max error {err_engine:.1e}")
    print(f"    Gauss-Hermite tensor, 50 : {t_gh:.4f} s, max error {err_gh:.1e}")
    print(f"    time ratio GH/engine {t_gh / t_engine:.1f}x; error ratio GH/engine {err_gh / max(err_engine, 1e-300):.1e}")
    print(f"    (30-digit reference at {idx.size} points took {t_ref:.1f} s)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("a", "b", "both"), default="both")
    args = parser.parse_args()
    if args.part in ("b", "both"):
        part_b()
    if args.part in ("a", "both"):
        part_a()


if __name__ == "__main__":
    main()
