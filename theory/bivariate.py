r"""Two-input Gaussian expectations ``E[f(u1) g(u2)]`` and their tactics.

``(u1, u2) ~ N(0, [[v11, v12], [v12, v22]])``. :class:`BivariateGaussianExpectation`
is the unevaluated, printable, differentiable object (Price's theorem:
``d/dv12 E[f(u1) g(u2)] = E[f'(u1) g'(u2)]``); :func:`expect2` runs the
tactics of DESIGN section 5 in order, each within a time budget:

1. ``catalogue``: known kernels (:mod:`neurodyn.theory.closed_forms`);
2. ``symmetry``: ``f`` odd and ``g`` even (or the reverse) gives 0;
3. ``mehler``: polynomials, by the finite Mehler (Hermite) sum
   ``sum_k k! a_k b_k rho^k``, ``rho = v12/sqrt(v11 v22)``;
4. ``gaussian-exponential``: smooth ``x**k exp(a x**2 + b x)`` sums, exactly;
5. ``price``: differentiate in ``v12`` (distributionally: a kink of ``f``
   gives a Dirac delta in ``f'``) until the expectation is of the previous
   kinds or sifts a delta, then integrate back from ``v12 = 0``, where the
   expectation factorises into one-input expectations;
6. otherwise unevaluated.

Every closed form is checked against an independent nested quadrature.

>>> from neurodyn.theory.symbols import x, q11, q12, q22
>>> r = expect2(sympy.Max(0, x), sympy.Max(0, x), q11, q12, q22)
>>> r.tactic
'price'
>>> r.value
(2*q12*asin(q12/(sqrt(q11)*sqrt(q22))) + q12*pi + 2*sqrt(q11*q22 - q12**2))/(4*pi)
"""

from __future__ import annotations

from dataclasses import dataclass

import math

import numpy as np
import sympy

from ._numeric import numpy_function
from .activation import Piece, pieces_of, piecewise_from
from .budget import time_limit
from .errors import BudgetExceeded, NotDefinedError
from .gaussian import (ExpectationResult, Step, TACTIC_SECONDS, UnevaluatedExpectation, _TacticFailed, _tidy,
                       expect, gaussian_exponential_1d, gaussian_exponential_2d, run_tactics)
from .symbols import x

__all__ = ["BivariateGaussianExpectation", "expect2", "price_integral", "verify_2d", "Distribution"]

u1, u2 = sympy.Symbol("u1", real=True), sympy.Symbol("u2", real=True)


class BivariateGaussianExpectation(UnevaluatedExpectation):
    r"""``E[f(u1) g(u2)]``, ``(u1, u2) ~ N(0, [[v11, v12], [v12, v22]])``, unevaluated.

    >>> from neurodyn.theory.symbols import q_star, c
    >>> e = BivariateGaussianExpectation(sympy.tanh(x), sympy.tanh(x), q_star, c*q_star, q_star)
    >>> e
    E[tanh(u1)*tanh(u2); q11=q_star, q12=c*q_star, q22=q_star]
    >>> sympy.diff(e, c)
    q_star*E[(1 - tanh(u1)**2)*(1 - tanh(u2)**2); q11=q_star, q12=c*q_star, q22=q_star]
    """

    is_commutative = True
    is_real = True

    def __new__(cls, f, g, v11, v12, v22):
        return sympy.Expr.__new__(cls, *(sympy.sympify(a) for a in (f, g, v11, v12, v22)))

    f = property(lambda self: self.args[0])
    g = property(lambda self: self.args[1])
    v11 = property(lambda self: self.args[2])
    v12 = property(lambda self: self.args[3])
    v22 = property(lambda self: self.args[4])

    @property
    def free_symbols(self):
        out = set()
        for a in self.args[2:]:
            out |= a.free_symbols
        return out | ((self.f.free_symbols | self.g.free_symbols) - {x})

    def _eval_subs(self, old, new):
        if old == x:
            return self
        return None

    def _eval_derivative(self, s):
        out = sympy.S.Zero
        d12 = sympy.diff(self.v12, s)
        if d12 != 0:
            fd, gd = continuous_derivative(self.f), continuous_derivative(self.g)
            out += d12 * BivariateGaussianExpectation(fd, gd, self.v11, self.v12, self.v22)
        for dv, first in ((sympy.diff(self.v11, s), True), (sympy.diff(self.v22, s), False)):
            if dv == 0:
                continue
            h = self.f if first else self.g
            if len(pieces_of(h)) != 1:
                raise NotImplementedError("d/dv11 of a kinked expectation holds Dirac deltas")
            h2 = sympy.diff(h, x, 2)
            pair = (h2, self.g) if first else (self.f, h2)
            out += dv * BivariateGaussianExpectation(*pair, self.v11, self.v12, self.v22) / 2
        return out

    def integrand(self) -> sympy.Expr:
        return self.f.subs(x, u1) * self.g.subs(x, u2)

    def _sympystr(self, printer):
        return (f"E[{printer._print(self.integrand())}; q11={printer._print(self.v11)}, "
                f"q12={printer._print(self.v12)}, q22={printer._print(self.v22)}]")

    def _latex(self, printer):
        cov = ", ".join(printer._print(a) for a in (self.v11, self.v12, self.v22))
        return (r"\mathbb{E}_{(u_1, u_2) \sim \mathcal{N}(" + cov + r")}\left["
                + printer._print(self.integrand()) + r"\right]")


