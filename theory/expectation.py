r"""Gaussian expectations as SymPy objects, derivation steps, and tactic results.

``E_z[f(sqrt(v) z)]`` (one input) is :class:`GaussianExpectation`, a SymPy
expression that prints as the papers write it and differentiates by the heat
equation ``d/dv E[f(sqrt(v) z)] = E[f''(sqrt(v) z)]/2``.
``E[f(u1) g(u2)]``, ``(u1, u2) ~ N(0, [[v11, v12], [v12, v22]])`` (two inputs),
is :class:`BivariateGaussianExpectation`, which differentiates by Price's
theorem ``d/dv12 E[f(u1) g(u2)] = E[f'(u1) g'(u2)]``. An unevaluated
expectation is a valid answer: the numerics integrate it.

The tactics that evaluate expectations are in :mod:`neurodyn.theory.tactics`;
what they return is an :class:`ExpectationResult` made of :class:`Step` s.

>>> from neurodyn.theory.symbols import q
>>> GaussianExpectation(x**2, q)
E_z[q*z**2]
>>> s = Step(r"$\chi_1 = \sigma_w^2\,\mathbb{E}_z[\phi'(\sqrt{q}\,z)^2]$ at $q = @0$", slots=(q**2,))
>>> s.description
"chi_1 = sigma_w^2 E_z[phi'(sqrt(q) z)^2] at q = q**2"
>>> s.tex
"$\\chi_1 = \\sigma_w^2\\,\\mathbb{E}_z[\\phi'(\\sqrt{q}\\,z)^2]$ at $q = q^{2}$"
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sympy

from .activation import Piece, pieces_of, piecewise_from
from .errors import NotDefinedError
from .latex import plain_text, text_latex
from .symbols import x, z

__all__ = [
    "UnevaluatedExpectation", "GaussianExpectation", "BivariateGaussianExpectation", "heat_derivative",
    "continuous_derivative", "Distribution", "Step", "ExpectationResult", "is_closed",
]


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
                raise NotDefinedError("d/dv11 of a kinked expectation holds Dirac deltas")
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


def is_closed(expr) -> bool:
    """True when ``expr`` holds no unevaluated Gaussian expectation."""
    return not expr.has(UnevaluatedExpectation)


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
        """The distributional derivative; NotDefinedError when it would need a delta's derivative."""
        if self.deltas:
            raise NotDefinedError("the derivative of a Dirac delta is not handled")
        pieces = pieces_of(self.regular)
        regular = piecewise_from([Piece(p.lo, p.hi, sympy.diff(p.expr, x)) for p in pieces])
        jumps = []
        for left, right in zip(pieces[:-1], pieces[1:]):
            k = left.hi
            jump = sympy.simplify(right.expr.subs(x, k) - left.expr.subs(x, k))
            if jump != 0:
                jumps.append((k, jump))
        return Distribution(regular, tuple(jumps))


_SLOT = re.compile(r"@(\d+)")


@dataclass(frozen=True)
class Step:
    r"""One step of a derivation: what was done and the expression it gave.

    The sentence is written once, in ``source``: LaTeX text mode with its
    mathematics in ``$...$``; ``@0``, ``@1``, ... (inside the mathematics) stand
    for the expressions in ``slots``, printed by each renderer. :attr:`tex` (for documents) and
    :attr:`description` (plain text) are both rendered from it. Use
    :meth:`text` for a sentence written in plain words only.
    """

    source: str
    expr: sympy.Expr | None = None
    slots: tuple = field(default=())

    @classmethod
    def text(cls, words: str, expr=None) -> "Step":
        """A step whose sentence is plain text (escaped for LaTeX here, once)."""
        return cls(text_latex(words), expr)

    @property
    def tex(self) -> str:
        """The sentence in LaTeX (slots as inline mathematics)."""
        if not self.slots:
            return self.source
        return _SLOT.sub(lambda m: sympy.latex(self.slots[int(m.group(1))]), self.source)

    @property
    def description(self) -> str:
        """The sentence in plain text (slots as SymPy prints them)."""
        if not self.slots:
            return plain_text(self.source)
        return _SLOT.sub(lambda m: str(self.slots[int(m.group(1))]), plain_text(self.source))


@dataclass(frozen=True)
class ExpectationResult:
    """The outcome of the tactic pipeline.

    ``value`` is a closed form when ``closed`` is true, else an expression
    holding unevaluated expectation nodes. ``tactic`` names the winner
    (``"unevaluated"`` when none won); ``steps`` record how; ``notes`` say
    what was tried and why it failed (budgets included).
    """

    value: sympy.Expr
    closed: bool
    tactic: str
    steps: tuple = ()
    notes: tuple = field(default=())
