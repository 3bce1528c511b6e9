r"""Two-input Gaussian expectations ``E[f(u1) g(u2)]`` by quadrature, value + error.

``(u1, u2) ~ N(0, [[v11, v12], [v12, v22]])`` is written ``u1 = s1 z1``,
``u2 = a z1 + b z2`` with independent standard ``z1, z2`` (``s1 = sqrt(v11)``,
``a = v12/s1``, ``b = sqrt(v22 - a^2)``): the inner variable smooths ``g``
for each ``z1``. The structure is used, not brute nested adaptive quadrature:

* :func:`expect2_mp` (mpmath, any precision), smooth bundles with equal
  variances and weak correlation ``|rho| <= 0.15``: Mehler's series (below)
  with a rigorous truncation bound; other smooth bundles with
  ``sqrt(1 - rho^2) >= 1/64``: the trapezoid rule on the lattice ``h Z^2`` in
  the standardized variables (:func:`_lattice_mp`: ``f`` and ``g`` evaluated
  once per node and kept on the bundle, fixed-point row sums); nearer to
  ``|rho| = 1``: the nested trapezoid rule along the conditional variable,
  truncated to a disc where the Gaussian weight is negligible; when every pair
  is invariant under ``(z1, z2) -> (-z1, -z2)`` only a half-plane is summed.
  Kinked bundles: tanh-sinh on each smooth piece of the outer variable, cut
  also where the inner expectation is (nearly) kinked, and the inner
  expectation in closed form or by pieces (kinks move with ``z1``).
* :func:`expect2_np` (float64, vectorized over covariances): for smooth
  bundles at fixed variances, Mehler's series
  ``sum_k alpha_k beta_k rho^k`` with Hermite coefficients
  ``alpha_k = E[f(sqrt(v11) z) He_k(z)]/sqrt(k!)`` computed once; otherwise
  Gauss-Legendre on the pieces of the outer and the conditional inner variable.

>>> import sympy
>>> from neurodyn.theory.symbols import x
>>> b = BivariateBundle([(sympy.tanh(x), sympy.tanh(x))])
>>> (v,), (e,) = expect2_mp(b, "0.9", "0.45", "0.9", dps=20)
>>> mpmath.nstr(v, 20), e < 1e-20
('0.17821226696031242816', True)
"""

from __future__ import annotations

import math
from operator import mul
from functools import cached_property, lru_cache

import mpmath
from mpmath.libmp import MPZ          # gmpy2's mpz when available: 2-3x faster fixed point
import numpy as np
import sympy

from neurodyn.theory.checks import NUMPY_FUNCTIONS
from neurodyn.theory.activation import pieces_of
from neurodyn.theory.errors import ConvergenceError, NeurodynError, NotDefinedError
from neurodyn.theory.tactics.gaussian_exponential import gaussian_exponential_1d
from neurodyn.theory.symbols import x

from . import codegen
from .quadrature import GUARD_DIGITS, IntegrandBundle, gauss_legendre, level_error

__all__ = ["BivariateBundle", "expect2_mp", "expect2_np"]

_MAX_LEVEL = 10


class BivariateBundle:
    """Pairs ``(f_i, g_i)`` sharing one sweep: ``E[f_i(u1) g_i(u2)]`` for every i."""

    def __init__(self, pairs):
        self.pairs = tuple((sympy.sympify(f), sympy.sympify(g)) for f, g in pairs)
        self.f = IntegrandBundle([f for f, _ in self.pairs])
        self.g = IntegrandBundle([g for _, g in self.pairs])
        self.smooth = self.f.smooth and self.g.smooth
        self.symmetric = all(_parity(f) * _parity(g) == 1 for f, g in self.pairs)

    def __len__(self):
        return len(self.pairs)

    def node_store(self, key, size: int = 8):
        """A dict kept on this bundle under ``key`` (at most ``size`` keys, oldest dropped).

        Quadrature kernels keep function values at their nodes here, so that calls at
        the same variances and precision (the Newton steps of ``c*``) reuse them; the
        store lives and dies with the bundle.
        """
        stores = self.__dict__.setdefault("_stores", {})
        store = stores.pop(key, None)
        if store is None:
            store = {}
            while len(stores) >= size:
                stores.pop(next(iter(stores)))
        stores[key] = store
        return store

    @cached_property
    def conditional(self):
        """``G_i(m, s2) = E[g_i(m + sqrt(s2) w)]``, ``w ~ N(0, 1)``, in closed form, or None.

        Exists when every piece of every ``g_i`` is Gaussian-exponential (the ReLU
        family, ELU, SELU, hard tanh, polynomials, ...): then the inner integral is
        exact and only a one-dimensional quadrature over ``u1`` remains.
        """
        mean, var = sympy.Symbol("m", real=True), sympy.Symbol("s2", positive=True)
        exprs = []
        try:
            for g in self.g.integrands:
                exprs.append(sum(gaussian_exponential_1d(p.expr, var, p.lo, p.hi, mean) for p in pieces_of(g)))
        except NeurodynError:
            return None
        mp_fn, self._conditional_code = codegen.generate((mean, var), exprs, "mpmath", cse=True)
        return (mp_fn, sympy.lambdify((mean, var), exprs, [NUMPY_FUNCTIONS, "numpy"], cse=True))

    def conditional_mp(self, ctx=mpmath.mp):
        """The mpmath function of :attr:`conditional` computing in ``ctx`` (None when there is none)."""
        if self.conditional is None:
            return None
        if ctx is mpmath.mp:
            return self.conditional[0]
        functions = self.__dict__.setdefault("_conditional_functions", {})
        if id(ctx) not in functions:
            if self._conditional_code is None:
                raise NeurodynError("this conditional expectation cannot be evaluated in another mpmath context")
            functions[id(ctx)] = (ctx, codegen.load(self._conditional_code, ctx))
        return functions[id(ctx)][1]