def continuous_derivative(f) -> sympy.Expr:
    """``f'`` piece by piece, for a continuous ``f`` (a jump would make ``f'`` hold a delta)."""
    dist = Distribution.of(f).derivative()
    if dist.deltas:
        raise NotDefinedError(f"{f} jumps, so its derivative holds a Dirac delta")
    return dist.regular


@dataclass(frozen=True)
class Distribution:
    """A piecewise function plus point masses: ``regular(x) + sum_k c_k delta(x - k)``."""

    regular: sympy.Expr
    deltas: tuple = ()

    @classmethod
    def of(cls, f):
        return cls(sympy.sympify(f), ())

    def derivative(self) -> "Distribution":
        if self.deltas:
            raise _TacticFailed("the derivative of a Dirac delta is not handled")
        pieces = pieces_of(self.regular)
        regular = piecewise_from([Piece(p.lo, p.hi, sympy.diff(p.expr, x)) for p in pieces])
        jumps = []
        for left, right in zip(pieces[:-1], pieces[1:]):
            k = left.hi
            jump = sympy.simplify(right.expr.subs(x, k) - left.expr.subs(x, k))
            if jump != 0:
                jumps.append((k, jump))
        return Distribution(regular, tuple(jumps))


def _density(a, b, v11, v12, v22):
    det = v11 * v22 - v12**2
    return sympy.exp(-(v22 * a**2 - 2 * v12 * a * b + v11 * b**2) / (2 * det)) / (2 * sympy.pi * sympy.sqrt(det))


def _conditional(r, k, v_given, v_other, v12):
    """E[r(y) delta(w - k)] for (y, w) jointly Gaussian: phi_w(k) E[r(y) | w = k]."""
    mean = v12 * k / v_given
    var = v_other - v12**2 / v_given
    total = sympy.S.Zero
    for piece in pieces_of(r):
        total += gaussian_exponential_1d(piece.expr, var, piece.lo, piece.hi, mean)
    return total * sympy.exp(-k**2 / (2 * v_given)) / sympy.sqrt(2 * sympy.pi * v_given)


def _closed_pair(F: Distribution, G: Distribution, v11, v12, v22) -> sympy.Expr:
    """E[F(u1) G(u2)] when every part is Gaussian-exponential or sifts a delta."""
    total = sympy.S.Zero
    if F.regular != 0 and G.regular != 0:
        if len(pieces_of(F.regular)) > 1 or len(pieces_of(G.regular)) > 1:
            raise _TacticFailed("both factors have kinks: an orthant integral")
        total += gaussian_exponential_2d(F.regular, G.regular, v11, v12, v22)
    for k, cg in G.deltas:
        if F.regular != 0:
            total += cg * _conditional(F.regular, k, v22, v11, v12)
    for k, cf in F.deltas:
        if G.regular != 0:
            total += cf * _conditional(G.regular, k, v11, v22, v12)
        for kk, cg in G.deltas:
            total += cf * cg * _density(k, kk, v11, v12, v22)
    return total


def _integrate_back(K, t, constant, seconds):
    """constant + int_0^t K(s) ds, by manualintegrate then integrate, bounded."""
    from sympy.integrals.manualintegrate import manualintegrate

    s = sympy.Dummy("s", real=True)
    K = K.subs(t, s)
    last = None
    for method in (manualintegrate, sympy.integrate):
        try:
            with time_limit(seconds, "integration in the covariance"):
                anti = method(K, s)
        except (BudgetExceeded, NotImplementedError, ValueError, TypeError, AttributeError) as exc:
            last = exc
            continue
        if anti.has(sympy.Integral, sympy.Piecewise, sympy.I, sympy.nan, sympy.zoo):
            last = f"{method.__name__} gave no usable antiderivative"
            continue
        return constant + anti.subs(s, t) - anti.subs(s, 0)
    raise _TacticFailed(f"could not integrate back in the covariance ({last})")


