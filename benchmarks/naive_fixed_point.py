"""The naive baseline of issue 9's start-up goal: q* of tanh at (2.25, 0.05) with plain mpmath.

``mp.quad`` of the Gaussian integral on the real line and a secant ``findroot``, at 55 digits;
prints q* to 50 digits. benchmarks/bench_startup.py times this script, as a whole process,
against ``neurodyn fixed-point tanh --sigma-w2 2.25 --sigma-b2 0.05 --dps 50 --single-input``.

Run: ``python benchmarks/naive_fixed_point.py``
"""
from mpmath import mp

mp.dps = 55
sw2, sb2 = mp.mpf("2.25"), mp.mpf("0.05")
V = lambda q: sw2 * mp.quad(lambda z: mp.tanh(mp.sqrt(q) * z) ** 2 * mp.npdf(z), [-mp.inf, mp.inf]) + sb2
q_star = mp.findroot(lambda q: V(q) - q, mp.mpf(1), solver="secant")
print(mp.nstr(q_star, 50))
