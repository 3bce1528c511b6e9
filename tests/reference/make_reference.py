"""Independent high-precision reference data for neurodyn's mean-field tests.

What is computed
----------------
For a deep random network with pre-activation variance map (mean-field
convention, z ~ N(0, 1), E_z[f] = int f(z) exp(-z^2/2) / sqrt(2 pi) dz)

    V(q)    = sigma_w2 * E_z[phi(sqrt(q) z)^2] + sigma_b2,

each case records

    q_star  the stable fixed point V(q*) = q*,
    chi_1   = sigma_w2 * E_z[phi'(sqrt(q*) z)^2],
    chi_2   = sigma_w2 * E_z[phi''(sqrt(q*) z)^2]   (null when phi'' has a
              delta, i.e. relu and leaky_relu),
    chi_par = V'(q*) = chi_1 + sigma_w2 * E_z[(phi phi'')(sqrt(q*) z)]
              (relu / leaky_relu: chi_par = chi_1, the delta term vanishes
              because phi(0) = 0),
    xi_q    = -1 / ln(chi_par).

Method
------
* Gaussian expectations: ``mpmath.quad`` (tanh-sinh / double-exponential
  quadrature) over [-inf, 0, inf], i.e. the two half-lines are integrated
  separately, so kinks of piecewise activations (relu, leaky_relu, elu) sit on
  an endpoint where tanh-sinh is insensitive to them.  Far in the tails, where
  exp(-z^2/2) < 10^-(2*dps+20), the integrand is set to zero (this is many
  hundreds of orders of magnitude below the working precision and only avoids
  evaluating e.g. sin(10^100)).
* Fixed points: a float-precision starting value from 200 plain iterations
  q <- V(q) starting at q = 1, then ``mpmath.findroot`` with the derivative
  free secant solver on V(q) - q.
* Derivatives phi', phi'' are written by hand and checked against
  ``mpmath.diff`` (numerical differentiation) at several points.
* Everything is computed twice, at 80 and at 100 significant digits; the two
  runs must agree to at least 55 significant digits and only 50 significant
  digits are written.  Additional assertions: closed forms where they exist
  (relu, leaky_relu, erf, sin, elu), chi_par also computed from the Stein /
  integration-by-parts form  V'(q) = sigma_w2 E[phi phi'(sqrt(q) z) z]/sqrt(q),
  and published 12-digit values for tanh, erf and relu.

Why this is independent of neurodyn
-----------------------------------
It does not import neurodyn and shares no code with it.  neurodyn's engine uses
nested trapezoid quadrature and Newton iterations (with derivatives); here the
integrals use adaptive tanh-sinh quadrature in arbitrary precision and the
root finder is the derivative-free secant method, so agreement between the two
is a genuine cross-check.  Only mpmath and the Python standard library are
used.

New keys (two_input_cases, critical_cases, attractor_cases, large_sigma_cases)
------------------------------------------------------------------------------
Same independence rules (no neurodyn import; activation strings are matched
literally against a fixed table, never parsed or evaluated).  Conventions:
C(c) = (sigma_w2 E[phi(u1) phi(u2)] + sigma_b2)/q*, u's N(0, q*) with correlation
c; chi_c(c) = sigma_w2 E[phi'(u1) phi'(u2)]; xi_c = -1/ln chi_c(c*); c* = 1 when
chi_1 < 1, otherwise the first root of C(c) = c above 0 (C is increasing with
C(0) >= 0, so this is the limit of iterating C from c = 0).

* E[f(u1) f(u2)]: product Gauss-Legendre rule on the (u1, u2) plane, each axis
  cut at the kinks and at +-(0.5, 1.5, 3, 6) sqrt(q) (tanh, checked against
  tensor Gauss-Hermite; softsign), outer tanh-sinh in z1 times the
  closed-form inner Gaussian integral of a piecewise lin/exp activation (relu,
  selu, the kinked case; checked against the product rule at c = 0.3), closed
  kernels for erf (arcsine, checked against Gauss-Hermite) and relu
  (arc-cosine, checked against the piecewise quadrature).
* Critical points: every root of sigma_b2(q) = q - E[phi^2]/E[phi'^2] equal to
  the requested sigma_b2 over q in (1e-8, 1e6) (sign changes on a grid, then
  Illinois), classified by V'(q*) < 1 and by whether iterating V from q0 = 1
  reaches it; the saddle-nodes of the q-map at that sigma_b2 (V = q, V' = 1)
  are found the same way.
* Every entry is computed in two runs that differ in precision and quadrature
  resolution (RUNS) and stored to the digits on which they agree ("digits").

Usage
-----
    python tests/reference/make_reference.py [--new-only]

writes ``fixed_points.json`` next to this file (``--new-only`` keeps the stored
"cases" and recomputes only the new keys; REFERENCE_CACHE=dir keeps per-case
results of the new keys between runs).  The two precisions run in two
processes.  Measured runtime (2 cores shared with ~10 other busy processes,
load average 9-11, so each run had roughly 15-40 % of a core): new keys
(--new-only, no cache) 930 s wall (run 0: 802 s, run 1: 930 s, in parallel;
slowest pieces: critical gelu 197/248 s, the kinked two-input case 88/130 s,
tanh two-input 62/94 s with the product rule); the full script with the new
keys taken from REFERENCE_CACHE (i.e. the "cases" part at 80/100 digits) took
96 s wall (load average ~4) and rewrote the same file byte for byte.  On an idle machine all of it fits well within
20 minutes of one core.
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import mpmath
from mpmath import mp, mpf

OUT_DIGITS = 50  # significant digits written to the JSON file
AGREE_DIGITS = 55  # required agreement between the two precision runs
RUN_DPS = (80, 100)  # working precisions (decimal digits)
START_ITERATIONS = 200  # plain iterations q <- V(q) for the float start value

OUT_PATH = Path(__file__).resolve().parent / "fixed_points.json"

# Activation strings of the new keys: a fixed table, matched literally (never parsed/eval'd).
KINKED = "max(0,x) - 0.5*max(0,x-1)"
TANH_CUBE = "tanh(x^3)"
CUBIC = "x^3/3 + x"
# SELU constants (Klambauer et al. 2017), as decimal strings
SELU_ALPHA = "1.6732632423543772848170429916717"
SELU_LAMBDA = "1.0507009873554804934193349852946"

# (activation, params, sigma_w2, sigma_b2); all numbers as exact decimal strings.
CASES = [
    ("tanh", {}, "2.25", "0.05"),
    ("tanh", {}, "1.69", "0.09"),
    ("tanh", {}, "6.25", "0.09"),
    ("erf", {}, "2", "0.05"),
    ("erf", {}, "0.5", "0.05"),
    ("relu", {}, "1.5", "0.1"),
    ("sin", {}, "1.5", "0.1"),
    ("gelu", {}, "1.5", "0.05"),
    ("softplus", {}, "1.2", "0.1"),
    ("mish", {}, "1.5", "0.05"),
    ("silu", {}, "2.0", "0.05"),
    ("elu", {"alpha": "1"}, "1.5", "0.1"),
    ("leaky_relu", {"alpha": "0.1"}, "1.8", "0.1"),
]

# Published values (12 significant digits) that the results must reproduce,
# keyed by (activation, sigma_w2, sigma_b2).  Compared after rounding.
SANITY = {
    ("tanh", "2.25", "0.05"): {
        "q_star": "0.889424917282",
        "chi_1": "1.09233792949",
        "chi_2": "0.690305288261",
        "chi_par": "0.455863623024",
        "xi_q": "1.27297466827",
    },
    ("tanh", "1.69", "0.09"): {"q_star": "0.607046791909"},
    ("erf", "2", "0.05"): {"q_star": "0.965954812593", "chi_1": "1.15465276706"},
    ("relu", "1.5", "0.1"): {"q_star": "0.4"},
}

QUANTITIES = ("q_star", "chi_1", "chi_2", "chi_par", "xi_q")


# --------------------------------------------------------------------------
# Activations with hand-written derivatives.
# Must be called *after* mp.dps is set: parameters are converted from their
# decimal strings at the current working precision.
# --------------------------------------------------------------------------
def make_activation(name, params):
    """Return (phi, dphi, d2phi) for the current mp precision.

    d2phi is None when phi'' contains a Dirac delta (relu, leaky_relu).
    """
    one = mpf(1)
    if name == "tanh":
        def phi(x):
            return mp.tanh(x)

        def dphi(x):
            return mp.sech(x) ** 2

        def d2phi(x):
            return -2 * mp.tanh(x) * mp.sech(x) ** 2

    elif name == "erf":
        c = 2 / mp.sqrt(mp.pi)

        def phi(x):
            return mp.erf(x)

        def dphi(x):
            return c * mp.exp(-x * x)

        def d2phi(x):
            return -2 * c * x * mp.exp(-x * x)

    elif name == "relu":
        def phi(x):
            return x if x > 0 else mp.zero

        def dphi(x):
            return one if x > 0 else mp.zero

        d2phi = None

    elif name == "leaky_relu":
        alpha = mpf(params["alpha"])

        def phi(x):
            return x if x > 0 else alpha * x

        def dphi(x):
            return one if x > 0 else alpha

        d2phi = None

    elif name == "elu":
        alpha = mpf(params["alpha"])

        def phi(x):
            return x if x > 0 else alpha * mp.expm1(x)

        def dphi(x):
            return one if x > 0 else alpha * mp.exp(x)

        def d2phi(x):
            return mp.zero if x > 0 else alpha * mp.exp(x)

    elif name == "sin":
        def phi(x):
            return mp.sin(x)

        def dphi(x):
            return mp.cos(x)

        def d2phi(x):
            return -mp.sin(x)

    elif name == "gelu":
        # gelu(x) = x * Phi(x), Phi(x) = (1 + erf(x/sqrt2))/2, Phi' = npdf
        rsqrt2 = 1 / mp.sqrt(2)
        rsqrt2pi = 1 / mp.sqrt(2 * mp.pi)

        def cdf(x):
            return (1 + mp.erf(x * rsqrt2)) / 2

        def pdf(x):
            return rsqrt2pi * mp.exp(-x * x / 2)

        def phi(x):
            return x * cdf(x)

        def dphi(x):
            return cdf(x) + x * pdf(x)

        def d2phi(x):
            return (2 - x * x) * pdf(x)

    elif name in ("softplus", "silu", "mish"):
        def sigmoid(x):
            return 1 / (1 + mp.exp(-x))

        def softplus(x):
            return mp.log1p(mp.exp(x))

        if name == "softplus":
            def phi(x):
                return softplus(x)

            def dphi(x):
                return sigmoid(x)

            def d2phi(x):
                s = sigmoid(x)
                return s * (1 - s)

        elif name == "silu":
            def phi(x):
                return x * sigmoid(x)

            def dphi(x):
                s = sigmoid(x)
                return s + x * s * (1 - s)

            def d2phi(x):
                s = sigmoid(x)
                return s * (1 - s) * (2 + x * (1 - 2 * s))

        else:  # mish(x) = x tanh(softplus(x)); with T = tanh(sp), s = sigmoid:
            # (tanh sp)' = (1 - T^2) s,  s' = s (1 - s),  (1 - T^2)' = -2 T (1 - T^2) s
            def phi(x):
                return x * mp.tanh(softplus(x))

            def dphi(x):
                sp = softplus(x)
                return mp.tanh(sp) + x * sigmoid(x) * mp.sech(sp) ** 2

            def d2phi(x):
                sp = softplus(x)
                t = mp.tanh(sp)
                sech2 = mp.sech(sp) ** 2
                s = sigmoid(x)
                return sech2 * s * (2 + x * (1 - s) - 2 * x * t * s)

    elif name == "sigmoid":
        def phi(x):
            return 1 / (1 + mp.exp(-x))

        def dphi(x):
            s = phi(x)
            return s * (1 - s)

        def d2phi(x):
            s = phi(x)
            return s * (1 - s) * (1 - 2 * s)

    elif name == "softsign":
        # x/(1+|x|) is C^1: phi'' jumps at 0 but has no delta
        def phi(x):
            return x / (1 + abs(x))

        def dphi(x):
            return 1 / (1 + abs(x)) ** 2

        def d2phi(x):
            return -2 * mp.sign(x) / (1 + abs(x)) ** 3

    elif name == "selu":
        alpha, lam = mpf(params.get("alpha", SELU_ALPHA)), mpf(params.get("lam", SELU_LAMBDA))

        def phi(x):
            return lam * x if x > 0 else lam * alpha * mp.expm1(x)

        def dphi(x):
            return lam if x > 0 else lam * alpha * mp.exp(x)

        d2phi = None  # phi' jumps at 0 (lam != lam*alpha): delta in phi''

    elif name == KINKED:
        half = one / 2

        def phi(x):
            return mp.zero if x <= 0 else (x if x <= 1 else half * x + half)

        def dphi(x):
            return mp.zero if x <= 0 else (one if x <= 1 else half)

        d2phi = None

    elif name == TANH_CUBE:
        def phi(x):
            return mp.tanh(x ** 3)

        def dphi(x):
            return 3 * x * x * mp.sech(x ** 3) ** 2

        def d2phi(x):
            x3 = x ** 3
            return mp.sech(x3) ** 2 * (6 * x - 18 * x ** 4 * mp.tanh(x3))

    elif name == CUBIC:
        def phi(x):
            return x ** 3 / 3 + x

        def dphi(x):
            return x * x + 1

        def d2phi(x):
            return 2 * x

    else:
        raise ValueError(f"unknown activation {name!r}")
    return phi, dphi, d2phi


def check_derivatives(name, phi, dphi, d2phi):
    """Assert the hand-written derivatives against mpmath.diff (away from 0)."""
    tol = mpf(10) ** (-(mp.dps - 20))
    for xs in ("-2.7", "-1.1", "-0.35", "0.4", "1.3", "3.2"):
        x = mpf(xs)
        pairs = [(dphi(x), mp.diff(phi, x), "phi'")]
        if d2phi is not None:
            pairs += [
                (d2phi(x), mp.diff(phi, x, 2), "phi''"),
                (d2phi(x), mp.diff(dphi, x), "(phi')'"),
            ]
        for exact, numeric, label in pairs:
            err = abs(exact - numeric)
            assert err <= tol * max(1, abs(exact)), (
                f"{name}: hand-written {label} disagrees with mpmath.diff at "
                f"x={xs}: {mp.nstr(exact, 20)} vs {mp.nstr(numeric, 20)}"
            )


# --------------------------------------------------------------------------
# Gaussian expectation by tanh-sinh quadrature
# --------------------------------------------------------------------------
_MAX_QUAD_ERR = [mpf(0)]  # largest relative quad error estimate seen in a run


def gauss_expect(g):
    """E_z[g(z)] for z ~ N(0,1), tanh-sinh quadrature split at 0."""
    zcut2 = 2 * (2 * mp.dps + 20) * mp.ln10  # exp(-z^2/2) < 10^-(2 dps + 20)

    def integrand(z):
        z2 = z * z
        if z2 > zcut2:
            return mp.zero
        return g(z) * mp.exp(-z2 / 2)

    val, err = mp.quad(integrand, [-mp.inf, 0, mp.inf], error=True)
    if val:
        _MAX_QUAD_ERR[0] = max(_MAX_QUAD_ERR[0], abs(err / val))
    return val / mp.sqrt(2 * mp.pi)


def variance_map(phi, sw2, sb2, q):
    s = mp.sqrt(q)
    return sw2 * gauss_expect(lambda z: phi(s * z) ** 2) + sb2


# --------------------------------------------------------------------------
# One case at the current precision
# --------------------------------------------------------------------------
def closed_forms(name, params, sw2, sb2, q):
    """Closed-form values (where known) used as an extra assertion."""
    if name == "relu":
        c = sw2 / 2
        return {"q_star": sb2 / (1 - c), "chi_1": c, "chi_par": c}
    if name == "leaky_relu":
        a = mpf(params["alpha"])
        c = sw2 * (1 + a * a) / 2
        return {"q_star": sb2 / (1 - c), "chi_1": c, "chi_par": c}
    if name == "erf":
        # E[erf(x)^2] = (2/pi) asin(2q/(1+2q)),  E[erf'(x)^2] = (4/pi)/sqrt(1+4q)
        return {
            "V(q*)": sw2 * 2 / mp.pi * mp.asin(2 * q / (1 + 2 * q)) + sb2,
            "chi_1": sw2 * 4 / mp.pi / mp.sqrt(1 + 4 * q),
            "chi_2": sw2 * 16 * q / (mp.pi * (1 + 4 * q) ** mpf(1.5)),
            "chi_par": sw2 * 4 / (mp.pi * (1 + 2 * q) * mp.sqrt(1 + 4 * q)),
        }
    if name == "elu":
        # With x = sqrt(q) z:  E[exp(k x); x < 0] = exp(k^2 q / 2) Phi(-k sqrt(q)),
        # and the x > 0 branch contributes q/2, 1/2, 0 to E[phi^2], E[phi'^2], E[phi''^2].
        a, s = mpf(params["alpha"]), mp.sqrt(q)

        def lower(k):
            return mp.exp(k * k * q / 2) * mp.erfc(k * s / mp.sqrt(2)) / 2

        e2, e1 = lower(2), lower(1)
        return {
            "V(q*)": sw2 * (q / 2 + a * a * (e2 - 2 * e1 + mpf(1) / 2)) + sb2,
            "chi_1": sw2 * (mpf(1) / 2 + a * a * e2),
            "chi_2": sw2 * a * a * e2,
            "chi_par": sw2 * (mpf(1) / 2 + a * a * (2 * e2 - e1)),
        }
    if name == "sin":
        e = mp.exp(-2 * q)
        return {
            "V(q*)": sw2 * (1 - e) / 2 + sb2,
            "chi_1": sw2 * (1 + e) / 2,
            "chi_2": sw2 * (1 - e) / 2,
            "chi_par": sw2 * e,
        }
    return {}


def rel_close(a, b, digits):
    return abs(a - b) <= mpf(10) ** (-digits) * max(abs(a), abs(b), mpf(10) ** (-digits))


def solve_case(name, params, sw2_s, sb2_s, q_start):
    """All quantities of one case at the current mp.dps (values are mpf)."""
    sw2, sb2 = mpf(sw2_s), mpf(sb2_s)
    phi, dphi, d2phi = make_activation(name, params)
    check_derivatives(name, phi, dphi, d2phi)

    q0 = mpf(q_start)
    q_star = mp.findroot(
        lambda q: variance_map(phi, sw2, sb2, q) - q,
        (q0, q0 * (1 + mpf("1e-7"))),
        solver="secant",
        tol=mpf(10) ** (-(mp.dps - 5)),
        maxsteps=60,
    )
    resid = variance_map(phi, sw2, sb2, q_star) - q_star
    assert abs(resid) < mpf(10) ** (-(mp.dps - 10)), f"{name}: residual {resid}"

    s = mp.sqrt(q_star)
    chi_1 = sw2 * gauss_expect(lambda z: dphi(s * z) ** 2)
    # Stein / integration by parts: V'(q) = sw2 E[phi phi'(s z) z] / s; valid
    # for all cases (also through the relu / leaky_relu kink).
    chi_par_stein = sw2 * gauss_expect(lambda z: phi(s * z) * dphi(s * z) * z) / s
    if d2phi is None:
        chi_2 = None
        chi_par = chi_1  # delta part of phi'' is multiplied by phi(0) = 0
    else:
        chi_2 = sw2 * gauss_expect(lambda z: d2phi(s * z) ** 2)
        chi_par = chi_1 + sw2 * gauss_expect(lambda z: phi(s * z) * d2phi(s * z))
    check = AGREE_DIGITS + 5
    assert rel_close(chi_par, chi_par_stein, check), (
        f"{name}: chi_par {mp.nstr(chi_par, 30)} != Stein form {mp.nstr(chi_par_stein, 30)}"
    )
    assert 0 < chi_par < 1, f"{name}: fixed point not stable, chi_par = {chi_par}"
    xi_q = -1 / mp.log(chi_par)

    values = {"q_star": q_star, "chi_1": chi_1, "chi_2": chi_2,
              "chi_par": chi_par, "xi_q": xi_q}
    for key, ref in closed_forms(name, params, sw2, sb2, q_star).items():
        got = q_star if key == "V(q*)" else values[key]
        assert rel_close(got, ref, check), (
            f"{name}: {key} {mp.nstr(got, 30)} != closed form {mp.nstr(ref, 30)}"
        )
    return values


def float_start(name, params, sw2_s, sb2_s):
    """Float-precision start value: plain iteration q <- V(q) from q = 1."""
    with mp.workdps(20):
        phi, _, _ = make_activation(name, params)
        sw2, sb2 = mpf(sw2_s), mpf(sb2_s)
        q = mpf(1)
        for _ in range(START_ITERATIONS):
            q = variance_map(phi, sw2, sb2, q)
        return float(q)


def run_at(dps, starts):
    """Solve all cases at `dps` digits; returns (results as strings, info)."""
    mp.dps = dps
    _MAX_QUAD_ERR[0] = mpf(0)
    t0 = time.perf_counter()
    out = []
    for (name, params, sw2_s, sb2_s), q_start in zip(CASES, starts):
        vals = solve_case(name, params, sw2_s, sb2_s, q_start)
        # pass values across the process boundary as long decimal strings
        out.append({k: (None if v is None else mp.nstr(v, dps - 5, min_fixed=-mp.inf,
                                                        max_fixed=mp.inf))
                    for k, v in vals.items()})
    assert _MAX_QUAD_ERR[0] < mpf(10) ** (-(AGREE_DIGITS + 5)), (
        f"quadrature error estimate {mp.nstr(_MAX_QUAD_ERR[0], 3)} too large at {dps} digits")
    return out, {"dps": dps, "seconds": time.perf_counter() - t0,
                 "max_rel_quad_err": mp.nstr(_MAX_QUAD_ERR[0], 3)}


# ==========================================================================
# New keys (tests/reference schema): two-input, critical, attractor and
# large-sigma cases.  Every number is computed in two independent runs
# (different working precision AND different quadrature resolution) and
# stored only to the significant digits on which the runs agree.
# ==========================================================================
KINKS = {"relu": (0,), "selu": (0,), "softsign": (0,), KINKED: (0, 1)}

# Piecewise activations for the closed-form inner integral: pieces
# (a, b, kind, A, B) meaning A*x + B ("lin") or A*exp(x) + B ("exp") on (a, b).
_INF = "inf"
PIECES = {
    "relu": ([("-inf", "0", "lin", "0", "0"), ("0", _INF, "lin", "1", "0")],
             [("-inf", "0", "lin", "0", "0"), ("0", _INF, "lin", "0", "1")]),
    KINKED: ([("-inf", "0", "lin", "0", "0"), ("0", "1", "lin", "1", "0"),
              ("1", _INF, "lin", "0.5", "0.5")],
             [("-inf", "0", "lin", "0", "0"), ("0", "1", "lin", "0", "1"),
              ("1", _INF, "lin", "0", "0.5")]),
    "selu": ([("-inf", "0", "exp", "L*A", "-L*A"), ("0", _INF, "lin", "L", "0")],
             [("-inf", "0", "exp", "L*A", "0"), ("0", _INF, "lin", "0", "L")]),
}


def _num(text):
    if text == "L*A":
        return mpf(SELU_LAMBDA) * mpf(SELU_ALPHA)
    if text == "-L*A":
        return -mpf(SELU_LAMBDA) * mpf(SELU_ALPHA)
    if text == "L":
        return mpf(SELU_LAMBDA)
    return mpf(text)  # "inf", "-inf" and plain decimals


def pieces(name, deriv):
    return [(_num(a), _num(b), kind, _num(A), _num(B))
            for a, b, kind, A, B in PIECES[name][1 if deriv else 0]]


def inner_piecewise(pcs, m, sig):
    """E_z[f(m + sig z)] in closed form for a piecewise lin/exp f (sig > 0)."""
    total = mp.zero
    for a, b, kind, A, B in pcs:
        al = (a - m) / sig if a != -mp.inf else -mp.inf
        be = (b - m) / sig if b != mp.inf else mp.inf
        # Phi(be) - Phi(al), written to avoid cancellation in the upper tail
        if al > 0:
            dphi_ = (mp.erfc(al / mp.sqrt(2)) - (mp.erfc(be / mp.sqrt(2)) if be != mp.inf else 0)) / 2
        else:
            dphi_ = ((mp.erfc(-be / mp.sqrt(2)) if be != mp.inf else 2)
                     - (mp.erfc(-al / mp.sqrt(2)) if al != -mp.inf else 0)) / 2
        if kind == "lin":
            pa = mp.npdf(al) if al != -mp.inf else mp.zero
            pb = mp.npdf(be) if be != mp.inf else mp.zero
            total += (A * m + B) * dphi_ + A * sig * (pa - pb)
        else:  # E[exp(m + sig z); al < z < be] = exp(m + sig^2/2) (Phi(be - sig) - Phi(al - sig))
            lo = al - sig if al != -mp.inf else -mp.inf
            hi = be - sig if be != mp.inf else mp.inf
            ncdf = (lambda t: mp.ncdf(t) if t not in (mp.inf, -mp.inf) else (1 if t > 0 else 0))
            total += A * mp.exp(m + sig * sig / 2) * (ncdf(hi) - ncdf(lo)) + B * dphi_
    return total


def expect(h, q, kinks=(0,)):
    """E_z[h(sqrt(q) z)] by tanh-sinh, split at the kinks (and at +-1/s, +-1 for large s)."""
    s = mp.sqrt(q)
    pts = {mp.zero} | {mpf(k) / s for k in kinks}
    if s > 1:
        pts |= {1 / s, -1 / s, mpf(1), mpf(-1)}
    zcut2 = 2 * (2 * mp.dps + 20) * mp.ln10

    def integrand(z):
        z2 = z * z
        if z2 > zcut2:
            return mp.zero
        return h(s * z) * mp.exp(-z2 / 2)

    return mp.quad(integrand, [-mp.inf] + sorted(pts) + [mp.inf]) / mp.sqrt(2 * mp.pi)


class Act:
    """An activation at the current precision with its 1-D Gaussian moments."""

    def __init__(self, name, params=None):
        self.name, self.params = name, dict(params or {})
        self.phi, self.dphi, self.d2phi = make_activation(name, self.params)
        self.kinks = KINKS.get(name, (0,))

    def E(self, what, q):
        f, g, h = self.phi, self.dphi, self.d2phi
        fn = {"phi2": lambda x: f(x) ** 2, "dphi2": lambda x: g(x) ** 2,
              "phid2phi": lambda x: f(x) * h(x), "d2phi2": lambda x: h(x) ** 2,
              "phi": f, "dphi": g}[what]
        return expect(fn, q, self.kinks)

    def dV_dq_over_sw2(self, q):
        """d/dq E[phi(sqrt q z)^2] = E[phi'^2] + E[phi phi''] (Stein form if phi'' has a delta)."""
        if self.d2phi is None:
            s = mp.sqrt(q)
            return expect(lambda x: self.phi(x) * self.dphi(x) * x, q, self.kinks) / q
        return self.E("dphi2", q) + self.E("phid2phi", q)


# ---------------- 1-D: fixed points -------------------------------------
def V(act, sw2, sb2, q):
    return sw2 * act.E("phi2", q) + sb2


def refine_root(fun, a, b):
    """Root of fun in the bracket [a, b] (sign change) by mpmath's Illinois solver."""
    tol = mpf(10) ** (-(mp.dps - 8))
    r = mp.findroot(fun, (mpf(a), mpf(b)), solver="illinois", tol=tol * max(1, abs(mpf(b))),
                    maxsteps=200, verify=False)
    return r


def log_grid(lo, hi, per_decade):
    n = int(round(per_decade * (mp.log10(hi) - mp.log10(lo))))
    return [mpf(lo) * (mpf(hi) / mpf(lo)) ** (mpf(i) / n) for i in range(n + 1)]


def roots_on_grid(fun, grid):
    """Brackets (a, b) where fun changes sign on the grid, plus the sampled values."""
    vals = [fun(g) for g in grid]
    br = [(grid[i], grid[i + 1]) for i in range(len(grid) - 1)
          if vals[i] == 0 or vals[i] * vals[i + 1] < 0]
    return br, vals


def all_fixed_points(act, sw2, sb2, brackets):
    out = []
    for a, b in brackets:
        q = refine_root(lambda q: V(act, sw2, sb2, q) - q, a, b)
        slope = sw2 * act.dV_dq_over_sw2(q)
        out.append((q, slope))
    return out


# ---------------- 2-D: E[f(u1) f(u2)] -------------------------------------
_GH = {}


def gh(n):
    """Gauss-Hermite rule for z ~ N(0,1): nodes sqrt2*x_i, weights w_i/sqrt(pi)."""
    key = (n, mp.prec)
    if key not in _GH:
        X, W = mp.gauss_quadrature(n, "hermite")
        _GH[key] = ([mp.sqrt(2) * x for x in X], [w / mp.sqrt(mp.pi) for w in W])
    return _GH[key]


_GL = {}


def gl(n):
    """Gauss-Legendre rule on [-1, 1]."""
    key = (n, mp.prec)
    if key not in _GL:
        _GL[key] = mp.gauss_quadrature(n, "legendre")
    return _GL[key]


def E2(act, q, c, deriv, method, n=None):
    """E[f(u1) f(u2)], u's N(0, q) with correlation c; f = phi or phi' (deriv)."""
    s, r = mp.sqrt(q), mp.sqrt(1 - c * c)
    f = act.dphi if deriv else act.phi
    if method == "gh":  # analytic f: tensor Gauss-Hermite, z2 inner
        Z, W = gh(n)
        total = mp.zero
        for zi, wi in zip(Z, W):
            m = s * c * zi
            total += wi * f(s * zi) * mp.fsum(wj * f(m + s * r * zj) for zj, wj in zip(Z, W))
        return total
    if method == "piecewise":  # closed-form inner integral, tanh-sinh outer split at kinks
        pcs = pieces(act.name, deriv)
        kinks = KINKS[act.name]
        pts = {mp.zero}
        for k in kinks:
            k = mpf(k)
            pts |= {k / s}
            if c != 0:
                for j in (0, 1, -1, 3, -3):
                    pts.add((k + j * s * r) / (s * c))
        zcut = mp.sqrt(2 * (2 * mp.dps + 20) * mp.ln10)
        pts = sorted(p for p in pts if abs(p) < zcut)

        def outer(z):
            fz = f(s * z)
            if fz == 0:
                return mp.zero
            return fz * inner_piecewise(pcs, s * c * z, s * r) * mp.npdf(z)

        return mp.quad(outer, [-zcut] + pts + [zcut])
    if method == "product":
        # product Gauss-Legendre rule in the (u1, u2) plane: each axis cut at the kinks and at
        # +-(0.5, 1.5, 3, 6) s, truncated where the Gaussian is below 10^-(2 dps + 20); the
        # integrand f(u1) f(u2) p_c(u1, u2) is analytic on every rectangle.
        L = s * mp.sqrt(2 * (2 * mp.dps + 20) * mp.ln10)
        cuts = {mpf(k) for k in KINKS.get(act.name, (0,))} | {mp.zero}
        for t in ("0.5", "1.5", "3", "6"):
            cuts |= {mpf(t) * s, -mpf(t) * s}
        cuts = sorted(x for x in cuts if abs(x) < L)
        edges = [-L] + cuts + [L]
        X, Wt = gl(n)
        U, WU = [], []
        for a, b in zip(edges, edges[1:]):
            half, mid = (b - a) / 2, (a + b) / 2
            U += [mid + half * x for x in X]
            WU += [half * w for w in Wt]
        den = q * r * r
        F = [f(u) * w * mp.exp(-u * u / (2 * den)) for u, w in zip(U, WU)]
        total = mp.zero
        for ui, Fi in zip(U, F):
            k = c * ui / den
            total += Fi * mp.fsum(Fj * mp.exp(k * uj) for uj, Fj in zip(U, F))
        return total / (2 * mp.pi * q * r)
    raise ValueError(method)


def closed_two_input(name, q, c, deriv):
    """Known closed forms (erf: arcsine kernel; relu: arc-cosine kernel)."""
    if name == "erf":
        if deriv:
            return 4 / mp.pi / mp.sqrt((1 + 2 * q) ** 2 - (2 * q * c) ** 2)
        return 2 / mp.pi * mp.asin(2 * q * c / (1 + 2 * q))
    if name == "relu":
        if deriv:
            return (mp.pi - mp.acos(c)) / (2 * mp.pi)
        return q / (2 * mp.pi) * (mp.sqrt(1 - c * c) + (mp.pi - mp.acos(c)) * c)
    return None


TWO_INPUT_METHOD = {"tanh": "product", "erf": "closed", "relu": "closed", "selu": "piecewise",
                    KINKED: "piecewise", "softsign": "product"}

# Per-run settings: run 0 and run 1 differ in working precision and in quadrature resolution.
RUNS = (
    {"dps1": 50, "dps2": 36, "prod_n": 48},
    {"dps1": 62, "dps2": 46, "prod_n": 64},
)
CAP_1D, CAP_2D = 45, 32
ODD = {"tanh", "erf", "softsign", "sin", TANH_CUBE, CUBIC}  # never claim more digits than these

TWO_INPUT_CASES = [
    ("tanh", {}, "2.25", "0.05"),
    ("tanh", {}, "1.5", "0"),
    ("tanh", {}, "0.8", "0"),
    ("erf", {}, "4", "0.1"),
    ("selu", {}, "1", "0"),
    (KINKED, {}, "3", "0.1"),
    ("softsign", {}, "4", "0.05"),
    ("relu", {}, "1.5", "0.1"),
]
CRITICAL_CASES = [("tanh", "0.05"), ("erf", "0.05"), ("gelu", "0.1"), ("softplus", "0.05"),
                  ("tanh", "0"), ("sigmoid", "0.05")]
ATTRACTOR_CASES = [(TANH_CUBE, "4", "0.05"), (CUBIC, "0.5", "0.05"), ("gelu", "2.07667619", "0.1")]
LARGE_SIGMA_CASES = [("tanh", "1e4", "0.05"), ("tanh", "3000", "0.05")]
Q_RANGE = ("1e-8", "1e6")
SCAN_DPS, SCAN_PER_DECADE = 16, 10


def s_(x):
    """Long decimal string (to pass values between processes)."""
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, list):
        return [s_(v) for v in x]
    if x != 0 and abs(x) < mpf("1e-6"):  # tiny values (selu's c*): exponent notation
        return mp.nstr(x, mp.dps)
    return mp.nstr(x, mp.dps, min_fixed=-mp.inf, max_fixed=mp.inf)