def _one_input(F: Distribution, v):
    """E[F(u)], u ~ N(0, v), in closed form (no Price) or _TacticFailed."""
    res = expect(F.regular, v, allow_price=False) if F.regular != 0 else None
    if res is not None and not res.closed:
        raise _TacticFailed(f"E[{F.regular}] at zero covariance has no closed form")
    value = res.value if res is not None else sympy.S.Zero
    for k, ck in F.deltas:
        value += ck * sympy.exp(-k**2 / (2 * v)) / sympy.sqrt(2 * sympy.pi * v)
    return value


def price_integral(f, g, v11, v12, v22, max_order=3, seconds=TACTIC_SECONDS, remark=""):
    """E[f(u1) g(u2)] by Price's theorem in the covariance: (value, steps).

    ``remark`` is added to the last step (``t = v12``), e.g. "full correlation".
    """
    t = sympy.Dummy("t", real=True)
    F, G = [Distribution.of(f)], [Distribution.of(g)]
    steps = []
    for m in range(1, max_order + 1):
        try:
            F.append(F[-1].derivative())
            G.append(G[-1].derivative())
        except _TacticFailed:
            break
        try:
            K = _tidy(_closed_pair(F[m], G[m], v11, t, v22))
        except _TacticFailed:
            continue
        steps.append(Step(
            f"Price's theorem, differentiated {m} time(s) in the covariance q12 = t: "
            f"d^{m}/dt^{m} E[f(u1) g(u2)] = E[f^({m})(u1) g^({m})(u2)], which is known in closed form "
            "(Gaussian-exponential terms and Dirac deltas sifted)", K,
            f"Price's theorem, differentiated {m} time(s) in the covariance $q_{{12}} = t$: "
            rf"$\partial_t^{{{m}}}\,\mathbb{{E}}[f(u_1)\,g(u_2)] = \mathbb{{E}}[f^{{({m})}}(u_1)\,g^{{({m})}}(u_2)]$, "
            "which is known in closed form (Gaussian-exponential terms, Dirac deltas sifted)"))
        current = K
        for j in range(m - 1, -1, -1):
            const = _tidy(_one_input(F[j], v11) * _one_input(G[j], v22))
            current = _tidy(_integrate_back(current, t, const, seconds))
            steps.append(Step(
                f"integrate back in t from t = 0, where u1 and u2 are independent and "
                f"E[f^({j})(u1) g^({j})(u2)] = E[f^({j})] E[g^({j})] = {const}", current,
                r"integrate back in $t$ from $t = 0$, where $u_1$ and $u_2$ are independent and "
                rf"$\mathbb{{E}}[f^{{({j})}}(u_1)\,g^{{({j})}}(u_2)] = \mathbb{{E}}[f^{{({j})}}]\,"
                rf"\mathbb{{E}}[g^{{({j})}}] = {sympy.latex(const)}$"))
        value = _tidy(current.subs(t, v12))
        tail = f" ({remark})" if remark else ""
        steps.append(Step(f"set t = {v12}{tail}", value, f"set $t = {sympy.latex(v12)}${tail}"))
        return value, steps
    raise _TacticFailed(f"no derivative up to order {max_order} reached a closed form")


def _tactic_symmetry(f, g):
    def parity(h):
        if sympy.expand(h.subs(x, -x) - h) == 0:
            return 1
        if sympy.expand(h.subs(x, -x) + h) == 0:
            return -1
        return 0

    pf, pg = parity(f), parity(g)
    if pf * pg == -1:
        return sympy.S.Zero, [Step("one factor is odd and the other even: the expectation vanishes",
                                   sympy.S.Zero)]
    raise _TacticFailed("no parity argument")


def _tactic_mehler(f, g, v11, v12, v22):
    if not (f.is_polynomial(x) and g.is_polynomial(x)):
        raise _TacticFailed("not polynomials")
    zz = sympy.Dummy("z")
    fz, gz = sympy.expand(f.subs(x, sympy.sqrt(v11) * zz)), sympy.expand(g.subs(x, sympy.sqrt(v22) * zz))
    n = max(sympy.degree(fz, zz), sympy.degree(gz, zz), 0)
    rho = v12 / sympy.sqrt(v11 * v22)

    def coefficient(h, k):            # a_k = E[h(z) He_k(z)] / k!
        prod = sympy.Poly(sympy.expand(h * sympy.hermite_prob(k, zz)), zz)
        return sum(c * sympy.factorial2(m - 1) for (m,), c in prod.terms() if m % 2 == 0) / sympy.factorial(k)

    total = sum(sympy.factorial(k) * coefficient(fz, k) * coefficient(gz, k) * rho**k for k in range(n + 1))
    total = _tidy(total)
    return total, [Step("Mehler's formula: expand both polynomials in Hermite polynomials He_k; "
                        "E[f(u1) g(u2)] = sum_k k! a_k b_k rho^k is a finite sum", total,
                        r"Mehler's formula: both polynomials expanded in Hermite polynomials $He_k$; "
                        r"$\mathbb{E}[f(u_1)g(u_2)] = \sum_k k!\,a_k b_k \rho^k$, "
                        r"$\rho = q_{12}/\sqrt{q_{11}q_{22}}$, is a finite sum")]


