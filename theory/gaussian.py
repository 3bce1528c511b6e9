r"""Gaussian expectations as SymPy objects, and the tactics that evaluate them.

``E_z[f(sqrt(v) z)]`` (one input) is :class:`GaussianExpectation`, a SymPy
expression that prints as the papers write it and differentiates by the heat
equation ``d/dv E[f(sqrt(v) z)] = E[f''(sqrt(v) z)]/2``. An unevaluated
expectation is a valid answer (DESIGN section 5): the numerics integrate it.

:func:`expect` and :func:`expect_product` try the tactics in order, each within
a time budget, and return an :class:`ExpectationResult` that records which
tactic won and the steps it took:

1. ``catalogue``: known kernels (:mod:`neurodyn.theory.closed_forms`);
2. ``symmetry``: an odd integrand has expectation 0;
3. ``gaussian-exponential``: split at kinks, write every piece as a sum of
   ``x**k exp(a x**2 + b x)`` terms (polynomials, exp, sin, cos, sinh, cosh,
   Gaussians, complete the square) and integrate exactly;
4. ``price``: Price's theorem (the heat equation in the covariance),
   ``d/ds E[f(u1) g(u2)] = E[f'(u1) g'(u2)]`` with ``s = Cov(u1, u2)``:
   differentiate until the previous tactic succeeds, integrate back in ``s``
   from ``s = 0`` (where the expectation factorises) to ``s = v``;
5. otherwise the unevaluated expectation.

Every closed form is checked against an independent numerical quadrature
before it is accepted.

>>> from neurodyn.theory.symbols import x, q
>>> expect(x**4, q).value
3*q**2
>>> r = expect_product(sympy.erf(x), sympy.erf(x), q)
>>> r.value, r.tactic
(2*asin(2*q/(2*q + 1))/pi, 'price')
>>> expect(sympy.tanh(x)**2, q).value
E_z[tanh(sqrt(q)*z)**2]
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import mpmath
import sympy

from .activation import pieces_of
from .budget import time_limit
from .errors import BudgetExceeded, NeurodynError, NotDefinedError
from .symbols import x, z

__all__ = [
    "GaussianExpectation", "ExpectationResult", "Step", "expect", "expect_product",
    "gaussian_exponential_1d", "gaussian_exponential_2d", "verify_1d",
]

#: Default time budget of one tactic, seconds.
TACTIC_SECONDS = 4.0


class UnevaluatedExpectation(sympy.Expr):
    """Base of the unevaluated expectation objects (simplification leaves them alone)."""


class GaussianExpectation(UnevaluatedExpectation):
    r"""``E_z[f(sqrt(v) z)]``, ``z ~ N(0, 1)``: unevaluated, printable, differentiable.

    ``integrand`` is an expression in :data:`x` (it may be a ``Piecewise``);
    ``variance`` is an expression in the law's symbols (usually ``q``).

    >>> from neurodyn.theory.symbols import q
    >>> e = GaussianExpectation(sympy.tanh(x)**2, q)
    >>> sympy.latex(e)
    '\\mathbb{E}_{z}\\left[\\tanh^{2}{\\left(\\sqrt{q} z \\right)}\\right]'
    >>> sympy.diff(e, q)
    E_z[2*(tanh(sqrt(q)*z)**2 - 1)*(3*tanh(sqrt(q)*z)**2 - 1)]/2
    """

    is_commutative = True
    is_real = True

    def __new__(cls, integrand, variance):
        integrand, variance = sympy.sympify(integrand), sympy.sympify(variance)
        return sympy.Expr.__new__(cls, integrand, variance)

    @property
    def integrand(self) -> sympy.Expr:
        return self.args[0]

    @property
    def variance(self) -> sympy.Expr:
        return self.args[1]

    @property
    def free_symbols(self):
        return (self.integrand.free_symbols - {x}) | self.variance.free_symbols

    def _eval_subs(self, old, new):
        if old == x:
            return self
        return None

    def _eval_derivative(self, s):
        v = self.variance
        out = sympy.S.Zero
        if self.integrand.has(s):
            out += GaussianExpectation(sympy.diff(self.integrand, s), v)
        dv = sympy.diff(v, s)
        if dv != 0:
            out += dv * heat_derivative(self.integrand, v)
        return out

    def in_z(self) -> sympy.Expr:
        """The integrand written as a function of the standard Gaussian ``z``."""
        return self.integrand.subs(x, sympy.sqrt(self.variance) * z)

    def _latex(self, printer):
        return r"\mathbb{E}_{z}\left[" + printer._print(self.in_z()) + r"\right]"

    def _sympystr(self, printer):
        return "E_z[" + printer._print(self.in_z()) + "]"

    def _pretty(self, printer):
        return printer._print(sympy.Function("E_z")(self.in_z()))


def heat_derivative(f, v) -> sympy.Expr:
    """``d/dv E[f(sqrt(v) z)]`` as an expectation.

    For a smooth ``f`` this is the heat equation, ``E[f'']/2``. For an ``f``
    with kinks (where ``f''`` would hold Dirac deltas) the density is
    differentiated instead: ``E[f(u) (u**2 - v)]/(2 v**2)``; both are exact.
    """
    if len(pieces_of(f)) == 1:
        return GaussianExpectation(sympy.diff(f, x, 2), v) / 2
    return GaussianExpectation(f * x**2, v) / (2 * v**2) - GaussianExpectation(f, v) / (2 * v)


@dataclass(frozen=True)
class Step:
    """One step of a derivation: what was done and the expression it gave.

    ``description`` is plain text; ``tex``, when given, is the same sentence with
    its mathematics in LaTeX (documents use it instead of the escaped text).
    """

    description: str
    expr: sympy.Expr | None = None
    tex: str | None = None


@dataclass(frozen=True)
class ExpectationResult:
    """The outcome of the tactic pipeline.

    ``value`` is a closed form when ``closed`` is true, else an expression
    holding :class:`GaussianExpectation` nodes. ``tactic`` names the winner
    (``"unevaluated"`` when none won); ``steps`` record how; ``notes`` say
    what was tried and why it failed (budgets included).
    """

    value: sympy.Expr
    closed: bool
    tactic: str
    steps: tuple = ()
    notes: tuple = field(default=())


class _TacticFailed(NeurodynError):
    pass


# ----------------------------------------------------------------------------------------
# Gaussian-exponential terms: c * x**k * exp(a x**2 + b x)
# ----------------------------------------------------------------------------------------
_REWRITABLE = (sympy.sin, sympy.cos, sympy.sinh, sympy.cosh)


def _gep_terms(expr) -> list[tuple]:
    """Write ``expr`` as a sum of ``c x**k exp(a x**2 + b x)``; list of (c, k, a, b).

    Raises _TacticFailed when ``expr`` is not of that form.
    """
    expr = sympy.sympify(expr)
    if expr == 0:
        return []
    if expr.has(*_REWRITABLE):
        expr = expr.rewrite(sympy.exp)
    expr = sympy.expand(sympy.powsimp(sympy.expand(expr, power_exp=False), combine="exp"))
    terms = []
    for term in sympy.Add.make_args(expr):
        coeff, rest = term.as_independent(x, as_Add=False)
        k, exponent = 0, sympy.S.Zero
        for factor in sympy.Mul.make_args(rest):
            if factor == 1:
                continue
            if factor == x:
                k += 1
            elif factor.is_Pow and factor.base == x and factor.exp.is_Integer and factor.exp > 0:
                k += int(factor.exp)
            elif isinstance(factor, sympy.exp):
                exponent += factor.args[0]
            elif factor.is_Pow and isinstance(factor.base, sympy.exp) and factor.exp.is_number:
                exponent += factor.base.args[0] * factor.exp
            else:
                raise _TacticFailed(f"factor {factor} is not x**k exp(quadratic)")
        try:
            poly = sympy.Poly(sympy.expand(exponent), x)
        except sympy.PolynomialError:
            raise _TacticFailed(f"exponent {exponent} is not polynomial in x") from None
        if poly.degree() > 2:
            raise _TacticFailed(f"exponent {exponent} has degree > 2")
        a, b, c0 = (poly.coeff_monomial(x**2), poly.coeff_monomial(x), poly.coeff_monomial(1))
        if not (a.is_real and (a <= 0) == sympy.true):
            raise _TacticFailed(f"exp({exponent}) grows like a Gaussian")
        terms.append((coeff * sympy.exp(c0), k, a, b))
    return terms


def _erf_end(end, A, t):
    """erf(sqrt(A) (end - t/(2A))) with the infinite ends evaluated."""
    if end == sympy.oo:
        return sympy.S.One
    if end == -sympy.oo:
        return -sympy.S.One
    return sympy.erf(sympy.sqrt(A) * (end - t / (2 * A)))


def gaussian_exponential_1d(expr, v, lo=-sympy.oo, hi=sympy.oo, mean=sympy.S.Zero) -> sympy.Expr:
    """``E[expr(u) 1{lo < u < hi}]``, ``u ~ N(mean, v)``, for Gaussian-exponential ``expr``.

    >>> from neurodyn.theory.symbols import q
    >>> gaussian_exponential_1d(x**2, q, lo=0)
    q/2
    """
    t = sympy.Dummy("t")
    total = sympy.S.Zero
    for coeff, k, a, b in _gep_terms(expr):
        A = 1 / (2 * v) - a                      # exponent -A x^2 + (t + mean/v) x
        if hi == sympy.oo and lo != -sympy.oo:      # 1 - erf(y) = erfc(y): no cancellation
            window = sympy.erfc(sympy.sqrt(A) * (lo - t / (2 * A)))
        elif lo == -sympy.oo and hi != sympy.oo:    # erf(y) + 1 = erfc(-y)
            window = sympy.erfc(-sympy.sqrt(A) * (hi - t / (2 * A)))
        else:
            window = _erf_end(hi, A, t) - _erf_end(lo, A, t)
        base = sympy.sqrt(sympy.pi / A) / 2 * sympy.exp(t**2 / (4 * A)) * window
        moment = sympy.diff(base, t, k).subs(t, b + mean / v)
        total += coeff * moment * sympy.exp(-mean**2 / (2 * v)) / sympy.sqrt(2 * sympy.pi * v)
    return total


def gaussian_exponential_2d(f, g, v11, v12, v22) -> sympy.Expr:
    """``E[f(u1) g(u2)]`` over the whole plane for Gaussian-exponential ``f`` and ``g``.

    ``(u1, u2) ~ N(0, [[v11, v12], [v12, v22]])``. Uses
    ``E[exp(a1 u1^2 + a2 u2^2 + t.u)] = det(I - 2 S A)^(-1/2) exp(t.P^(-1) t/2)``,
    ``P = S^(-1) - 2A``, and derivatives in ``t`` for the powers of ``u``.

    >>> from neurodyn.theory.symbols import q11, q12, q22
    >>> gaussian_exponential_2d(x, x**3, q11, q12, q22)
    3*q12*q22
    """
    t1, t2 = sympy.Dummy("t1"), sympy.Dummy("t2")
    S = sympy.Matrix([[v11, v12], [v12, v22]])
    total = sympy.S.Zero
    for c1, k1, a1, b1 in _gep_terms(f):
        for c2, k2, a2, b2 in _gep_terms(g):
            A = sympy.diag(a1, a2)
            M = sympy.eye(2) - 2 * S * A
            det = sympy.factor(M.det())
            Pinv = (M.inv() * S).applyfunc(sympy.cancel)      # (S^-1 - 2A)^-1
            tv = sympy.Matrix([t1, t2])
            gen = sympy.exp((tv.T * Pinv * tv)[0, 0] / 2) / sympy.sqrt(det)
            moment = sympy.diff(gen, t1, k1, t2, k2) if k1 or k2 else gen
            total += c1 * c2 * moment.subs({t1: b1, t2: b2})
    return total


# ----------------------------------------------------------------------------------------
# Numerical check of a closed form (independent of neurodyn.numerics on purpose)
# ----------------------------------------------------------------------------------------
_CHECK_VARIANCES = ("0.37", "1.9")


def verify_1d(closed, integrand, v_symbol, dps: int = 25, rtol: float = 1e-15) -> float:
    """Largest relative gap between ``closed`` and quadrature of ``E[integrand]``.

    Uses mpmath's tanh-sinh on each smooth piece; raises _TacticFailed when the
    gap exceeds ``rtol``. The sample variances are fixed, so checks are repeatable.
    """
    worst = 0.0
    pieces = pieces_of(integrand)
    with mpmath.workdps(dps):
        for v0 in _CHECK_VARIANCES:
            v0 = sympy.Rational(v0)
            exact = closed.subs(v_symbol, v0)
            exact = mpmath.mpmathify(sympy.N(exact, dps).as_real_imag()[0])
            total = mpmath.mpf(0)
            for piece in pieces:
                # lambdify is applied to an engine-built SymPy tree, never to user text
                fn = sympy.lambdify(x, piece.expr, "mpmath")
                s = mpmath.sqrt(mpmath.mpf(v0.p) / v0.q)
                lo = -mpmath.inf if piece.lo == -sympy.oo else mpmath.mpf(sympy.N(piece.lo, dps)) / s
                hi = mpmath.inf if piece.hi == sympy.oo else mpmath.mpf(sympy.N(piece.hi, dps)) / s
                total += mpmath.quad(lambda zz: fn(s * zz) * mpmath.npdf(zz), [lo, hi])
            scale = max(abs(total), mpmath.mpf(1))
            worst = max(worst, float(abs(total - exact) / scale))
    if worst > rtol:
        raise _TacticFailed(f"closed form disagrees with quadrature (relative gap {worst:.1e})")
    return worst


# ----------------------------------------------------------------------------------------
# Tactics
# ----------------------------------------------------------------------------------------
def _factor_radicands(expr):
    """sqrt(4q^2+4q+1) -> 2q+1 for positive q: factor the bases of fractional powers."""
    return expr.replace(
        lambda e: e.is_Pow and e.exp.is_Rational and not e.exp.is_Integer and e.base.is_Add,
        lambda e: sympy.factor(e.base) ** e.exp)


def _tidy(expr, seconds=1.5) -> sympy.Expr:
    """A cheap simplification within a budget (the raw form is kept if time runs out).

    Expressions holding unevaluated expectations are left as they are: simplify
    would fold the piecewise integrands out of the expectation.
    """
    if expr.has(UnevaluatedExpectation):
        return expr
    expr = _factor_radicands(sympy.expand(expr))
    try:
        with time_limit(seconds, "simplify"):
            out = sympy.simplify(expr)
    except BudgetExceeded:
        return expr
    out = _factor_radicands(out)
    return out if sympy.count_ops(out) <= sympy.count_ops(expr) else expr


def _tactic_termwise(integrand, v):
    """Linearity: a sum whose every term has a closed form (symmetry or Gaussian-exponential)."""
    terms = sympy.Add.make_args(sympy.expand(integrand))
    if len(terms) < 2:
        raise _TacticFailed("not a sum")
    total = sympy.S.Zero
    for term in terms:
        for tactic in (_tactic_symmetry, _tactic_gaussian_exponential):
            try:
                value, _ = tactic(term, v)
                break
            except _TacticFailed:
                continue
        else:
            raise _TacticFailed(f"term {term} has no closed form")
        total += value
    total = _tidy(total)
    return total, [Step("by linearity, term by term (odd terms vanish, Gaussian-exponential "
                        "terms integrated exactly)", total)]


def _tactic_symmetry(integrand, v):
    if sympy.expand(integrand.subs(x, -x) + integrand) == 0:
        return sympy.S.Zero, [Step("the integrand is odd in x, so its expectation vanishes", sympy.S.Zero)]
    raise _TacticFailed("integrand is not odd")


def _tactic_gaussian_exponential(integrand, v):
    pieces = pieces_of(integrand)
    total = sympy.S.Zero
    for piece in pieces:
        total += gaussian_exponential_1d(piece.expr, v, piece.lo, piece.hi)
    total = _tidy(total)
    if total.has(sympy.I):
        total = _tidy(sympy.re(sympy.expand_complex(total)))
    what = "split at the kinks; " if len(pieces) > 1 else ""
    return total, [Step(what + "each piece is a sum of x^k exp(a x^2 + b x) terms, integrated "
                        "exactly by completing the square", total,
                        what + r"each piece is a sum of terms $x^k e^{a x^2 + b x}$, integrated exactly by "
                        "completing the square")]


def expect(f, v, *, allow_price: bool = True, seconds: float = TACTIC_SECONDS,
           deadline: float | None = None) -> ExpectationResult:
    """``E_z[f(sqrt(v) z)]`` by the tactic pipeline (see the module docstring)."""
    return expect_product(f, sympy.S.One, v, allow_price=allow_price, seconds=seconds, deadline=deadline)


def run_tactics(attempts, verify, unevaluated, *, seconds, deadline) -> ExpectationResult:
    """Try ``attempts`` (name, thunk -> (value, steps)) in order, each within its budget.

    A tactic's closed form is accepted only after ``verify(value)`` (skipped for
    ``symmetry``, whose zero is exact); the first accepted wins. When none does, the
    result is ``unevaluated`` with a note per tactic saying why it failed.
    """
    notes = []
    for name, attempt in attempts:
        budget = seconds if deadline is None else min(seconds, deadline - time.monotonic())
        if budget <= 0.05:
            notes.append(f"{name}: skipped, the derivation's time budget is spent")
            continue
        try:
            with time_limit(budget, f"tactic {name}"):
                value, steps = attempt()
                if name != "symmetry":
                    verify(value)
        except (_TacticFailed, BudgetExceeded) as exc:
            notes.append(f"{name}: {exc}")
            continue
        return ExpectationResult(value, True, name, tuple(steps), tuple(notes))
    return ExpectationResult(unevaluated, False, "unevaluated",
                             (Step("no tactic found a closed form; the expectation stays unevaluated "
                                   "and is integrated numerically", unevaluated),), tuple(notes))


def expect_product(f, g, v, *, allow_price: bool = True, seconds: float = TACTIC_SECONDS,
                   deadline: float | None = None) -> ExpectationResult:
    """``E_z[f(u) g(u)]``, ``u = sqrt(v) z``, keeping the factorisation for Price's theorem.

    Each tactic runs for at most ``seconds``; with ``deadline`` (a
    ``time.monotonic()`` instant) no tactic runs past it, and the result is the
    unevaluated expectation with a note saying so. Price's theorem runs on the
    two-input expectation ``E[f(u1) g(u2)]`` at full correlation.
    """
    from .bivariate import price_integral
    from .closed_forms import lookup_1d

    f, g = sympy.sympify(f), sympy.sympify(g)
    integrand = f * g
    if integrand.has(sympy.DiracDelta):
        raise NotDefinedError(f"E[{integrand}] holds a Dirac delta")
    attempts = [
        ("catalogue", lambda: lookup_1d(f, g, v)),
        ("symmetry", lambda: _tactic_symmetry(integrand, v)),
        ("gaussian-exponential", lambda: _tactic_gaussian_exponential(integrand, v)),
        ("termwise", lambda: _tactic_termwise(integrand, v)),
    ]
    if allow_price and g != 1:
        attempts.append(("price", lambda: price_integral(f, g, v, v, v, seconds=seconds,
                                                         remark="full correlation: u1 = u2")))
    return run_tactics(attempts, lambda value: verify_1d(value, integrand, v),
                       GaussianExpectation(integrand, v), seconds=seconds, deadline=deadline)
