"""Tactic ``gaussian-exponential``: sums of ``x**k exp(a x**2 + b x)``, integrated exactly.

Polynomials, exp, sin, cos, sinh, cosh and Gaussians are written as sums of
``c x**k exp(a x**2 + b x)`` terms; each is integrated by completing the
square, on each smooth piece (split at the kinks) for one input, over the
plane (moment generating function) for two, where point masses of a
distributional derivative (Dirac deltas) are sifted (:func:`closed_pair`).

>>> from neurodyn.theory.symbols import x, q
>>> gaussian_exponential_1d(x**2, q, lo=0)
q/2
"""

from __future__ import annotations

import sympy

from ..activation import pieces_of
from ..expectation import Distribution, Step
from ..symbols import x
from .base import Tactic, TacticFailed, tidy

__all__ = ["gaussian_exponential_terms", "gaussian_exponential_1d", "gaussian_exponential_2d",
           "closed_pair", "one_input", "TACTIC"]

_REWRITABLE = (sympy.sin, sympy.cos, sympy.sinh, sympy.cosh)


def gaussian_exponential_terms(expr) -> list[tuple]:
    """Write ``expr`` as a sum of ``c x**k exp(a x**2 + b x)``; list of (c, k, a, b).

    Raises TacticFailed when ``expr`` is not of that form.
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
                raise TacticFailed(f"factor {factor} is not x**k exp(quadratic)")
        try:
            poly = sympy.Poly(sympy.expand(exponent), x)
        except sympy.PolynomialError:
            raise TacticFailed(f"exponent {exponent} is not polynomial in x") from None
        if poly.degree() > 2:
            raise TacticFailed(f"exponent {exponent} has degree > 2")
        a, b, c0 = (poly.coeff_monomial(x**2), poly.coeff_monomial(x), poly.coeff_monomial(1))
        if not (a.is_real and (a <= 0) == sympy.true):
            raise TacticFailed(f"exp({exponent}) grows like a Gaussian")
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
    """``E[expr(u) 1{lo < u < hi}]``, ``u ~ N(mean, v)``, for Gaussian-exponential ``expr``."""
    t = sympy.Dummy("t")
    total = sympy.S.Zero
    for coeff, k, a, b in gaussian_exponential_terms(expr):
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
    for c1, k1, a1, b1 in gaussian_exponential_terms(f):
        for c2, k2, a2, b2 in gaussian_exponential_terms(g):
            A = sympy.diag(a1, a2)
            M = sympy.eye(2) - 2 * S * A
            det = sympy.factor(M.det())
            Pinv = (M.inv() * S).applyfunc(sympy.cancel)      # (S^-1 - 2A)^-1
            tv = sympy.Matrix([t1, t2])
            gen = sympy.exp((tv.T * Pinv * tv)[0, 0] / 2) / sympy.sqrt(det)
            moment = sympy.diff(gen, t1, k1, t2, k2) if k1 or k2 else gen
            total += c1 * c2 * moment.subs({t1: b1, t2: b2})
    return total


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


def closed_pair(F: Distribution, G: Distribution, v11, v12, v22) -> sympy.Expr:
    """E[F(u1) G(u2)] when every part is Gaussian-exponential or sifts a delta (else TacticFailed)."""
    total = sympy.S.Zero
    if F.regular != 0 and G.regular != 0:
        if len(pieces_of(F.regular)) > 1 or len(pieces_of(G.regular)) > 1:
            raise TacticFailed("both factors have kinks: an orthant integral")
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


def one_input(integrand, v):
    """``(value, steps)`` of ``E[integrand(u)]``, ``u ~ N(0, v)``, piece by piece."""
    pieces = pieces_of(integrand)
    total = sympy.S.Zero
    for piece in pieces:
        total += gaussian_exponential_1d(piece.expr, v, piece.lo, piece.hi)
    total = tidy(total)
    if total.has(sympy.I):
        total = tidy(sympy.re(sympy.expand_complex(total)))
    what = "split at the kinks; " if len(pieces) > 1 else ""
    return total, [Step(what + r"each piece is a sum of terms $x^k e^{a x^2 + b x}$, integrated exactly by "
                        "completing the square", total)]


def _gaussian_exponential(p):
    if p.inputs == 1:
        return one_input(p.integrand, p.v)
    value = tidy(closed_pair(Distribution.of(p.f), Distribution.of(p.g), *p.cov))
    return value, [Step.text("Gaussian-exponential terms integrated exactly over the plane "
                             "(moment generating function)", value)]


TACTIC = Tactic(
    "gaussian-exponential",
    "exact integration: on each smooth piece the integrand is a sum of terms "
    r"$x^k e^{a x^2 + b x}$, integrated by completing the square; the result "
    "was checked against quadrature",
    frozenset({1, 2}), _gaussian_exponential)