def stable_q_star(act, sw2, sb2):
    """q* reached by iterating V from q0 = 1, polished by secant (at the current dps)."""
    with mp.workdps(SCAN_DPS):
        a = Act(act.name, act.params)
        q = mpf(1)
        for _ in range(400):
            q_new = V(a, mpf(sw2), mpf(sb2), q)
            if abs(q_new - q) < mpf("1e-15") * q_new:
                q = q_new
                break
            q = q_new
        q0 = float(q)
    q0 = mpf(q0)
    return mp.findroot(lambda q: V(act, sw2, sb2, q) - q, (q0, q0 * (1 + mpf("1e-9"))),
                       solver="secant", tol=mpf(10) ** (-(mp.dps - 6)) * q0, maxsteps=80)


def two_input_case(name, params, sw2_s, sb2_s, run):
    cfg = RUNS[run]
    method = TWO_INPUT_METHOD[name]
    out = {}
    mp.dps = cfg["dps1"]
    act = Act(name, params)
    check_derivatives(name, act.phi, act.dphi, act.d2phi)
    sw2, sb2 = mpf(sw2_s), mpf(sb2_s)
    if name == "selu":  # E[phi] ~ 1e-32 at q* ~ 1 must be resolved: 40 more digits (1-D only)
        mp.dps = cfg["dps1"] + 40
        act = Act(name, params)
        sw2, sb2 = mpf(sw2_s), mpf(sb2_s)
    if sb2 == 0 and act.phi(mp.zero) == 0 and sw2 * act.dphi(mp.zero) ** 2 < 1 and name == "tanh":
        # tanh, sigma_b2 = 0, sigma_w2 < 1: V(q) <= sw2 q < q, so q* = 0 is the global attractor
        out.update(q_star="0", chi_1=s_(sw2), c_star="1", chi_c_star=s_(sw2),
                   xi_c=s_(-1 / mp.log(sw2)), phase="ordered")
        return out
    q = stable_q_star(act, sw2, sb2)
    chi_1 = sw2 * act.E("dphi2", q)
    out.update(q_star=s_(q), chi_1=s_(chi_1))
    if chi_1 < 1:
        out.update(c_star="1", chi_c_star=s_(chi_1), xi_c=s_(-1 / mp.log(chi_1)), phase="ordered")
        return out
    out["phase"] = "chaotic"
    if method == "closed":
        dps2 = cfg["dps1"]
    else:
        dps2 = cfg["dps2"]
    q_s = s_(q)

    def make_C(dps, n):
        def ee(qq, c, deriv):
            if method == "closed":
                return closed_two_input(name, qq, c, deriv)
            return E2(act2, qq, c, deriv, method, n)

        with mp.workdps(dps):
            act2 = Act(name, params)
        return ee, act2

    # bracket the first crossing of C(c) - c above c = 0 on a coarse grid (low resolution)
    with mp.workdps(18):
        ee, act2 = make_C(18, 16 if method == "product" else 70)
        qq = mpf(q_s)
        C = lambda c: (sw2 * ee(qq, c, False) + sb2) / qq  # noqa: E731
        if abs(C(mp.zero)) < mpf("1e-14"):
            c_bracket = None
        else:
            grid = [mpf(i) / 10 for i in range(10)] + [1 - mpf(10) ** (-k) for k in range(2, 8)]
            grid += [1 - mpf(5) * mpf(10) ** (-k) for k in range(2, 8)]
            grid = sorted(set(grid))
            c_bracket = None
            for a, b in zip(grid, grid[1:]):
                if (C(a) - a) * (C(b) - b) <= 0:
                    c_bracket = (a, b)
                    break
            assert c_bracket is not None, f"{name}: no crossing of C(c) - c below c = 1"
            c_low = refine_root(lambda c: C(c) - c, *c_bracket)  # 18-digit start value
            c_bracket = tuple(s_(x) for x in c_bracket)
            c_low = s_(c_low)
    with mp.workdps(dps2):
        qq, sw2b, sb2b = mpf(q_s), mpf(sw2_s), mpf(sb2_s)
        ee, act2 = make_C(dps2, cfg["prod_n"])
        if c_bracket is None:
            # C(0) = sw2 E[phi]^2 / q* is (near) zero: odd phi with sigma_b2 = 0 (C(0) = 0, c* = 0
            # exactly), or selu at its self-normalising point (E[phi] = O(10^-32) from the
            # 32-digit constants).  With the Mehler series C(c) = C(0) + chi_c(0) c + O(c^2),
            # chi_c(0) = sw2 E[phi']^2:  c* = C(0) / (1 - chi_c(0)) + O(c*^2), all 1-D.
            with mp.workdps(cfg["dps1"] + (40 if name == "selu" else 0)):
                chi_c = sw2 * act.E("dphi", q) ** 2
                if name in ODD and sb2 == 0:
                    out["c_star"] = "0"
                else:
                    c_star = sw2 * act.E("phi", q) ** 2 / q / (1 - chi_c)
                    assert c_star < mpf("1e-20")
                    out["c_star"] = s_(c_star)
                out["chi_c_star"] = s_(chi_c)
                out["xi_c"] = s_(-1 / mp.log(chi_c)) if chi_c < 1 else None
            return out
        else:
            C = lambda c: (sw2b * ee(qq, c, False) + sb2b) / qq  # noqa: E731
            c0 = mpf(c_low)
            c_star = mp.findroot(lambda c: C(c) - c, (c0, c0 + mpf("1e-12")),
                                 solver="secant", tol=mpf(10) ** (-(dps2 - 4)), maxsteps=30,
                                 verify=False)
            assert mpf(c_bracket[0]) <= c_star <= mpf(c_bracket[1]), f"{name}: c* left bracket"
            assert abs(C(c_star) - c_star) < mpf(10) ** (-(dps2 - 8)), f"{name}: c* residual"
            chi_c = sw2b * ee(qq, c_star, True)
            out["c_star"] = s_(c_star)
            if name == "relu":  # the closed form against the independent piecewise quadrature
                for deriv in (False, True):
                    a = closed_two_input(name, qq, c_star, deriv)
                    b = E2(act2, qq, c_star, deriv, "piecewise")
                    assert abs(a - b) < mpf(10) ** (-(dps2 - 10)), "relu kernel check"
            if name == "tanh":  # product rule against tensor Gauss-Hermite at 20 digits
                with mp.workdps(25):
                    a = E2(Act(name), qq, c_star, False, "product", 24)
                    b = E2(Act(name), qq, c_star, False, "gh", 120)
                    assert abs(a - b) < mpf("1e-12"), f"tanh kernel check {a} {b}"
            if method == "piecewise":  # closed-form inner against the product rule (c = 0.3)
                with mp.workdps(25):
                    for deriv in (False, True):
                        a = E2(Act(name), qq, mpf("0.3"), deriv, "piecewise")
                        b = E2(Act(name), qq, mpf("0.3"), deriv, "product", 30)
                        assert abs(a - b) < mpf("1e-18"), f"{name} kernel check {a} {b}"
            if name == "erf":  # closed form against tensor Gauss-Hermite at 20 digits
                with mp.workdps(25):
                    for deriv in (False, True):
                        a = closed_two_input(name, qq, c_star, deriv)
                        b = E2(Act(name), qq, c_star, deriv, "gh", 120)
                        assert abs(a - b) < mpf("1e-15"), f"erf kernel check {a} {b}"
        out["chi_c_star"] = s_(chi_c)
        out["xi_c"] = s_(-1 / mp.log(chi_c)) if chi_c < 1 else None
    out["_dps2"] = dps2
    return out