def _parity(h) -> int:
    if sympy.expand(h.subs(x, -x) - h) == 0:
        return 1
    if sympy.expand(h.subs(x, -x) + h) == 0:
        return -1
    return 0


def _split(v11, v12, v22, ctx=mpmath.mp):
    s1 = ctx.sqrt(v11)
    a = v12 / s1
    b2 = v22 - a * a
    if b2 < 0:
        if b2 > -ctx.mpf(10) ** (-ctx.dps + 5) * v22:
            b2 = ctx.mpf(0)
        else:
            raise NotDefinedError("the covariance matrix is not positive semi-definite (|q12| > sqrt(q11 q22))")
    return s1, a, ctx.sqrt(b2)


def _extent(fn, s, eps, ctx=mpmath.mp):
    """Half-width in z beyond which |fn(s z)| exp(-z^2/2) stays negligible."""
    z, step, peak, small = ctx.mpf(0), ctx.mpf(1) / 2, ctx.mpf(0), 0
    while small < 3:
        z += step
        w = ctx.exp(-z * z / 2)
        size = max(max(abs(v) for v in fn(s * z)), max(abs(v) for v in fn(-s * z))) * w
        peak = max(peak, size)
        small = small + 1 if (z > 3 and size <= eps * peak) or (peak == 0 and z > 40) else 0
        if z > 200:
            raise ConvergenceError("the integrand does not decay fast enough for Gaussian quadrature")
    return z


def _grid_mp(bundle, s1, a, b, dps, ctx=mpmath.mp):
    m = len(bundle)
    ff, gf = bundle.f.mp_function(0, ctx), bundle.g.mp_function(0, ctx)
    eps = ctx.mpf(10) ** (-(dps + GUARD_DIGITS + 2))
    tol = ctx.mpf(10) ** (-(dps + 1))
    radius = max(_extent(ff, s1, eps, ctx), _extent(gf, ctx.sqrt(a * a + b * b), eps, ctx))
    norm = 1 / (2 * ctx.pi)
    weights, frow = {}, {}

    def w(zz):
        if zz not in weights:
            weights[zz] = ctx.exp(-zz * zz / 2)
        return weights[zz]

    def f_at(z1):
        if z1 not in frow:
            frow[z1] = ff(s1 * z1)
        return frow[z1]

    total = [ctx.mpf(0)] * m
    scale = [ctx.mpf(0)] * m
    estimates, previous = None, [None] * m
    h = ctx.mpf(1) / 2
    r2 = radius * radius
    for level in range(_MAX_LEVEL + 1):
        n = int(radius / h)
        acc = [ctx.mpf(0)] * m
        for i in range(0 if bundle.symmetric else -n, n + 1):
            z1 = i * h
            fv, w1 = f_at(z1), w(z1)
            jmax = int(ctx.sqrt(max(r2 - z1 * z1, 0)) / h)
            odd_row = level > 0 and i % 2 != 0
            for j in range(-jmax, jmax + 1):
                if level > 0 and not odd_row and j % 2 == 0:
                    continue                          # node of an earlier level
                if bundle.symmetric and (i == 0 and j < 0):
                    continue
                z2 = j * h
                gv = gf(a * z1 + b * z2)
                weight = w1 * w(z2)
                if bundle.symmetric and not (i == 0 and j == 0):
                    weight *= 2
                for p in range(m):
                    acc[p] += fv[p] * gv[p] * weight
        total = [t + u for t, u in zip(total, acc)]
        new = [t * h * h * norm for t in total]
        if level == 0:
            scale = [abs(v) for v in new]             # refined below with the last delta
        if estimates is not None:
            deltas = [abs(p - q) for p, q in zip(new, estimates)]
            floor = [ctx.mpf(10) ** (-(dps + GUARD_DIGITS)) * max(sc, abs(v)) for sc, v in zip(scale, new)]
            errors = [level_error(dd, pv, max(sc, abs(v), eps), fl)
                      for dd, pv, sc, v, fl in zip(deltas, previous, scale, new, floor)]
            previous = deltas
            if level >= 2 and all(e <= tol * max(sc, abs(v), eps) for e, sc, v in zip(errors, scale, new)):
                return new, errors
        estimates = new
        h /= 2
    raise ConvergenceError("two-input Gaussian quadrature did not converge",
                           hint="the integrand may not be smooth")


