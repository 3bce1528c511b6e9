"""Tactic ``price``: Price's theorem, the heat equation in the covariance.

``d/ds E[f(u1) g(u2)] = E[f'(u1) g'(u2)]`` with ``s = Cov(u1, u2)``
(distributionally: a kink of ``f`` gives a Dirac delta in ``f'``).
Differentiate until the expectation is Gaussian-exponential or sifts a delta,
then integrate back from ``s = 0`` (where the expectation factorises into
one-input expectations) to ``s = v12``. One input is the case of full
correlation, ``u1 = u2``.

>>> from neurodyn.theory.symbols import x, q11, q12, q22
>>> from neurodyn.theory.tactics import expect
>>> relu = sympy.Max(0, x)
>>> value, steps = price_integral(relu, relu, q11, q12, q22,
...                               one_input=lambda h, v: expect(h, v, allow_price=False))
>>> value
(2*q12*asin(q12/(sqrt(q11)*sqrt(q22))) + q12*pi + 2*sqrt(q11*q22 - q12**2))/(4*pi)
"""

from __future__ import annotations

import sympy
from sympy.integrals.manualintegrate import manualintegrate

from ..budget import time_limit
from ..errors import BudgetExceeded, NotDefinedError
from ..expectation import Distribution, Step
from .base import TACTIC_SECONDS, Tactic, TacticFailed, tidy
from .gaussian_exponential import closed_pair

__all__ = ["price_integral", "TACTIC"]


def _integrate_back(K, t, constant, seconds):
    """constant + int_0^t K(s) ds, by manualintegrate then integrate, bounded."""
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
    raise TacticFailed(f"could not integrate back in the covariance ({last})")


def _half_integer_power_of_a_quadratic(K, t):
    """``(B, e)``: a power ``B^e`` in ``K`` that SymPy's integrators cannot integrate in ``t``, or None.

    ``B`` is a quadratic polynomial in ``t`` whose coefficients hold other symbols (the
    variances) and ``e <= -3/2`` a half-integer, counting every factor of one product
    with the same expanded base (``sqrt((a-t)(a+t)) (a^2-t^2)^2`` is ``(a^2-t^2)^(5/2)``).
    Such terms come from Price's theorem when a derivative is a Gaussian-exponential with
    a non-constant polynomial prefactor (GELU's chi_1, chi_c: ``phi'' = (2 - x^2) pdf(x)``).
    ``manualintegrate`` leaves ``(a^2 - t^2)^(-3/2)`` unevaluated, ``integrate`` gives a
    Piecewise with complex branches, and both run for minutes on ``-5/2``
    (tests/test_price_fail_fast.py checks the first two): the back-integration is not attempted.
    """
    nodes = [K] + [node for node in sympy.preorder_traversal(K) if node.is_Mul]
    for node in nodes:
        factors = sympy.Mul.make_args(node) if node.is_Mul else (node,)
        total = {}
        for factor in factors:
            if factor.is_Pow and factor.base.has(t) and factor.exp.is_Rational:
                base = sympy.expand(factor.base)
                total[base] = total.get(base, 0) + factor.exp
        for base, exponent in total.items():
            if exponent.q != 2 or exponent > -1:
                continue
            poly = sympy.Poly(base, t) if base.is_polynomial(t) else None
            if poly is not None and poly.degree() == 2 and base.free_symbols - {t}:
                return base, exponent
    return None


def _exponential_of_a_fraction_with_a_radical(K, t):
    """``exp(g)`` in ``K`` with ``g`` rational but not polynomial in ``t``, beside a radical in ``t``; or None.

    Kinks of ``f`` off zero (hard tanh at +-1) sift the bivariate density at the kink:
    ``exp(-(k1^2 q22 - 2 k1 k2 t + k2^2 q11)/(2 (q11 q22 - t^2)))/sqrt(q11 q22 - t^2)``.
    Its integral in ``t`` is a bivariate normal probability, not elementary: Risch's
    algorithm in SymPy does not take the radical, ``manualintegrate`` leaves it unevaluated
    and ``integrate`` runs for minutes (tests/test_price_fail_fast.py checks the first).
    """
    radical = any(p.exp.is_Rational and not p.exp.is_Integer and p.base.has(t)
                  for p in K.atoms(sympy.Pow))
    if not radical:
        return None
    for e in K.atoms(sympy.exp):
        g = sympy.together(e.args[0])
        if g.has(t) and not g.is_polynomial(t):
            return e
    return None