def critical_case(name, sb2_s, run):
    cfg = RUNS[run]
    mp.dps = cfg["dps1"]
    sb2 = mpf(sb2_s)
    act = Act(name)
    if act.d2phi is not None:
        check_derivatives(name, act.phi, act.dphi, act.d2phi)
    if name == "tanh" and sb2 == 0:
        # q* = 0: chi_1(0) = sw2 phi'(0)^2 = 1 gives sw2 = 1; V(q) = q - 2 q^2 + O(q^3) < q:
        # V'(0) = 1 (marginal to first order) but q* = 0 attracts every q0 > 0.
        with mp.workdps(SCAN_DPS):
            a = Act(name)
            g = log_grid(mpf(Q_RANGE[0]), mpf(Q_RANGE[1]), SCAN_PER_DECADE)
            br, _ = roots_on_grid(lambda q: q - a.E("phi2", q) / a.E("dphi2", q), g)
        return {"exists": True, "sigma_w2": "1", "q_star": "0", "chi_2": "0", "slope_V": "1",
                "fold_sigma_w2": None,
                "note": ("q* = 0 (V(q) = sigma_w2 E[tanh^2] < q for q > 0 at sigma_w2 = 1), "
                         "chi_1(0) = sigma_w2 = 1, chi_2 = sigma_w2 tanh''(0)^2 = 0; V'(0) = 1 to "
                         "first order but V(q) = q - 2q^2 + O(q^3) attracts every q0 > 0. "
                         f"Scan of sigma_b2(q) = 0 on the critical curve for q in (1e-8, 1e6): "
                         f"{len(br)} positive solutions.")}
    # scan the critical curve sigma_w2(q) = 1/E[phi'^2], sigma_b2(q) = q - sigma_w2 E[phi^2]
    with mp.workdps(SCAN_DPS):
        a = Act(name)
        g = log_grid(mpf(Q_RANGE[0]), mpf(Q_RANGE[1]), SCAN_PER_DECADE)
        sb2_of_q = lambda q: q - a.E("phi2", q) / a.E("dphi2", q)  # noqa: E731
        br, vals = roots_on_grid(lambda q: sb2_of_q(q) - mpf(sb2_s), g)
        br = [(s_(x), s_(y)) for x, y in br]
        # folds of the critical curve: extrema of sigma_b2(q) (sign changes of the differences)
        d = [vals[i + 1] - vals[i] for i in range(len(vals) - 1)]
        folds_cc = [(s_(g[i + 1]), s_(vals[i + 1] + mpf(sb2_s)))
                    for i in range(len(d) - 1) if d[i] * d[i + 1] < 0]
        sb2_range = (s_(min(vals) + mpf(sb2_s)), s_(max(vals) + mpf(sb2_s)))
        # saddle-nodes of the q-map at this sigma_b2: V(q) = q and V'(q) = 1 with
        # sigma_w2 = (q - sb2)/E[phi^2]  ->  h(q) = (q - sb2) dE[phi^2]/dq / E[phi^2] - 1 = 0
        gq = [x for x in g if x > mpf(sb2_s) * (1 + mpf("1e-6"))]
        h = lambda q: (q - mpf(sb2_s)) * a.dV_dq_over_sw2(q) / a.E("phi2", q) - 1  # noqa: E731
        sn_br, _ = roots_on_grid(h, gq)
        sn_br = [(s_(x), s_(y)) for x, y in sn_br]
    sols = []
    for lo, hi in br:
        q = refine_root(lambda q: q - act.E("phi2", q) / act.E("dphi2", q) - sb2, mpf(lo), mpf(hi))
        B = act.E("dphi2", q)
        sw2 = 1 / B
        slope = sw2 * act.dV_dq_over_sw2(q)
        chi_2 = sw2 * act.E("d2phi2", q)
        sols.append({"q": q, "sw2": sw2, "slope": slope, "chi_2": chi_2})
    folds = []
    for lo, hi in sn_br:
        q = refine_root(lambda q: (q - sb2) * act.dV_dq_over_sw2(q) / act.E("phi2", q) - 1,
                        mpf(lo), mpf(hi))
        folds.append({"q": q, "sw2": (q - sb2) / act.E("phi2", q)})
    # which fixed point does iterating V from q0 = 1 reach at each candidate sigma_w2?
    reached = []
    for sol in sols:
        with mp.workdps(SCAN_DPS):
            sw2 = mpf(s_(sol["sw2"]))
            qq = mpf(1)
            for _ in range(3000):
                qn = V(a, sw2, mpf(sb2_s), qq)
                if abs(qn - qq) < mpf("1e-12") * qn:
                    break
                qq = qn
            reached.append(abs(qq - sol["q"]) < mpf("1e-6") * sol["q"])
    good = [s for s, r in zip(sols, reached) if s["slope"] < 1 and r]
    desc = "; ".join(
        f"q*={mp.nstr(s['q'], 8)} sigma_w2={mp.nstr(s['sw2'], 8)} V'={mp.nstr(s['slope'], 6)} "
        f"({'attracting' if s['slope'] < 1 else 'repelling'}, "
        f"{'reached' if r else 'not reached'} from q0=1)" for s, r in zip(sols, reached))
    fdesc = "; ".join(f"q={mp.nstr(f['q'], 8)} sigma_w2={mp.nstr(f['sw2'], 10)}" for f in folds)
    note = (f"solutions of chi_1(q*)=1, V(q*)=q* with sigma_b2={sb2_s}, q* in (1e-8,1e6): "
            f"{len(sols)} [{desc}]. Saddle-nodes of the q-map (V=q, V'=1) at this sigma_b2: "
            f"{len(folds)} [{fdesc}]. On the critical curve (q in [1e-8, 1e6]) sigma_b2(q) = "
            f"q - E[phi^2]/E[phi'^2] ranges over [{mp.nstr(mpf(sb2_range[0]), 5)}, "
            f"{mp.nstr(mpf(sb2_range[1]), 5)}]; its extrema (dsigma_b2/dq = 0): "
            + (", ".join(f"q~{mp.nstr(mpf(x), 4)} (sigma_b2~{mp.nstr(mpf(y), 5)})"
                         for x, y in folds_cc) or "none") + ".")
    out = {"exists": bool(good), "note": note, "_sols": [], "_folds": []}
    out["_sols"] = [{k: s_(v) for k, v in s.items()} for s in sols]
    out["_reached"] = reached
    out["_folds"] = [{k: s_(v) for k, v in f.items()} for f in folds]
    return out