# ------------------------------------------------------------------------------------
# smooth bundles: the trapezoid rule on a lattice in the standardized variables
# ------------------------------------------------------------------------------------
#: Guard bits of the fixed-point sums of :func:`_lattice_mp` (they absorb the
#: rounding of the weight recurrence, which grows like the square of the row length).
_FIXED_GUARD_BITS = 48
#: Below this conditional standard deviation sqrt(1 - rho^2) the lattice needs
#: too fine a step; :func:`_grid_mp` (inner variable along the conditional) is used.
LATTICE_MIN_SIGMA = mpmath.mpf(1) / 64


def _gaussian_run(w, r, q, count, P):
    """``count`` fixed-point Gaussian weights from ``w``: ``w_{k+1} = w_k r_k``, ``r_{k+1} = r_k q``."""
    out = []
    for _ in range(count):
        out.append(w)
        w = (w * r) >> P
        r = (r * q) >> P
    return out


def _node_values(bundle, fn, scale, nodes, ctx):
    """``fn(scale * y)`` for every node ``y``, memoized per (scale, precision) on the bundle."""
    store = bundle.node_store(("values", id(fn), scale, ctx.prec))
    out = []
    for y in nodes:
        v = store.get(y)
        if v is None:
            v = store[y] = fn(scale * y)
        out.append(v)
    return out


def _lattice_mp(bundle, s1, s2, rho, dps, ctx=mpmath.mp):
    r"""``E[f_i(s1 x) g_i(s2 y)]``, ``(x, y)`` standard with correlation ``rho``, on the lattice ``h Z^2``.

    The sum is taken row by row: ``sum_i f(s1 x_i) phi(x_i) h * sum_j g(s2 y_j) w_ij`` with
    ``w_ij = (h/sigma) phi((y_j - rho x_i)/sigma)``, ``sigma = sqrt(1 - rho^2)``. Because
    every row uses the same nodes ``y_j``, ``f`` and ``g`` are evaluated once per node (not
    once per lattice point as on a grid along the conditional variable), and the values
    are kept on the bundle, so the Newton steps of ``c*`` (same variances, new ``rho``)
    reuse them. The weights of a row come from a two-term recurrence and the row sums are
    accumulated in fixed point with :data:`_FIXED_GUARD_BITS` extra bits (the rounding is
    bounded and added to the error). Every halving of ``h`` about doubles the digits
    (Gaussian-weighted analytic integrand; the step starts below ``sigma/2`` and below
    ``1/(2 s)``, the scale of the activation's features in ``x``); the error is estimated
    from the last two changes (:func:`level_error`).
    """
    m = len(bundle)
    ff, gf = bundle.f.mp_function(0, ctx), bundle.g.mp_function(0, ctx)
    eps = ctx.mpf(10) ** (-(dps + GUARD_DIGITS + 2))
    tol = ctx.mpf(10) ** (-(dps + 1))
    sigma = ctx.sqrt(1 - rho * rho)
    radius = max(_extent(ff, s1, eps, ctx), _extent(gf, s2, eps, ctx))
    # the Gaussian factor exp(-(x^2 + t^2)/2) is below eps outside x^2 + t^2 <= cut2
    cut2 = 2 * (dps + GUARD_DIGITS + 3) * ctx.log(10)
    h = ctx.mpf(1) / 2 / max(1, ctx.ceil(s1), ctx.ceil(s2))
    while h > sigma / 2:
        h /= 2
    P = ctx.prec + _FIXED_GUARD_BITS
    norm = 1 / ctx.sqrt(2 * ctx.pi)
    same = s1 == s2 and bundle.f.integrands == bundle.g.integrands

    def fixed(v):
        return MPZ(int(ctx.ldexp(v, P)))

    estimates, previous, pairs = None, [None] * m, 0
    for level in range(_MAX_LEVEL + 1):
        n = int(radius / h)
        nodes = [j * h for j in range(-n, n + 1)]
        gvals = _node_values(bundle, gf, s2, nodes, ctx)
        fvals = gvals if same else _node_values(bundle, ff, s1, nodes, ctx)
        gcols = [[fixed(row[p]) for row in gvals] for p in range(m)]
        delta = h / sigma
        q = fixed(ctx.exp(-delta * delta))
        total = [0] * m
        f2 = [ctx.mpf(0)] * m
        g2 = [ctx.mpf(0)] * m
        for i in range(0 if bundle.symmetric else -n, n + 1):
            x = nodes[i + n]
            if x * x > cut2:
                continue
            wx = ctx.exp(-x * x / 2) * norm * h
            fv = fvals[i + n]
            if bundle.symmetric and i > 0:
                wx *= 2
            for p in range(m):
                f2[p] += fv[p] * fv[p] * wx
                g2[p] += gvals[i + n][p] * gvals[i + n][p] * wx
            centre = rho * x
            tmax = ctx.sqrt(cut2 - x * x)                  # |t| beyond tmax is negligible in this row
            jlo = max(-n, int(ctx.floor((centre - tmax * sigma) / h)))
            jhi = min(n, int(ctx.ceil((centre + tmax * sigma) / h)))
            if jlo > jhi:
                continue
            j0 = min(max(int(ctx.nint(centre / h)), jlo), jhi)
            t0 = (nodes[j0 + n] - centre) / sigma
            w0 = fixed(delta * ctx.exp(-t0 * t0 / 2) * norm)
            rup = ctx.exp(-t0 * delta - delta * delta / 2)
            rdown = ctx.exp(t0 * delta - delta * delta / 2)
            up = _gaussian_run(w0, fixed(rup), q, jhi - j0 + 1, P)
            rd = fixed(rdown)
            down = _gaussian_run((w0 * rd) >> P, (rd * q) >> P, q, j0 - jlo, P)
            pairs += jhi - jlo + 1
            acc = []
            for col in gcols:                              # C-speed dot products
                acc.append(sum(map(mul, col[j0 + n:jhi + n + 1], up))
                           + sum(map(mul, col[j0 - 1 + n:jlo - 1 + n if jlo > -n else None:-1], down)))
            for p in range(m):
                total[p] += fixed(fv[p] * wx) * (acc[p] >> P)
        scale = [ctx.sqrt(abs(a * b)) for a, b in zip(f2, g2)]
        new = [ctx.ldexp(t, -2 * P) for t in total]
        # fixed-point rounding: each weight carries at most (row length)^2 ulps of 2^-P
        rounding = [sc * ctx.ldexp(pairs * (2 * n + 2) ** 2, -P) * 4 for sc in scale]
        if estimates is not None:
            deltas = [abs(a - b) for a, b in zip(new, estimates)]
            # the node values carry the rounding of the activation's formula at the working
            # precision: 100 ulps of the Cauchy-Schwarz scale sqrt(E f^2 E g^2) >= sum |f g w|
            floor = [100 * ctx.eps * sc + rd for sc, rd in zip(scale, rounding)]
            errors = [level_error(dd, pv, max(sc, eps), fl) for dd, pv, sc, fl in zip(deltas, previous, scale, floor)]
            previous = deltas
            if level >= 2 and all(e <= tol * max(sc, eps) for e, sc in zip(errors, scale)):
                return new, errors
        estimates = new
        h /= 2
    raise ConvergenceError("two-input Gaussian quadrature did not converge",
                           hint="the integrand may not be smooth")


