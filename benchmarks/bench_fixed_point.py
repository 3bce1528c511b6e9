"""Benchmark: 50-digit q* and chi_1 for tanh at (sigma_w2, sigma_b2) = (2.25, 0.05).

Engine (``fixed_point``: float64 start, Newton with the exact derivative, nested trapezoid
with shared node sweeps, higher-precision check) against a naive baseline run side by side
in the same process: ``mpmath.quad`` over the real line for every Gaussian integral and
``mpmath.findroot`` (secant, no derivative) from q = 1. Both results are compared digit by
digit; the ratio of the median times is printed.

Run: ``python benchmarks/bench_fixed_point.py [--repeat N]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import mpmath

from neurodyn.numerics import compile_laws, fixed_point
from neurodyn.theory import catalog, derive

DPS = 50
SW2, SB2 = "2.25", "0.05"


def naive():
    with mpmath.workdps(DPS + 10):
        sw2, sb2 = mpmath.mpf(SW2), mpmath.mpf(SB2)

        def gauss(f, q):
            s = mpmath.sqrt(q)
            return mpmath.quad(lambda z: f(s * z) * mpmath.npdf(z), [-mpmath.inf, mpmath.inf])

        def residual(q):
            return sw2 * gauss(lambda t: mpmath.tanh(t) ** 2, q) + sb2 - q

        q_star = mpmath.findroot(residual, mpmath.mpf(1), solver="secant", tol=mpmath.mpf(10) ** (-2 * DPS))
        chi_1 = sw2 * gauss(lambda t: mpmath.sech(t) ** 4, q_star)
        return q_star, chi_1


def engine(compiled):
    fp = fixed_point(compiled, SW2, SB2, dps=DPS)
    return fp.value, fp.chi_1.value


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    t_setup, compiled = timed(lambda: compile_laws(derive(catalog.get("tanh"))))
    t_cold, _ = timed(engine, compiled)
    engine_times, naive_times = [], []
    for _ in range(args.repeat):                      # interleaved, same process
        t, (q_e, c_e) = timed(engine, compiled)
        engine_times.append(t)
        t, (q_n, c_n) = timed(naive)
        naive_times.append(t)
    with mpmath.workdps(DPS + 10):
        dq = abs(q_e - q_n) / q_n
        dc = abs(c_e - c_n) / c_n
    te, tn = statistics.median(engine_times), statistics.median(naive_times)
    print(f"tanh, sigma_w2={SW2}, sigma_b2={SB2}, {DPS} digits")
    print(f"  q*    = {mpmath.nstr(q_e, DPS)}")
    print(f"  chi_1 = {mpmath.nstr(c_e, DPS)}")
    print(f"  engine vs naive: relative gap q* {mpmath.nstr(dq, 2)}, chi_1 {mpmath.nstr(dc, 2)}")
    print(f"  derive + compile (once)  : {t_setup:8.4f} s")
    print(f"  engine, first call       : {t_cold:8.4f} s")
    print(f"  engine, median of {args.repeat}      : {te:8.4f} s")
    print(f"  naive,  median of {args.repeat}      : {tn:8.4f} s")
    print(f"  ratio naive/engine       : {tn / te:8.1f}x  (first call: {tn / t_cold:.1f}x, "
          f"with derive+compile: {tn / (t_cold + t_setup):.1f}x)")
    if dq > mpmath.mpf(10) ** -DPS or dc > mpmath.mpf(10) ** -DPS:
        raise SystemExit("engine and naive baseline disagree")


if __name__ == "__main__":
    main()