def attractor_case(name, sw2_s, sb2_s, run):
    mp.dps = RUNS[run]["dps1"]
    act = Act(name)
    if act.d2phi is not None:
        check_derivatives(name, act.phi, act.dphi, act.d2phi)
    sw2, sb2 = mpf(sw2_s), mpf(sb2_s)
    with mp.workdps(SCAN_DPS):
        a = Act(name)
        g = log_grid(mpf(Q_RANGE[0]), mpf(Q_RANGE[1]), SCAN_PER_DECADE)
        br, vals = roots_on_grid(lambda q: V(a, mpf(sw2_s), mpf(sb2_s), q) - q, g)
        # near-tangencies the sign scan could miss: local minima of |V - q| that are tiny
        near = [i for i in range(1, len(vals) - 1)
                if abs(vals[i]) < abs(vals[i - 1]) and abs(vals[i]) < abs(vals[i + 1])
                and abs(vals[i]) < mpf("1e-3") * g[i] and vals[i - 1] * vals[i + 1] > 0]
        br = [(s_(x), s_(y)) for x, y in br]
    assert not near, f"{name}: possible double root near q={[mp.nstr(g[i], 6) for i in near]}"
    fps = all_fixed_points(act, sw2, sb2, [(mpf(x), mpf(y)) for x, y in br])
    return {"stable_q_stars": [s_(q) for q, sl in fps if sl < 1],
            "unstable_q_stars": [s_(q) for q, sl in fps if sl >= 1],
            "_slopes": [s_(sl) for _, sl in fps]}