#: Mehler's series is used at high precision when |rho| is at most this.
MEHLER_RHO = mpmath.mpf("0.15")


def _mehler_mp(bundle, v, rho, dps, ctx=mpmath.mp):
    """E[f_i(u1) g_i(u2)] = sum_k alpha_ik beta_ik rho^k for equal variances ``v``.

    Hermite coefficients ``alpha_k = E[f(sqrt(v) z) psi_k(z)]``, ``psi_k = He_k/sqrt(k!)``,
    by the nested trapezoid rule (all k in one sweep); the truncation after K
    terms is bounded by ``|rho|^K sqrt(E[f^2] E[g^2])`` (Bessel, Cauchy-Schwarz).
    """
    m = len(bundle)
    ff, gf = bundle.f.mp_function(0, ctx), bundle.g.mp_function(0, ctx)
    eps = ctx.mpf(10) ** (-(dps + GUARD_DIGITS + 2))
    tol = ctx.mpf(10) ** (-(dps + 1))
    s = ctx.sqrt(v)
    if rho == 0:
        K = 1
    else:
        K = int(ctx.ceil((dps + GUARD_DIGITS + 3) * ctx.log(10) / -ctx.log(abs(rho)))) + 2
    radius = max(_extent(ff, s, eps, ctx), _extent(gf, s, eps, ctx)) + 2 * ctx.sqrt(K) + 2
    roots = [ctx.sqrt(k) for k in range(K + 1)]
    powers = [rho**k for k in range(K)]
    norm = 1 / ctx.sqrt(2 * ctx.pi)
    A = [[ctx.mpf(0)] * K for _ in range(m)]
    B = [[ctx.mpf(0)] * K for _ in range(m)]
    F2 = [ctx.mpf(0)] * m
    G2 = [ctx.mpf(0)] * m

    def sweep(zs):
        for zz in zs:
            w = ctx.exp(-zz * zz / 2) * norm
            fv, gv = ff(s * zz), gf(s * zz)
            psi_prev, psi = ctx.mpf(0), ctx.mpf(1)
            fw = [a * w for a in fv]
            gw = [b * w for b in gv]
            for k in range(K):
                for i in range(m):
                    A[i][k] += fw[i] * psi
                    B[i][k] += gw[i] * psi
                psi_prev, psi = psi, (zz * psi - roots[k] * psi_prev) / roots[k + 1]
            for i in range(m):
                F2[i] += fw[i] * fv[i]
                G2[i] += gw[i] * gv[i]

    h = ctx.mpf(1) / 2
    n = int(radius / h)
    sweep([j * h for j in range(-n, n + 1)])
    estimates, previous = None, [None] * m
    for level in range(1, _MAX_LEVEL + 1):
        h /= 2
        n = int(radius / h)
        sweep([j * h for j in range(-n, n + 1) if j % 2])
        sums = [h * h * sum(A[i][k] * B[i][k] * powers[k] for k in range(K)) for i in range(m)]
        if estimates is not None:
            deltas = [abs(p - q) for p, q in zip(sums, estimates)]
            scale = [h * ctx.sqrt(abs(F2[i] * G2[i])) for i in range(m)]
            tail = [abs(rho) ** K * sc for sc in scale]
            floor = [ctx.mpf(10) ** (-(dps + GUARD_DIGITS)) * sc for sc in scale]
            errors = [level_error(dd, pv, max(sc, eps), fl) + t
                      for dd, pv, sc, fl, t in zip(deltas, previous, scale, floor, tail)]
            previous = deltas
            if level >= 2 and all(e <= tol * max(sc, eps) for e, sc in zip(errors, scale)):
                return sums, errors
        estimates = sums
    raise ConvergenceError("Mehler series: the Hermite coefficients did not converge")


