"""Benchmark: c* for tanh at (sigma_w2, sigma_b2) = (2.25, 0.05) at 50 and 100 digits.

The engine's two-input quadrature against the code it replaced (commit 2f90bd4, vendored
unchanged under ``benchmarks/baseline/``), run side by side in the same process on the same
q*: the same Newton polish and check (``correlation_fixed_point``) with the baseline's
``BivariateBundle``/``expect2_mp`` swapped in. Prints both times, their ratio and the
agreement of the two c* values against their error estimates.

Run: ``python benchmarks/bench_c_star.py [--dps 50 100]``  (the baseline takes ~1 min at 100 digits)
"""

from __future__ import annotations

import argparse
import contextlib
import pathlib
import sys
import time

import mpmath

from neurodyn.numerics import compile as compile_module
from neurodyn.numerics import compile_laws, fixed_point
from neurodyn.numerics.criticality import correlation_fixed_point
from neurodyn.theory import catalog, derive

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from baseline import quadrature2d as baseline2d  # noqa: E402

SW2, SB2 = "2.25", "0.05"


@contextlib.contextmanager
def baseline_quadrature(compiled):
    """Swap the baseline's bivariate bundles and ``expect2_mp`` into ``compiled``."""
    saved = [(g, g.bundle) for g in compiled._groups if len(g.key) == 3]
    function = compile_module.expect2_mp
    try:
        for g, bundle in saved:
            g.bundle = baseline2d.BivariateBundle(bundle.pairs)
        compile_module.expect2_mp = baseline2d.expect2_mp
        yield
    finally:
        compile_module.expect2_mp = function
        for g, bundle in saved:
            g.bundle = bundle


def timed_c_star(compiled, fp):
    start = time.perf_counter()
    out = correlation_fixed_point(compiled, fp)
    return out.c_star, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dps", type=int, nargs="+", default=[50, 100])
    args = parser.parse_args()
    for dps in args.dps:
        engine = compile_laws(derive(catalog.get("tanh")))
        old = compile_laws(derive(catalog.get("tanh")))
        fp = fixed_point(engine, SW2, SB2, dps=dps, two_input=False)
        new_c, t_new = timed_c_star(engine, fp)
        with baseline_quadrature(old):
            old_c, t_old = timed_c_star(old, fp)
        with mpmath.workdps(dps + 20):
            gap = abs(new_c.value - old_c.value)
            agree = gap <= new_c.error + old_c.error
        print(f"c* of tanh at ({SW2}, {SB2}), {dps} digits")
        print(f"    engine   {t_new:7.2f} s  c* = {mpmath.nstr(new_c.value, dps)}  (error estimate {mpmath.nstr(new_c.error, 2)})")
        print(f"    baseline {t_old:7.2f} s  c* = {mpmath.nstr(old_c.value, dps)}  (error estimate {mpmath.nstr(old_c.error, 2)})")
        print(f"    speed-up {t_old / t_new:.1f}x; |difference| = {mpmath.nstr(gap, 2)}, "
              f"{'within' if agree else 'OUTSIDE'} the sum of the error estimates")


if __name__ == "__main__":
    main()