def _refused(K, t):
    """Why the back-integration of ``K`` in ``t`` is not attempted (SymPy cannot do it), or None."""
    power = _half_integer_power_of_a_quadratic(K, t)
    if power is not None:
        return f"the integral of ({power[0]})^({power[1]}) in t"
    exponential = _exponential_of_a_fraction_with_a_radical(K, t)
    if exponential is not None:
        return f"the integral of {exponential} times a radical in t (a bivariate normal probability)"
    return None


def _one_input(F: Distribution, v, one_input):
    """E[F(u)], u ~ N(0, v), in closed form (no Price) or TacticFailed."""
    res = one_input(F.regular, v) if F.regular != 0 else None
    if res is not None and not res.closed:
        raise TacticFailed(f"E[{F.regular}] at zero covariance has no closed form")
    value = res.value if res is not None else sympy.S.Zero
    for k, ck in F.deltas:
        value += ck * sympy.exp(-k**2 / (2 * v)) / sympy.sqrt(2 * sympy.pi * v)
    return value


def price_integral(f, g, v11, v12, v22, *, one_input, max_order=3, seconds=TACTIC_SECONDS, remark=""):
    """E[f(u1) g(u2)] by Price's theorem in the covariance: (value, steps).

    ``remark`` is added to the last step (``t = v12``), e.g. "full correlation".
    ``one_input(h, v)`` evaluates the one-input expectations at zero covariance
    (an :class:`~neurodyn.theory.expectation.ExpectationResult`).
    """
    t = sympy.Dummy("t", real=True)
    F, G = [Distribution.of(f)], [Distribution.of(g)]
    steps = []
    for m in range(1, max_order + 1):
        try:
            F.append(F[-1].derivative())
            G.append(G[-1].derivative())
        except NotDefinedError:
            break
        try:
            K = closed_pair(F[m], G[m], v11, t, v22)
        except TacticFailed:
            continue
        refused = _refused(K, t)
        if refused is not None:         # known before any simplification or integration is tried
            raise TacticFailed(f"integrating back in the covariance needs {refused}, "
                               "which SymPy's integrators do not find: not attempted")
        K = tidy(K)
        steps.append(Step(
            f"Price's theorem, differentiated {m} time(s) in the covariance $q_{{12}} = t$: "
            rf"$\partial_t^{{{m}}}\,\mathbb{{E}}[f(u_1)\,g(u_2)] = \mathbb{{E}}[f^{{({m})}}(u_1)\,g^{{({m})}}(u_2)]$, "
            "which is known in closed form (Gaussian-exponential terms, Dirac deltas sifted)", K))
        current = K
        for j in range(m - 1, -1, -1):
            const = tidy(_one_input(F[j], v11, one_input) * _one_input(G[j], v22, one_input))
            current = tidy(_integrate_back(current, t, const, seconds))
            steps.append(Step(
                r"integrate back in $t$ from $t = 0$, where $u_1$ and $u_2$ are independent and "
                rf"$\mathbb{{E}}[f^{{({j})}}(u_1)\,g^{{({j})}}(u_2)] = \mathbb{{E}}[f^{{({j})}}]\,"
                rf"\mathbb{{E}}[g^{{({j})}}] = @0$", current, (const,)))
        value = tidy(current.subs(t, v12))
        tail = f" ({remark})" if remark else ""
        steps.append(Step(r"set $t = @0$" + tail, value, (v12,)))
        return value, steps
    raise TacticFailed(f"no derivative up to order {max_order} reached a closed form")


def _price(p):
    if p.inputs == 1:
        return price_integral(p.f, p.g, p.v, p.v, p.v, seconds=p.seconds, remark="full correlation: u1 = u2",
                              one_input=p.one_input)
    return price_integral(p.f, p.g, *p.cov, seconds=p.seconds, one_input=p.one_input)


TACTIC = Tactic(
    "price",
    r"Price's theorem: with $u_1, u_2$ jointly Gaussian with covariance $t$, "
    r"$\partial_t \mathbb{E}[f(u_1) g(u_2)] = \mathbb{E}[f'(u_1) g'(u_2)]$ (a kink of $f$ "
    "puts a Dirac delta in $f'$). The expectation was differentiated in $t$ until a known form "
    "appeared (Gaussian-exponential terms, sifted deltas), integrated back in $t$ from $t = 0$, "
    "where $u_1$ and $u_2$ are independent and the expectation factorises (this fixes the "
    "constant), and evaluated at the covariance wanted ($t = q$ for one input, $t = q_{12}$ for "
    "two); the result was checked against quadrature",
    frozenset({1, 2}), _price)