_RULES: dict = {}


def _vector_gauss_legendre(fn, a, b, m, tol, ctx=mpmath.mp):
    """``int_a^b fn(z) dz`` for a vector ``fn`` (all components from one sweep): (values, error estimates).

    Gauss-Legendre of rising degree (mpmath's cached nodes, ``3 2^(d-1)`` of them at
    degree ``d``); the error estimate is the change from the previous degree.
    """
    rule = _RULES.get(id(ctx))
    if rule is None:
        rule = _RULES[id(ctx)] = (ctx, mpmath.calculus.quadrature.GaussLegendre(ctx))
    rule = rule[1]
    previous = None
    for degree in range(2, 9):
        acc = [ctx.mpf(0)] * m
        for z, w in rule.get_nodes(a, b, degree, ctx.prec):
            for p, v in enumerate(fn(z)):
                acc[p] += v * w
        if previous is not None:
            errs = [abs(u - v) for u, v in zip(acc, previous)]
            if all(e <= tol * max(1, abs(u)) for e, u in zip(errs, acc)):
                return acc, errs
        previous = acc
    return acc, errs


def gfuns_kinks(gfuncs):
    """The pieces of ``g`` with a finite lower end (one per kink)."""
    return [item for item in gfuncs if item[0][0] != -sympy.oo]


def _kinked_mp(bundle, s1, a, b, dps, ctx=mpmath.mp):
    """Kinked bundles: the outer variable piece by piece, the conditional inner one exactly or by pieces.

    The inner expectation ``E[g(a z1 + b z2) | z1]`` is ``g(a z1)`` when ``b = 0``,
    the closed form :attr:`BivariateBundle.conditional` when the pieces of ``g``
    allow it, and otherwise Gauss-Legendre on its pieces (whose kinks move with
    ``z1``). Both variables are standard Gaussian, so each piece is clipped to
    ``|z| <= L`` (the weight is below ``10^-(dps+15)`` beyond) and split at the
    peak ``z = 0``: the rules then always have nodes where the mass is.
    """
    m = len(bundle)
    values, errors = [ctx.mpf(0)] * m, [ctx.mpf(0)] * m
    L = ctx.sqrt(2 * (dps + GUARD_DIGITS + 5) * ctx.log(10)) + 8
    closed = bundle.conditional_mp(ctx)

    def bounds(lo, hi, shift, scale):
        a_ = -L if lo == -sympy.oo else max((ctx.mpf(sympy.N(lo, ctx.dps)) - shift) / scale, -L)
        b_ = L if hi == sympy.oo else min((ctx.mpf(sympy.N(hi, ctx.dps)) - shift) / scale, L)
        if b_ <= a_:
            return None
        return [a_, 0, b_] if a_ < 0 < b_ else [a_, b_]

    gfuncs = [(iv, bundle.g.mp_function(k, ctx)) for k, iv in enumerate(bundle.g.intervals)]
    memo = {}
    inner_error = [ctx.mpf(0)] * m      # largest error estimate of an inner quadrature
    inner_tol = ctx.mpf(10) ** (-(dps + 4))
    norm = 1 / ctx.sqrt(2 * ctx.pi)
    inner_size = [ctx.mpf(0)] * m       # largest |inner value|

    def inner(z1):
        if z1 in memo:
            return memo[z1]
        mean = a * z1
        if b == 0:
            out = next(gfn(mean) for (glo, ghi, _), gfn in gfuncs
                       if (glo == -sympy.oo or glo <= mean) and (ghi == sympy.oo or mean <= ghi))
        elif closed is not None:
            out = closed(mean, b * b)
        else:
            out = [ctx.mpf(0)] * m
            for (glo, ghi, _), gfn in gfuncs:
                pts = bounds(glo, ghi, mean, b)
                if pts is not None:
                    for lo_, hi_ in zip(pts[:-1], pts[1:]):
                        vals, errs = _vector_gauss_legendre(
                            lambda z2: [v * (ctx.exp(-z2 * z2 / 2) * norm) for v in gfn(mean + b * z2)],
                            lo_, hi_, m, inner_tol, ctx)
                        for p in range(m):
                            out[p] += vals[p]
                            inner_error[p] = max(inner_error[p], errs[p])
        for p in range(m):
            inner_size[p] = max(inner_size[p], abs(out[p]))
        memo[z1] = out
        return out

    # the inner expectation is kinked (b = 0) or nearly so (a transition of width b/|a| in
    # z1, small near c = 1) where a z1 crosses a kink of g: those points cut the outer
    # pieces too, so that tanh-sinh meets them at endpoints, where its nodes cluster
    g_cuts = []
    if a != 0:
        g_cuts = [ctx.mpf(sympy.N(glo, ctx.dps)) / a for (glo, _, _), _ in gfuns_kinks(gfuncs)]
    for k, (lo, hi, _) in enumerate(bundle.f.intervals):
        fn = bundle.f.mp_function(k, ctx)
        outer = bounds(lo, hi, 0, s1)
        if outer is None:
            continue
        outer = sorted(set(outer) | {z for z in g_cuts if outer[0] < z < outer[-1]})
        for p in range(m):
            val, err = ctx.quad(lambda z1: fn(s1 * z1)[p] * inner(z1)[p] * ctx.npdf(z1), outer, error=True)
            values[p] += val
            # the inner error enters weighted by E|f| on the piece; the function values are
            # rounded at dps + GUARD_DIGITS digits: 100 ulps cover the rounding of the sums
            mass = ctx.quad(lambda z1: abs(fn(s1 * z1)[p]) * ctx.npdf(z1), outer)
            ulp = ctx.mpf(10) ** (-(dps + GUARD_DIGITS) + 2)
            errors[p] += err + mass * (inner_error[p] + ulp * inner_size[p])
    return values, errors