def large_sigma_case(name, sw2_s, sb2_s, run):
    mp.dps = RUNS[run]["dps1"]
    act = Act(name)
    sw2, sb2 = mpf(sw2_s), mpf(sb2_s)
    q = stable_q_star(act, sw2, sb2)
    return {"q_star": s_(q), "chi_1": s_(sw2 * act.E("dphi2", q))}


def run_new(run):
    """All new keys at run settings `run` (0 or 1); values as long decimal strings."""
    t0 = time.perf_counter()
    res = {"two_input_cases": [], "critical_cases": [], "attractor_cases": [],
           "large_sigma_cases": [], "timing": {}}
    cache = os.environ.get("REFERENCE_CACHE")  # optional: directory for per-case results
    for key, cases, fn in (("two_input_cases", TWO_INPUT_CASES, two_input_case),
                           ("critical_cases", CRITICAL_CASES, critical_case),
                           ("attractor_cases", ATTRACTOR_CASES, attractor_case),
                           ("large_sigma_cases", LARGE_SIGMA_CASES, large_sigma_case)):
        for i, case in enumerate(cases):
            t = time.perf_counter()
            path = Path(cache) / f"{key}-{i}-run{run}.json" if cache else None
            if path is not None and path.exists():
                r = json.loads(path.read_text())
            else:
                r = fn(*case, run)
                if path is not None:
                    path.write_text(json.dumps([case, r]))
                    r = [case, r]
                else:
                    r = [case, r]
            assert json.loads(json.dumps(r[0])) == json.loads(json.dumps(case)), (r[0], case)
            res[key].append(r[1])
            res["timing"][f"{key} {case}"] = time.perf_counter() - t
            print(f"run {run}: {key} {case} {res['timing'][f'{key} {case}']:.1f} s", flush=True)
    res["timing"]["total"] = time.perf_counter() - t0
    return res