def verify_2d(closed, f, g, cov_symbols, cov_values=("1.3", "0.4", "0.7"), rtol=1e-9):
    """Check a closed form against an independent nested quadrature at one covariance.

    Outer variable u1, inner the conditional u2 | u1, both by Gauss-Legendre on each
    smooth piece (split at the kinks, truncated at 12 standard deviations), in float64.
    """
    v11, v12, v22 = (float(sympy.Rational(v)) for v in cov_values)
    subs = dict(zip(cov_symbols, (sympy.Rational(v) for v in cov_values)))
    exact = complex(sympy.N(closed.subs(subs), 20)).real
    nodes, weights = np.polynomial.legendre.leggauss(160)
    cond_sd = math.sqrt(v22 - v12**2 / v11)
    s1 = math.sqrt(v11)

    def ends(piece, scale, shift=0.0):
        lo = -12.0 if piece.lo == -sympy.oo else max((float(piece.lo) - shift) / scale, -12.0)
        hi = 12.0 if piece.hi == sympy.oo else min((float(piece.hi) - shift) / scale, 12.0)
        return lo, hi

    total = 0.0
    for pf in pieces_of(f):
        a, b = ends(pf, s1)
        if b <= a:
            continue
        z1 = (a + b) / 2 + (b - a) / 2 * nodes
        w1 = weights * (b - a) / 2 * np.exp(-z1**2 / 2) / math.sqrt(2 * math.pi)
        y1 = s1 * z1
        mean = v12 / v11 * y1
        inner = np.zeros_like(z1)
        for pg in pieces_of(g):
            lo = -12.0 if pg.lo == -sympy.oo else np.maximum((float(pg.lo) - mean) / cond_sd, -12.0)
            hi = 12.0 if pg.hi == sympy.oo else np.minimum((float(pg.hi) - mean) / cond_sd, 12.0)
            lo, hi = np.broadcast_to(lo, z1.shape), np.broadcast_to(hi, z1.shape)
            hi = np.maximum(hi, lo)
            w = (lo + hi)[:, None] / 2 + (hi - lo)[:, None] / 2 * nodes[None, :]
            ww = weights[None, :] * (hi - lo)[:, None] / 2 * np.exp(-w**2 / 2) / math.sqrt(2 * math.pi)
            inner += (numpy_function(pg.expr)(mean[:, None] + cond_sd * w) * ww).sum(axis=1)
        total += float((numpy_function(pf.expr)(y1) * inner * w1).sum())
    gap = abs(total - exact) / max(abs(total), 1.0)
    if not gap <= rtol:
        raise _TacticFailed(f"closed form disagrees with nested quadrature (relative gap {gap:.1e})")
    return gap


def expect2(f, g, v11, v12, v22, *, seconds: float = TACTIC_SECONDS,
            deadline: float | None = None) -> ExpectationResult:
    """``E[f(u1) g(u2)]`` by the tactic pipeline (module docstring); never raises on failure."""
    from .closed_forms import lookup_2d

    f, g = sympy.sympify(f), sympy.sympify(g)

    def gaussian_exponential():
        value = _tidy(_closed_pair(Distribution.of(f), Distribution.of(g), v11, v12, v22))
        return value, [Step("Gaussian-exponential terms integrated exactly over the plane "
                            "(moment generating function)", value)]

    attempts = [
        ("catalogue", lambda: lookup_2d(f, g, v11, v12, v22)),
        ("symmetry", lambda: _tactic_symmetry(f, g)),
        ("mehler", lambda: _tactic_mehler(f, g, v11, v12, v22)),
        ("gaussian-exponential", gaussian_exponential),
        ("price", lambda: price_integral(f, g, v11, v12, v22, seconds=seconds)),
    ]
    return run_tactics(attempts, lambda value: verify_2d(value, f, g, (v11, v12, v22)),
                       BivariateGaussianExpectation(f, g, v11, v12, v22), seconds=seconds, deadline=deadline)