def expect2_mp(bundle: BivariateBundle, v11, v12, v22, dps: int, ctx=mpmath.mp):
    """``[E[f_i(u1) g_i(u2)]]`` at ``dps`` digits: (values, error estimates), lists of mpf.

    The errors are estimates (from the convergence of the rules, and Mehler's
    truncation bound), not proven bounds. Every kernel computes in the mpmath
    context ``ctx`` (its integrands too), at ``dps + GUARD_DIGITS`` digits set
    with ``ctx.workdps``: the caller's precision is neither read nor changed.
    """
    with ctx.workdps(dps + GUARD_DIGITS):
        v11, v12, v22 = (ctx.mpf(v) for v in (v11, v12, v22))
        if v11 <= 0 or v22 <= 0:
            raise NotDefinedError("two-input expectations need q11 > 0 and q22 > 0")
        s1, a, b = _split(v11, v12, v22, ctx)
        rho = v12 / ctx.sqrt(v11 * v22)
        if bundle.smooth and v11 == v22 and abs(rho) <= MEHLER_RHO:
            vals, errs = _mehler_mp(bundle, v11, rho, dps, ctx)
        elif bundle.smooth and abs(rho) < 1 and ctx.sqrt(1 - rho * rho) >= LATTICE_MIN_SIGMA:
            vals, errs = _lattice_mp(bundle, s1, ctx.sqrt(v22), rho, dps, ctx)
        elif bundle.smooth:
            vals, errs = _grid_mp(bundle, s1, a, b, dps, ctx)
        else:
            vals, errs = _kinked_mp(bundle, s1, a, b, dps, ctx)
        return [+v for v in vals], [+e for e in errs]


# ------------------------------------------------------------------------------------
# float64
# ------------------------------------------------------------------------------------
_K_MAX = 600


@lru_cache(maxsize=32)
def _hermite_coefficients(integrands, v):
    """alpha_k = E[h(sqrt(v) z) He_k(z)]/sqrt(k!) for each h, k < K (trapezoid, Hermite functions)."""
    fns = [sympy.lambdify(x, h, [NUMPY_FUNCTIONS, "numpy"]) for h in integrands]
    zmax = 2 * math.sqrt(_K_MAX) + 12
    hstep = 0.02
    zs = np.arange(-zmax, zmax + hstep / 2, hstep)
    with np.errstate(all="ignore"):
        vals = [np.broadcast_to(np.asarray(fn(math.sqrt(v) * zs), dtype=float), zs.shape) for fn in fns]
    gauss = np.exp(-zs**2 / 4)
    coeffs = np.zeros((len(fns), _K_MAX))
    eta_prev, eta = np.zeros_like(zs), gauss.copy()          # eta_k = He_k e^{-z^2/4}/sqrt(k!)
    scale = hstep / math.sqrt(2 * math.pi)
    for k in range(_K_MAX):
        for i, val in enumerate(vals):
            coeffs[i, k] = np.nansum(val * eta * gauss) * scale
        eta_prev, eta = eta, (zs * eta - math.sqrt(k) * eta_prev) / math.sqrt(k + 1)
    return coeffs