# --------------------------------------------------------------------------
def fmt(x):
    """OUT_DIGITS significant digits, fixed-point notation."""
    return mp.nstr(x, OUT_DIGITS, strip_zeros=False, min_fixed=-mp.inf, max_fixed=mp.inf)


def agree_digits(a, b, cap):
    """Significant digits to which two long decimal strings agree (rounded forms equal)."""
    if a is None or b is None:
        assert a is None and b is None, (a, b)
        return cap
    x, y = mpf(a), mpf(b)
    if x == y:
        return cap
    if x == 0 or y == 0:
        return 0
    d = int(mp.floor(-mp.log10(abs(x - y) / max(abs(x), abs(y)))))
    d = min(d, cap)
    while d > 0 and sig(x, d) != sig(y, d):
        d -= 1
    return d


def sig(x, d):
    """x to d significant digits (exact strings "0", "1" kept as they are)."""
    if isinstance(x, str):
        if x in ("0", "1"):
            return x
        x = mpf(x)
    if x == 0:
        return "0"
    if abs(x) < mpf("1e-6"):
        return mp.nstr(x, d, strip_zeros=False)
    return mp.nstr(x, d, strip_zeros=False, min_fixed=-mp.inf, max_fixed=mp.inf)


def merge(keys, lo, hi, cap, entry):
    """Fill entry[k] for k in keys from two runs; returns the digits guaranteed for all."""
    digits = cap
    for k in keys:
        a, b = lo.get(k), hi.get(k)
        if isinstance(a, list):
            assert len(a) == len(b), (k, a, b)
            for u, v in zip(a, b):
                digits = min(digits, agree_digits(u, v, cap))
        elif isinstance(a, str) and a in ("0", "1"):
            assert a == b, (k, a, b)
        else:
            digits = min(digits, agree_digits(a, b, cap))
    for k in keys:
        b = hi.get(k)
        if isinstance(b, list):
            entry[k] = [sig(v, digits) for v in b]
        else:
            entry[k] = None if b is None else sig(b, digits)
    entry["digits"] = digits
    return digits


