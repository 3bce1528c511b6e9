r"""The tactic registry and pipeline: ``expect``, ``expect_product``, ``expect2``.

:data:`TACTICS` lists every tactic in the order they are tried; a tactic runs
on the problems it applies to (one input, two inputs, or both). Each runs
within a time budget, and every closed form is checked against an independent
quadrature (:mod:`neurodyn.theory.checks`) before it is accepted. When no
tactic succeeds the result is the unevaluated expectation, which the numerics
integrate.

>>> from neurodyn.theory.symbols import x, q, q11, q12, q22
>>> expect(x**4, q).value
3*q**2
>>> r = expect_product(sympy.erf(x), sympy.erf(x), q)
>>> r.value, r.tactic
(2*asin(2*q/(2*q + 1))/pi, 'price')
>>> expect(sympy.tanh(x)**2, q).value
E_z[tanh(sqrt(q)*z)**2]
>>> r = expect2(sympy.Max(0, x), sympy.Max(0, x), q11, q12, q22)
>>> r.tactic
'price'
>>> [t.name for t in TACTICS]
['catalogue', 'symmetry', 'mehler', 'gaussian-exponential', 'termwise', 'price']
"""

from __future__ import annotations

import sympy

from ..checks import verify_1d, verify_2d
from ..errors import NotDefinedError
from ..expectation import BivariateGaussianExpectation, ExpectationResult, GaussianExpectation
from . import catalogue, gaussian_exponential, mehler, price, symmetry, termwise
from .base import TACTIC_SECONDS, Problem, Tactic, run_tactics

__all__ = ["TACTICS", "tactic", "expect", "expect_product", "expect2"]

#: Every tactic, in the order they are tried.
TACTICS: tuple = (catalogue.TACTIC, symmetry.TACTIC, mehler.TACTIC, gaussian_exponential.TACTIC,
                  termwise.TACTIC, price.TACTIC)


def tactic(name: str) -> Tactic:
    """The registered tactic ``name`` (KeyError when there is none)."""
    for t in TACTICS:
        if t.name == name:
            return t
    raise KeyError(f"no tactic {name!r}; tactics: {', '.join(t.name for t in TACTICS)}")


def _one_input_without_price(h, v):
    return expect(h, v, allow_price=False)


def expect(f, v, *, allow_price: bool = True, seconds: float = TACTIC_SECONDS,
           deadline: float | None = None) -> ExpectationResult:
    """``E_z[f(sqrt(v) z)]`` by the tactic pipeline (see the module docstring)."""
    return expect_product(f, sympy.S.One, v, allow_price=allow_price, seconds=seconds, deadline=deadline)


def expect_product(f, g, v, *, allow_price: bool = True, seconds: float = TACTIC_SECONDS,
                   deadline: float | None = None) -> ExpectationResult:
    """``E_z[f(u) g(u)]``, ``u = sqrt(v) z``, keeping the factorisation for Price's theorem.

    Each tactic runs for at most ``seconds``; with ``deadline`` (a
    ``time.monotonic()`` instant) no tactic runs past it, and the result is the
    unevaluated expectation with a note saying so. Price's theorem runs on the
    two-input expectation ``E[f(u1) g(u2)]`` at full correlation (not when
    ``g`` is 1 or ``allow_price`` is false).
    """
    f, g = sympy.sympify(f), sympy.sympify(g)
    integrand = f * g
    if integrand.has(sympy.DiracDelta):
        raise NotDefinedError(f"E[{integrand}] holds a Dirac delta")
    problem = Problem(f, g, v, v, v, inputs=1, seconds=seconds, one_input=_one_input_without_price)
    tactics = [t for t in TACTICS if t is not price.TACTIC or (allow_price and g != 1)]
    return run_tactics(tactics, problem, lambda value: verify_1d(value, integrand, v),
                       GaussianExpectation(integrand, v), seconds=seconds, deadline=deadline)


def expect2(f, g, v11, v12, v22, *, seconds: float = TACTIC_SECONDS,
            deadline: float | None = None) -> ExpectationResult:
    """``E[f(u1) g(u2)]``, ``(u1, u2) ~ N(0, [[v11, v12], [v12, v22]])``, by the tactic pipeline.

    Never raises on failure: the result is then the unevaluated expectation.
    """
    f, g = sympy.sympify(f), sympy.sympify(g)
    problem = Problem(f, g, v11, v12, v22, inputs=2, seconds=seconds, one_input=_one_input_without_price)
    return run_tactics(TACTICS, problem, lambda value: verify_2d(value, f, g, (v11, v12, v22)),
                       BivariateGaussianExpectation(f, g, v11, v12, v22), seconds=seconds, deadline=deadline)