def _mehler_np(bundle, v11, v22, rho):
    a = _hermite_coefficients(bundle.f.integrands, float(v11))
    b = _hermite_coefficients(bundle.g.integrands, float(v22))
    prod = a * b                                            # (m, K)
    size = np.abs(prod).max(axis=0)
    keep = np.nonzero(size > 1e-18 * size.max())[0]
    k_eff = int(keep[-1]) + 1 if keep.size else 1
    vals = np.polynomial.polynomial.polyval(rho, prod[:, :k_eff].T, tensor=True)   # Horner, (m, ...)
    # what is left out: by Cauchy-Schwarz, at most sqrt(sum a_k^2 sum b_k^2) over k >= k_eff
    tail = np.sqrt(np.sum(a[:, k_eff:] ** 2, axis=1) * np.sum(b[:, k_eff:] ** 2, axis=1))
    # rounding: the coefficients (each from a float64 quadrature) and Horner's sum carry a relative
    # error of a few ulps each, so the sum is uncertain by ~ k eps sum_k |a_k b_k| |rho|^k, which
    # exceeds eps |value| when the terms cancel (tanh at q = 3: 1.6e-13 against a value of 0.5)
    spread = np.polynomial.polynomial.polyval(np.abs(rho), np.abs(prod[:, :k_eff]).T, tensor=True)
    rounding = 4 * k_eff * np.finfo(float).eps * spread
    err = np.abs(vals) * 1e-15 + rounding + tail.reshape((-1,) + (1,) * np.ndim(rho))
    return vals, err


def _outer_nodes(lo, hi, s1, nodes, weights):
    """Gauss-Legendre nodes z1 and Gaussian-weighted weights on one piece of u1 (clipped to |z1| <= 12)."""
    za = np.full(s1.shape, -12.0) if lo == -sympy.oo else np.maximum(float(lo) / s1, -12.0)
    zb = np.full(s1.shape, 12.0) if hi == sympy.oo else np.minimum(float(hi) / s1, 12.0)
    zb = np.maximum(za, zb)
    z1 = (za + zb) / 2 + (zb - za) / 2 * nodes
    return z1, weights * (zb - za) / 2 * np.exp(-z1**2 / 2) / math.sqrt(2 * math.pi)


def _gauss_legendre_np(bundle, v11, v12, v22, n=96, chunk=256):
    nodes, weights = gauss_legendre(n)
    shape = np.broadcast(v11, v12, v22).shape
    v11, v12, v22 = (np.broadcast_to(np.asarray(v, float), shape).ravel() for v in (v11, v12, v22))
    m = len(bundle)
    out = np.zeros((m, v11.size))
    fints = [(lo, hi, bundle.f.np_function(k)) for k, (lo, hi, _) in enumerate(bundle.f.intervals)]
    gints = [(lo, hi, bundle.g.np_function(k)) for k, (lo, hi, _) in enumerate(bundle.g.intervals)]
    c0 = 1 / math.sqrt(2 * math.pi)
    for start in range(0, v11.size, chunk):
        sl = slice(start, start + chunk)
        s1 = np.sqrt(v11[sl])[:, None]
        a = (v12[sl] / np.sqrt(v11[sl]))[:, None]
        b = np.sqrt(np.maximum(v22[sl] - a[:, 0] ** 2, 0))[:, None]
        for lo, hi, ffn in fints:
            z1, w1 = _outer_nodes(lo, hi, s1, nodes, weights)              # (c, n)
            with np.errstate(all="ignore"):
                fvals = ffn(s1 * z1)
            inner = [np.zeros(z1.shape) for _ in range(m)]
            mean = (a * z1)[..., None]                                      # (c, n, 1)
            bb = b[..., None]
            for glo, ghi, gfn in gints:
                with np.errstate(all="ignore"):
                    lo2 = -12.0 if glo == -sympy.oo else np.clip((float(glo) - mean) / bb, -12, 12)
                    hi2 = 12.0 if ghi == sympy.oo else np.clip((float(ghi) - mean) / bb, -12, 12)
                lo2 = np.broadcast_to(np.nan_to_num(lo2, nan=0.0), mean.shape)
                hi2 = np.maximum(np.broadcast_to(np.nan_to_num(hi2, nan=0.0), mean.shape), lo2)
                z2 = (lo2 + hi2) / 2 + (hi2 - lo2) / 2 * nodes              # (c, n, n)
                w2 = weights * (hi2 - lo2) / 2 * np.exp(-z2**2 / 2) * c0
                with np.errstate(all="ignore"):
                    gvals = gfn(mean + bb * z2)
                for p in range(m):
                    gp = np.broadcast_to(np.asarray(gvals[p], float), z2.shape)
                    inner[p] += np.where(w2 > 0, gp * w2, 0.0).sum(axis=-1)
            for p in range(m):
                fp = np.broadcast_to(np.asarray(fvals[p], float), z1.shape)
                out[p, sl] += np.where(w1 > 0, fp * inner[p] * w1, 0.0).sum(axis=-1)
    return out.reshape((m,) + shape)


