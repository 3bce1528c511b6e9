"""Activation functions: a SymPy expression in ``x``, its pieces, kinks and derivatives.

An activation is split once into smooth *pieces* on the intervals between its
kinks (the points where a ``Piecewise`` condition, ``Max``, ``Min``, ``Abs``,
``sign`` or ``Heaviside`` switches). Every Gaussian expectation and every
quadrature works piece by piece, so kinks never spoil convergence.

>>> relu = Activation.parse("max(0, x)", name="relu")
>>> relu.kinks
(0,)
>>> relu.derivative(1)
Piecewise((0, x < 0), (1, True))
>>> relu.jumps(1)         # phi' jumps by 1 at 0, so phi'' holds a Dirac delta
((0, 1),)
>>> Activation.parse("exp(x**2)")
Traceback (most recent call last):
...
neurodyn.theory.errors.ActivationError: exp(x**2) grows like exp(a*x**2) or faster: its Gaussian expectations diverge; use an activation with log|phi(x)| = o(x**2)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import mpmath
import sympy

from .budget import remaining, time_limit
from .errors import ActivationError, BudgetExceeded
from .parse import parse_expression
from .symbols import x

__all__ = ["Activation", "Piece", "pieces_of", "piecewise_from"]

_KINKY = (sympy.Piecewise, sympy.Max, sympy.Min, sympy.Abs, sympy.sign, sympy.Heaviside)


@dataclass(frozen=True)
class Piece:
    """``expr`` is the function on the open interval ``(lo, hi)``."""

    lo: sympy.Expr
    hi: sympy.Expr
    expr: sympy.Expr

    def midpoint(self):
        if self.lo == -sympy.oo and self.hi == sympy.oo:
            return sympy.Integer(0)
        if self.lo == -sympy.oo:
            return self.hi - 1
        if self.hi == sympy.oo:
            return self.lo + 1
        return (self.lo + self.hi) / 2


def _real_roots(g, rel) -> list:
    """The real roots of the polynomial ``g`` in x (coefficients may be algebraic, e.g. sqrt(2))."""
    try:
        poly = sympy.Poly(g, x)
    except sympy.PolynomialError:
        raise ActivationError(
            f"kink condition {rel} is not polynomial in x; write kinks as comparisons "
            "of polynomials in x (e.g. where(x > 1, ...))") from None
    if poly.degree() > 4:
        raise ActivationError(f"kink condition {rel} has degree > 4")
    if poly.domain.is_ZZ or poly.domain.is_QQ:
        return list(poly.real_roots())
    if not all(c.is_real for c in poly.all_coeffs()):
        raise ActivationError(f"kink condition {rel} has coefficients that are not real")
    roots = sympy.roots(poly, x)                  # radicals (degree <= 4)
    if sum(roots.values()) != poly.degree():
        raise ActivationError(f"cannot find the points where {rel} switches; write kinks as "
                              "comparisons of polynomials with rational coefficients")
    out = []
    for r in roots:
        value = sympy.N(r, 40)
        if abs(sympy.im(value)) <= sympy.Float(10) ** -30 * (1 + abs(value)):
            out.append(sympy.re(r) if r.is_real is not True else r)
    return out


def _switch_points(cond) -> set:
    points = set()
    for rel in cond.atoms(sympy.core.relational.Relational):
        g = sympy.expand(rel.lhs - rel.rhs)
        if not g.has(x):
            continue
        points.update(_real_roots(g, rel))
    return points


def _distinct_sorted(points) -> list:
    """``points`` sorted, with symbolically different forms of one number kept once."""
    out = []
    for p in sorted(points, key=lambda p: sympy.N(p, 40)):
        if out and abs(sympy.N(p - out[-1], 40)) <= sympy.Float(10) ** -30 * (1 + abs(sympy.N(p, 40))):
            continue
        out.append(p)
    return out


def _same_function(a, b, at) -> bool:
    """Whether two adjacent pieces are one function (then their common end is no kink).

    Cheap tests first: identical, or different at ``at`` (numerically); only then a
    simplification, briefly bounded (when it runs out, the pieces stay apart: a spare
    kink with no jump is harmless).
    """
    if a == b:
        return True
    try:
        value = sympy.N((a - b).subs(x, at), 30)
        if value.is_number and value.is_finite and abs(value) > sympy.Float(10) ** -20:
            return False
    except (TypeError, ValueError, ArithmeticError):
        pass
    outer = remaining()
    if outer is not None and outer <= 0.5:
        return False
    try:
        with time_limit(0.5, "merging pieces"):
            return sympy.simplify(a - b) == 0
    except BudgetExceeded:
        if remaining() is not None and remaining() <= 0.01:
            raise
        return False


def _holds(cond, at) -> bool | None:
    """Truth of ``cond`` at x = at (exactly, else at 50 digits), None if undecidable."""
    for value in (at, sympy.N(at, 50)):
        truth = cond.subs(x, value)
        if truth in (sympy.true, sympy.false):
            return bool(truth)
    return None


def pieces_of(expr: sympy.Expr, seconds: float = 5.0) -> tuple[Piece, ...]:
    """Split ``expr`` (in ``x``) into smooth pieces between its kinks.

    Kinks may sit at algebraic points (the real roots of polynomial conditions of
    degree <= 4). Anything else is an :class:`ActivationError` with a one-line
    message, never an exception from inside SymPy.

    >>> pieces_of(sympy.Abs(x))
    (Piece(lo=-oo, hi=0, expr=-x), Piece(lo=0, hi=oo, expr=x))
    >>> [p.hi for p in pieces_of(sympy.Max(x, x**3/2))][:-1]
    [-sqrt(2), 0, sqrt(2)]
    >>> pieces_of(sympy.Piecewise((x, x > sympy.sqrt(2)), (0, True)))
    (Piece(lo=-oo, hi=sqrt(2), expr=0), Piece(lo=sqrt(2), hi=oo, expr=x))
    """
    expr = sympy.sympify(expr)
    if not expr.has(*_KINKY):
        return (Piece(-sympy.oo, sympy.oo, expr),)
    try:
        with time_limit(seconds, "splitting at kinks", optional=True):
            return _split(expr)
    except BudgetExceeded:
        left = remaining()
        if left is not None and left <= 0.01:
            raise                   # the caller's budget ran out, not this one: the caller decides
        raise ActivationError(f"splitting {expr} at its kinks took too long") from None
    except (ActivationError, KeyboardInterrupt):
        raise
    except Exception as exc:                  # noqa: BLE001 - SymPy's failures become ours
        raise ActivationError(f"cannot split {expr} at its kinks ({_one_line(exc)})") from exc


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _split(expr) -> tuple[Piece, ...]:
    folded = sympy.piecewise_fold(expr.rewrite(sympy.Piecewise))
    if not isinstance(folded, sympy.Piecewise):
        if folded.has(sympy.Piecewise):
            raise ActivationError(f"cannot split {expr} into pieces")
        return (Piece(-sympy.oo, sympy.oo, folded),)
    points = set()
    for _, cond in folded.args:
        points |= _switch_points(cond)
    kinks = _distinct_sorted(points)
    bounds = [-sympy.oo, *kinks, sympy.oo]
    pieces = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        probe = Piece(lo, hi, sympy.S.Zero).midpoint()
        for branch, cond in folded.args:
            truth = _holds(cond, probe)
            if truth is None:
                raise ActivationError(f"cannot decide the condition {cond} of {expr} on ({lo}, {hi})")
            if truth:
                break
        else:
            raise ActivationError(f"{expr} is not defined on ({lo}, {hi})")
        if pieces and _same_function(pieces[-1].expr, branch, probe):
            pieces[-1] = Piece(pieces[-1].lo, hi, pieces[-1].expr)
        else:
            pieces.append(Piece(lo, hi, branch))
    return tuple(pieces)


def piecewise_from(pieces) -> sympy.Expr:
    """The single expression (a ``Piecewise`` when there are kinks) of ``pieces``."""
    if len(pieces) == 1:
        return pieces[0].expr
    branches = [(p.expr, x < p.hi) for p in pieces[:-1]]
    branches.append((pieces[-1].expr, True))
    return sympy.Piecewise(*branches)


def _value(expr, at) -> mpmath.mpf | None:
    """expr at x = at as an mpf, or None if not a finite real number there."""
    try:
        val = sympy.N(expr.subs(x, at), 20)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    if val.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo) or not val.is_number:
        return None
    re, im = val.as_real_imag()
    if abs(im) > 1e-12 * (1 + abs(re)):
        return None
    return mpmath.mpf(str(re))


_PROBES = ("-7.3", "-3.1", "-1.7", "-0.6", "-0.21", "0", "0.13", "0.5", "1.1", "2.9", "6.4")


@dataclass(frozen=True)
class Activation:
    """An activation function ``phi(x)``.

    Parameters
    ----------
    name : str
        A short name (used in printouts and file names).
    expr : sympy.Expr
        The function of the canonical symbol :data:`~neurodyn.theory.symbols.x`.
    params : tuple of (str, number) pairs
        The family parameters the expression was built with (for display).
    """

    name: str
    expr: sympy.Expr
    params: tuple = field(default=())

    def __post_init__(self):
        if not isinstance(self.expr, sympy.Expr):
            raise ActivationError(f"activation must be a SymPy expression, got {type(self.expr).__name__}")
        extra = self.expr.free_symbols - {x}
        if extra:
            names = ", ".join(sorted(str(s) for s in extra))
            raise ActivationError(f"unknown symbol(s) {names}: an activation is a function of x only")
        if self.expr.has(sympy.DiracDelta, sympy.Integral, sympy.Derivative):
            raise ActivationError("delta functions, integrals and derivatives are not allowed in an activation")
        self._validate()

    # -- construction -----------------------------------------------------------------
    @classmethod
    def parse(cls, text: str, name: str | None = None, params: dict | None = None) -> "Activation":
        """Parse a user string safely (see :mod:`neurodyn.theory.parse`).

        >>> Activation.parse("a*tanh(x)", name="scaled_tanh", params={"a": "1.5"}).expr
        3*tanh(x)/2
        """
        expr = parse_expression(text, params)
        shown = tuple((k, str(v)) for k, v in (params or {}).items())
        return cls(name or text.strip(), expr, shown)

    def _validate(self):
        try:
            self._check_real_finite_and_growth()
        except (ActivationError, KeyboardInterrupt):
            raise
        except Exception as exc:              # noqa: BLE001 - SymPy's failures become ours
            raise ActivationError(f"cannot check {self.expr} ({_one_line(exc)})") from exc

    def _check_real_finite_and_growth(self):
        for piece in self.pieces:
            probes = [sympy.Rational(p) for p in _PROBES]
            probes = [p for p in probes if piece.lo < p < piece.hi] or [piece.midpoint()]
            for p in probes:
                if _value(piece.expr, p) is None:
                    raise ActivationError(
                        f"{self.expr} is not a finite real number at x = {p}; "
                        "an activation must be real and finite on the whole line")
        for piece in self.pieces:
            for power in piece.expr.atoms(sympy.Pow):
                base, expo = power.as_base_exp()
                if not (expo.is_number and expo.is_negative and base.has(x)):
                    continue
                try:
                    roots = sympy.Poly(base, x).real_roots()
                except sympy.PolynomialError:
                    continue
                for r in roots:
                    if bool(piece.lo < r) and bool(r < piece.hi):
                        raise ActivationError(f"{self.expr} has a pole at x = {r}; "
                                              "an activation must be finite on the whole line")
        for piece, sign in ((self.pieces[0], -1), (self.pieces[-1], 1)):
            ratios = []
            for big in (10**4, 10**6):
                val = _value(piece.expr, sign * big)
                if val is None:
                    raise ActivationError(f"{self.expr} is not finite at x = {sign * big}")
                ratios.append(0 if val == 0 else float(mpmath.log(abs(val))) / big**2)
            if ratios[1] > 1e-4:
                raise ActivationError(
                    f"{self.expr} grows like exp(a*x**2) or faster: its Gaussian expectations "
                    "diverge; use an activation with log|phi(x)| = o(x**2)")

    # -- structure --------------------------------------------------------------------
    @functools.cached_property
    def pieces(self) -> tuple[Piece, ...]:
        """Smooth pieces between the kinks (one piece for a smooth activation)."""
        return pieces_of(self.expr)

    @property
    def kinks(self) -> tuple:
        """Points where a piece ends (the derivative may jump there)."""
        return tuple(p.hi for p in self.pieces[:-1])

    @functools.cached_property
    def piecewise(self) -> sympy.Expr:
        """``phi`` as one expression, a ``Piecewise`` over the pieces if it has kinks."""
        return piecewise_from(self.pieces)

    @functools.lru_cache(maxsize=8)
    def derivative(self, n: int = 1) -> sympy.Expr:
        """The n-th derivative away from the kinks (piece by piece).

        Jumps of lower derivatives at kinks (Dirac deltas) are reported by :meth:`jumps`.
        """
        if n < 0:
            raise ValueError("derivative order must be >= 0")
        return piecewise_from([Piece(p.lo, p.hi, sympy.diff(p.expr, x, n)) for p in self.pieces])

    @functools.lru_cache(maxsize=8)
    def jumps(self, n: int = 0) -> tuple:
        """Nonzero jumps ``(kink, right - left)`` of the n-th derivative at the kinks."""
        try:
            return self._jumps(n)
        except (ActivationError, KeyboardInterrupt):
            raise
        except Exception as exc:              # noqa: BLE001 - SymPy's failures become ours
            raise ActivationError(f"cannot find the jumps of the derivative {n} of {self.expr} at its kinks "
                                  f"({_one_line(exc)})") from exc

    def _jumps(self, n: int) -> tuple:
        out = []
        for left, right in zip(self.pieces[:-1], self.pieces[1:]):
            k = left.hi
            values = []
            for piece in (left, right):
                d = sympy.diff(piece.expr, x, n)
                val = d.subs(x, k)
                if val.has(sympy.nan, sympy.zoo) or not val.is_finite:
                    val = sympy.limit(d, x, k, "-" if piece is left else "+")
                values.append(val)
            jump = sympy.nsimplify(sympy.simplify(values[1] - values[0]))
            if jump != 0:
                out.append((k, jump))
        return tuple(out)

    def is_continuous(self, n: int = 0) -> bool:
        """True when derivatives 0..n have no jumps (so n+1 derivatives hold no delta)."""
        return all(not self.jumps(k) for k in range(n + 1))

    def latex(self) -> str:
        """``\\phi(x) = ...`` in LaTeX."""
        return r"\phi(x) = " + sympy.latex(self.expr)

    def __str__(self) -> str:
        return f"{self.name}: phi(x) = {self.expr}"