def assemble_new(r0, r1):
    """JSON entries of the new keys from the two runs."""
    mp.dps = 120
    out = {"two_input_cases": [], "critical_cases": [], "attractor_cases": [],
           "large_sigma_cases": []}
    for (name, params, sw2_s, sb2_s), lo, hi in zip(TWO_INPUT_CASES, r0["two_input_cases"],
                                                    r1["two_input_cases"]):
        assert lo["phase"] == hi["phase"]
        e = {"activation": name, "params": dict(params), "sigma_w2": sw2_s, "sigma_b2": sb2_s}
        cap = CAP_1D if (TWO_INPUT_METHOD[name] == "closed" or lo["phase"] == "ordered"
                         or lo["c_star"] == "0" or name == "selu") else CAP_2D
        merge(("q_star", "chi_1", "c_star", "chi_c_star", "xi_c"), lo, hi, cap, e)
        e["phase"] = hi["phase"]
        d = e.pop("digits")
        e["digits"] = d
        out["two_input_cases"].append(e)
    for (name, sb2_s), lo, hi in zip(CRITICAL_CASES, r0["critical_cases"], r1["critical_cases"]):
        e = {"activation": name, "params": {}, "sigma_b2": sb2_s}
        assert lo["exists"] == hi["exists"] and lo.get("_reached") == hi.get("_reached")
        e["exists"] = hi["exists"]
        if "_sols" not in hi:  # analytic q* = 0 case
            for k in ("sigma_w2", "q_star", "chi_2", "slope_V", "fold_sigma_w2", "note"):
                e[k] = hi[k]
            e["solutions"] = []
            e["digits"] = CAP_1D
            out["critical_cases"].append(e)
            continue
        assert len(lo["_sols"]) == len(hi["_sols"]) and len(lo["_folds"]) == len(hi["_folds"])
        flat_lo, flat_hi = {}, {}
        for i, (u, v) in enumerate(zip(lo["_sols"], hi["_sols"])):
            for k in ("q", "sw2", "slope", "chi_2"):
                flat_lo[f"s{i}{k}"], flat_hi[f"s{i}{k}"] = u[k], v[k]
        for i, (u, v) in enumerate(zip(lo["_folds"], hi["_folds"])):
            for k in ("q", "sw2"):
                flat_lo[f"f{i}{k}"], flat_hi[f"f{i}{k}"] = u[k], v[k]
        tmp = {}
        digits = merge(tuple(flat_hi), flat_lo, flat_hi, CAP_1D, tmp)
        sols = [{"sigma_w2": tmp[f"s{i}sw2"], "q_star": tmp[f"s{i}q"], "chi_2": tmp[f"s{i}chi_2"],
                 "slope_V": tmp[f"s{i}slope"], "attracting": mpf(hi["_sols"][i]["slope"]) < 1,
                 "reached_from_q0_1": hi["_reached"][i]} for i in range(len(hi["_sols"]))]
        good = [x for x in sols if x["attracting"] and x["reached_from_q0_1"]]
        assert len(good) <= 1
        g = good[0] if good else {}
        for k in ("sigma_w2", "q_star", "chi_2", "slope_V"):
            e[k] = g.get(k)
        folds = sorted(range(len(hi["_folds"])), key=lambda i: mpf(hi["_folds"][i]["q"]))
        # the attracting (small-q) branch ends at the saddle-node with the smallest q
        e["fold_sigma_w2"] = tmp[f"f{folds[0]}sw2"] if folds else None
        e["fold_q"] = tmp[f"f{folds[0]}q"] if folds else None
        e["saddle_nodes"] = [{"sigma_w2": tmp[f"f{i}sw2"], "q": tmp[f"f{i}q"]} for i in folds]
        e["solutions"] = sols
        e["note"] = hi["note"] + NOTE_EXTRA.get((name, sb2_s), "")
        e["digits"] = digits
        out["critical_cases"].append(e)
    for (name, sw2_s, sb2_s), lo, hi in zip(ATTRACTOR_CASES, r0["attractor_cases"],
                                            r1["attractor_cases"]):
        e = {"activation": name, "params": {}, "sigma_w2": sw2_s, "sigma_b2": sb2_s}
        merge(("stable_q_stars", "unstable_q_stars"), lo, hi, CAP_1D, e)
        d = e.pop("digits")
        e["slopes_V"] = [sig(v, d) for v in hi["_slopes"]]
        e["digits"] = d
        out["attractor_cases"].append(e)
    for (name, sw2_s, sb2_s), lo, hi in zip(LARGE_SIGMA_CASES, r0["large_sigma_cases"],
                                            r1["large_sigma_cases"]):
        e = {"activation": name, "params": {}, "sigma_w2": sw2_s, "sigma_b2": sb2_s}
        merge(("q_star", "chi_1"), lo, hi, CAP_1D, e)
        out["large_sigma_cases"].append(e)
    return out