def _smoothed_np(bundle, v11, v12, v22, n=128):
    """Gauss-Legendre over the pieces of u1 of f(u1) G(a z1, b^2) (the inner expectation exact)."""
    nodes, weights = gauss_legendre(n)
    shape = np.broadcast(v11, v12, v22).shape
    v11, v12, v22 = (np.broadcast_to(np.asarray(v, float), shape).ravel()[:, None] for v in (v11, v12, v22))
    s1 = np.sqrt(v11)
    a = v12 / s1
    b2 = np.maximum(v22 - a * a, 0.0)
    G = bundle.conditional[1]
    m = len(bundle)
    out = np.zeros((m, s1.shape[0]))
    for k, (lo, hi, _) in enumerate(bundle.f.intervals):
        ffn = bundle.f.np_function(k)
        z1, w1 = _outer_nodes(lo, hi, s1, nodes, weights)
        with np.errstate(all="ignore"):
            fvals = ffn(s1 * z1)
            inner = G(a * z1, np.where(b2 > 0, b2, 1.0))
            if np.any(b2 == 0):            # c = +-1: the inner expectation is g itself
                direct = np.zeros((m,) + z1.shape)
                for j, (glo, ghi, _) in enumerate(bundle.g.intervals):
                    u2 = a * z1
                    sel = ((u2 >= float(glo)) if glo != -sympy.oo else True) & \
                          ((u2 <= float(ghi)) if ghi != sympy.oo else True)
                    vals = bundle.g.np_function(j)(u2)
                    for p in range(m):
                        direct[p] = np.where(sel, np.broadcast_to(np.asarray(vals[p], float), z1.shape), direct[p])
                inner = [np.where(b2 == 0, direct[p], np.broadcast_to(np.asarray(inner[p], float), z1.shape))
                         for p in range(m)]
        for p in range(m):
            term = np.broadcast_to(np.asarray(fvals[p], float), z1.shape) * np.asarray(inner[p], float) * w1
            out[p] += np.where(w1 > 0, term, 0.0).sum(axis=-1)
    return out.reshape((m,) + shape)


def expect2_np(bundle: BivariateBundle, v11, v12, v22):
    """Float64 ``[E[f_i(u1) g_i(u2)]]`` for arrays of covariances: (values, errors), shape (m, ...)."""
    v11, v12, v22 = (np.asarray(v, dtype=float) for v in (v11, v12, v22))
    if np.any(v11 <= 0) or np.any(v22 <= 0):
        raise NotDefinedError("two-input expectations need q11 > 0 and q22 > 0")
    rho = v12 / np.sqrt(v11 * v22)
    if np.any(np.abs(rho) > 1 + 1e-12):
        raise NotDefinedError("the covariance matrix is not positive semi-definite (|q12| > sqrt(q11 q22))")
    shape = np.broadcast(v11, v12, v22).shape
    todo = np.ones(shape, dtype=bool)                 # elements no Mehler series settled
    mehler_vals = mehler_err = None
    if bundle.smooth:
        mehler_vals, mehler_err, todo = _mehler_groups_np(bundle, v11, v22, np.clip(rho, -1, 1), shape)
        if not np.any(todo):
            return mehler_vals, mehler_err
        if np.any(~todo):                             # quadrature only where the series did not settle
            sub = [np.broadcast_to(v, shape)[todo] for v in (v11, v12, v22)]
            vals, err = _expect2_np_quadrature(bundle, *sub)
            mehler_vals[:, todo], mehler_err[:, todo] = vals, err
            return mehler_vals, mehler_err
    return _expect2_np_quadrature(bundle, v11, v12, v22)


#: Largest number of distinct (v11, v22) pairs for which :func:`expect2_np` computes Mehler series.
MEHLER_GROUPS = 64


def _mehler_groups_np(bundle, v11, v22, rho, shape):
    """Mehler's series for every distinct (v11, v22) pair: (values, errors, elements left to do).

    An element is done when its series converged to 1e-12 (relative); with more than
    :data:`MEHLER_GROUPS` distinct pairs nothing is done here (quadrature takes all).
    """
    m = len(bundle)
    a11, a22, r = (np.broadcast_to(np.asarray(v, float), shape).reshape(-1) for v in (v11, v22, rho))
    vals = np.full((m, a11.size), np.nan)
    errs = np.full((m, a11.size), np.inf)
    pairs = np.unique(np.stack([a11, a22]), axis=1) if a11.size else np.zeros((2, 0))
    if pairs.shape[1] <= MEHLER_GROUPS:
        for p11, p22 in pairs.T:
            sel = (a11 == p11) & (a22 == p22)
            vals[:, sel], errs[:, sel] = _mehler_np(bundle, p11, p22, r[sel])
    with np.errstate(invalid="ignore"):
        done = np.all(np.isfinite(vals) & (errs <= 1e-12 * (1 + np.abs(vals))), axis=0)
    return vals.reshape((m,) + shape), errs.reshape((m,) + shape), ~done.reshape(shape)


def _expect2_np_quadrature(bundle, v11, v12, v22):
    """Float64 two-input expectations by quadrature (the inner expectation exact where it can be)."""
    vals = coarse = None
    if bundle.conditional is not None:
        vals = _smoothed_np(bundle, v11, v12, v22)
        coarse = _smoothed_np(bundle, v11, v12, v22, n=64)
        if not (np.all(np.isfinite(vals)) and np.all(np.isfinite(coarse))):
            # the closed form can overflow in float64 (exp(m^2/2s2) exp(-m^2/2s2) with s2
            # small, i.e. c near +-1): integrate the inner variable numerically instead
            vals = coarse = None
    if vals is None:
        vals = _gauss_legendre_np(bundle, v11, v12, v22)
        coarse = _gauss_legendre_np(bundle, v11, v12, v22, n=64)
    return vals, np.abs(vals - coarse) + 1e-15 * np.abs(vals)