# Interpretation of what the scans found (the numbers in each note are computed).
NOTE_EXTRA = {
    ("gelu", "0.1"): (
        " Conclusion: the only chi_1 = 1 point is on the repelling middle branch; chi_1 < 1 all "
        "along the attracting small-q branch (it is ordered), which ends at the saddle-node "
        "fold_sigma_w2 (fold_q) where q* jumps to the large-q branch or diverges. No critical "
        "point on the attracting branch."),
    ("softplus", "0.05"): (
        " Conclusion: sigma_b2(q) < -4 ln(2)^2 = -1.9218 (its q -> 0 limit) on the whole critical "
        "curve, so no sigma_b2 >= 0 has a critical point: at sigma_b2 = 0.05 chi_1 < 1 at the "
        "fixed point for every sigma_w2 < 2, and q* -> infinity (chi_1 -> 1 from below) as "
        "sigma_w2 -> 2."),
    ("sigmoid", "0.05"): (
        " Conclusion: one critical point, attracting (V' = 0.060) and reached from q0 = 1, at "
        "large sigma_w2 ~ 103 and q* ~ 46; sigma_b2(q) has a minimum near q ~ 12.6 below zero, "
        "so sigma_b2 = 0.05 is crossed once."),
}

NEW_METHOD = (
    "New keys (two_input_cases, critical_cases, attractor_cases, large_sigma_cases), same "
    "generator: 1-D expectations by mpmath.quad tanh-sinh split at kinks (and at +-1/s, +-1 for "
    "s = sqrt(q) > 1); E[f(u1) f(u2)] by a product Gauss-Legendre rule on the (u1, u2) plane "
    "with each axis cut at the kinks and at +-(0.5, 1.5, 3, 6) sqrt(q), 48 / 64 nodes per cell "
    "(tanh, checked against tensor Gauss-Hermite; softsign), by outer tanh-sinh over z1 times the closed-form inner Gaussian integral of the piecewise "
    "lin/exp activation (selu, relu, the kinked case; cross-checked against the product "
    "rule at c = 0.3), by the arcsine / arc-cosine kernels (erf, checked against Gauss-Hermite; "
    "relu, checked against the piecewise quadrature); c* by the secant method from an 18-digit "
    "bracketed Illinois root of C(c) - c (the first crossing above c = 0, i.e. the limit of "
    "iterating C from 0); c* = 0 exactly for odd phi with sigma_b2 = 0; near-zero C(0) (selu) "
    "by the Mehler series c* = C(0)/(1 - chi_c(0)). Critical points: all roots of "
    "sigma_b2(q) = q - E[phi^2]/E[phi'^2] = sigma_b2 on a 10-per-decade grid over q in "
    "(1e-8, 1e6), each refined and classified (V' < 1 attracting; reached from q0 = 1 by "
    "iterating V); saddle-nodes of the q-map (V = q, V' = 1) likewise. Attractors: all sign "
    "changes of V(q) - q on the same grid (no near-tangency found). Two runs differ in "
    "precision (1-D: 50/62 digits, selu 90/102; 2-D: 36/46) and quadrature resolution; each "
    "entry stores its numbers to the digits on which the runs agree ('digits', capped at 45 "
    "1-D and 32 2-D)."
)


def main():
    t_start = time.perf_counter()
    if "--new-only" in sys.argv:  # development: keep the stored "cases", recompute the new keys
        data = json.loads(OUT_PATH.read_text())
        with ProcessPoolExecutor(max_workers=2) as pool:
            r0, r1 = pool.map(run_new, (0, 1))
        write_new(data, r0, r1, t_start)
        return

    with ProcessPoolExecutor(max_workers=len(RUN_DPS)) as pool:
        starts = list(pool.map(float_start, *zip(*[c[:4] for c in CASES])))
        print(f"float start values ({START_ITERATIONS} iterations): "
              f"{time.perf_counter() - t_start:.1f} s")
        old_runs = [pool.submit(run_at, dps, starts) for dps in RUN_DPS]
        new_runs, new_runs1 = pool.submit(run_new, 0), pool.submit(run_new, 1)
        runs = [f.result() for f in old_runs]
    for _, info in runs:
        print(f"  run at {info['dps']} digits: {info['seconds']:.1f} s, "
              f"max relative quad error estimate {info['max_rel_quad_err']}")

    mp.dps = max(RUN_DPS) + 10
    (lo, _), (hi, _) = runs
    cases = []
    for (name, params, sw2_s, sb2_s), r_lo, r_hi in zip(CASES, lo, hi):
        entry = {"activation": name, "params": dict(params),
                 "sigma_w2": sw2_s, "sigma_b2": sb2_s}
        for key in QUANTITIES:
            if r_lo[key] is None or r_hi[key] is None:
                assert r_lo[key] is None and r_hi[key] is None
                entry[key] = None
                continue
            a, b = mpf(r_lo[key]), mpf(r_hi[key])
            assert rel_close(a, b, AGREE_DIGITS), (
                f"{name} ({sw2_s}, {sb2_s}) {key}: {RUN_DPS[0]}- and "
                f"{RUN_DPS[1]}-digit runs disagree: {r_lo[key]} vs {r_hi[key]}")
            assert fmt(a) == fmt(b), f"{name} {key}: rounding boundary at digit {OUT_DIGITS}"
            entry[key] = fmt(b)
        for key, ref in SANITY.get((name, sw2_s, sb2_s), {}).items():
            # reference is correctly rounded to its last printed digit
            decimals = len(ref.split(".")[1]) if "." in ref else 0
            err = abs(mpf(entry[key]) - mpf(ref))
            assert err <= mpf(10) ** (-decimals) * mpf("0.5000001"), (
                f"{name} ({sw2_s}, {sb2_s}) {key}: {entry[key]} vs published {ref}")
        cases.append(entry)
        print(f"  {name:10s} {str(params):16s} sw2={sw2_s:5s} sb2={sb2_s:5s} "
              + " ".join(f"{k}={'null' if entry[k] is None else entry[k][:14]}"
                         for k in QUANTITIES))

    data = {
        "method": (
            "Independent generator (tests/reference/make_reference.py, does not import "
            "neurodyn). Gaussian expectations E_z[f], z~N(0,1), by mpmath.quad tanh-sinh "
            "quadrature over [-inf, 0, inf] (split at 0, the kink of piecewise "
            "activations); q* = stable root of V(q) - q by mpmath.findroot secant "
            "(derivative free), started from 200 plain iterations of q <- V(q) from q=1; "
            "hand-written phi', phi'' checked against mpmath.diff. chi_1 = sw2 E[phi'^2], "
            "chi_2 = sw2 E[phi''^2] (null if phi'' has a delta), chi_par = V'(q*) = chi_1 + "
            "sw2 E[phi phi''], xi_q = -1/ln(chi_par). Computed at 80 and 100 digits; runs "
            "agree to >= 55 significant digits; 50 significant digits written."
        ),
        "mpmath_version": mpmath.__version__,
        "dps": OUT_DIGITS,
        "cases": cases,
    }
    r0, r1 = new_runs.result(), new_runs1.result()
    write_new(data, r0, r1, t_start)


def write_new(data, r0, r1, t_start):
    for k in sorted(r1["timing"]):
        print(f"  {k}: {r0['timing'][k]:.1f} s / {r1['timing'][k]:.1f} s")
    data.update(assemble_new(r0, r1))
    data["method_new_keys"] = NEW_METHOD
    OUT_PATH.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {OUT_PATH} in {time.perf_counter() - t_start:.1f} s")


if __name__ == "__main__":
    main()
