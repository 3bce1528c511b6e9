r"""Marginal fixed points: the expansion of a map there and the algebraic laws it implies (docs/theory.md §7.3).

At a fixed point where a one-dimensional map has slope exactly 1 the approach is
algebraic, not exponential. With ``y >= 0`` the distance to the fixed point on
the side it is approached from, the map reads

.. math::

    y' = y + \sum_k c_k\, y^{p_k}, \qquad p_1 < p_2 < \dots,\ p_k > 1,

(a Taylor series, or a Puiseux series with half-integer powers where the map has
a kink, as ReLU's c-map at ``c = 1``). Everything here is derived from the
registered laws, never from a table of activations:

* :func:`q_map_at_zero` - the q-map at the marginal point ``q* = 0`` of an
  activation with ``phi(0) = 0`` at ``sigma_b2 = 0``: ``E[F(sqrt(q) z)]`` with
  ``F = phi^2`` expanded by the one-sided Taylor series of ``F`` at 0
  (``E[z^n; z > 0] = 2^(n/2 - 1) Gamma((n+1)/2)/sqrt(pi)``; for a smooth ``F`` this is the
  heat equation's ``F^(2k)(0)/(2^k k!)``), and ``sigma_w2 = 1/phi'(0)^2``;
* :func:`q_map_at` - the q-map at a fixed point ``q* > 0`` (a saddle-node,
  ``V'(q*) = 1``): Taylor coefficients ``sigma_w2 E[F^(2k)(sqrt(q*) z)]/(2^k k!)`` by the heat
  equation (unevaluated expectations);
* :func:`c_map_at_one` - the c-map at ``c = 1`` on the critical line
  (``chi_1(q*) = 1``): ``C^(k)(1) = sigma_w2 q*^(k-1) E[phi^(k)(u)^2]`` (Price's theorem) for a
  smooth ``phi``, or the Puiseux series of the closed-form law (kinks);
* :func:`algebraic_law` - from ``y' = y - a y^p + ...`` the law
  ``y_l = (A l)^(-1/(p-1)) + ...`` with ``A = (p-1) a`` and its first correction (a universal
  ``ln l`` term, or a power when a term lies between ``p`` and ``2p - 1``);
* :func:`driven_law` - a linear map ``z' = g_l z + s_l`` driven along such a trajectory
  (metric, curvatures, NTK): ``g_l = 1 - gamma/l + ...``, ``s_l -> s_0``.

>>> from neurodyn.theory import catalog
>>> e = q_map_at_zero(catalog.get("sin"))
>>> e.sigma_w2, e.terms[:2]
(1, ((2, -1), (3, 2/3)))
>>> law = algebraic_law(e)
>>> law.exponent, law.constant, law.next_form, law.next_coefficient
(1, 1, 'log', -1/3)
>>> print(law)
q_l ~ 1/l - (1/3) ln(l)/l^2
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import sympy

from .activation import Activation
from .budget import time_limit
from .errors import NotDefinedError
from .expectation import GaussianExpectation
from .latex import expr_latex
from .symbols import c, layer, q, q_star, sigma_b2, sigma_w2, x
from .tactics import tidy

__all__ = ["Expansion", "AlgebraicLaw", "DrivenLaw", "q_map_at_zero", "q_map_at", "c_map_at_one",
           "series_at", "one_sided_gaussian_series", "algebraic_law", "driven_law", "driver_terms",
           "distance", "geometry_driver", "ntk_driver", "flip", "SERIES_SECONDS", "DEFAULT_ORDER"]

#: The distance to the marginal fixed point (``y >= 0``) and its square root (Puiseux variable).
distance = sympy.Symbol("y", positive=True)
_t = sympy.Symbol("t", positive=True)
#: Time budget of one symbolic series, seconds.
SERIES_SECONDS = 20.0
#: Default order: terms up to and including ``y^DEFAULT_ORDER``.
DEFAULT_ORDER = 3


def _tidy(expr):
    """:func:`neurodyn.theory.tactics.tidy` of anything SymPy reads (bounded; expectations left alone)."""
    return tidy(sympy.sympify(expr))


def _text(expr) -> str:
    return str(expr).replace("**", "^")


def _power_text(var: str, power) -> str:
    if power == 1:
        return var
    return f"{var}^{power}" if sympy.sympify(power).is_Integer else f"{var}^({power})"


@dataclass(frozen=True)
class Expansion:
    """``y' = y + sum(coefficient * y**power)`` at a marginal fixed point, with ``y >= 0`` the distance.

    ``quantity`` is the map's variable (``q`` or ``c``), ``limit`` the fixed point,
    ``side`` where the variable lies (``above``: ``x = limit + y``; ``below``: ``x = limit - y``),
    ``terms`` the pairs ``(power, coefficient)`` (Rational powers > 1, increasing; coefficients
    may hold ``sigma_w2``, ``sigma_b2``, ``q_star`` and unevaluated expectations), ``order``
    the power of the first term not computed (the remainder is ``O(y^order)``), ``how`` how it
    was obtained, ``sigma_w2`` the weight variance it holds at when the point fixes it (else None).
    """

    quantity: str
    limit: sympy.Expr
    side: str
    terms: tuple
    order: sympy.Rational
    how: str
    sigma_w2: sympy.Expr | None = None
    point: dict = field(default_factory=dict)

    def coefficient(self, power) -> sympy.Expr:
        """The coefficient of ``y**power`` (0 when absent; ValueError beyond the known order)."""
        power = sympy.Rational(power)
        if power >= self.order:
            raise ValueError(f"the coefficient of y^{power} is beyond the expansion's order {self.order}")
        return dict(self.terms).get(power, sympy.S.Zero)

    def leading(self):
        """``(p, a)`` of the first term, written ``-a y^p`` (``a > 0`` when the point attracts)."""
        if not self.terms:
            raise NotDefinedError(f"the map of {self.quantity} is y' = y + O(y^{self.order}) here: no "
                                  f"nonlinear term found up to that order")
        p, coeff = self.terms[0]
        return p, -coeff

    def subs(self, mapping) -> "Expansion":
        """The expansion with symbols replaced (e.g. ``{sigma_w2: 1, q_star: ...}``)."""
        terms = tuple((p, sympy.sympify(k).subs(mapping)) for p, k in self.terms)
        return replace(self, terms=tuple((p, k) for p, k in terms if k != 0))

    @property
    def variable_text(self) -> str:
        if self.limit == 0 and self.side == "above":
            return self.quantity
        return f"{self.limit} - {self.quantity}" if self.side == "below" else f"{self.quantity} - {self.limit}"

    def __str__(self) -> str:
        parts = ["y"]
        for p, k in self.terms:
            parts.append(f"({_text(k)})*{_power_text('y', p)}")
        return (f"y' = {' + '.join(parts)} + O({_power_text('y', self.order)}),  y = {self.variable_text} "
                f"({self.how})")

    def latex(self) -> str:
        """``y' = y + ...`` in LaTeX."""
        y = distance
        parts = ["y"]
        for p, k in self.terms:
            term = expr_latex(k * _Power(y, p))
            parts.append(("- " + term[1:].lstrip()) if term.startswith("-") else "+ " + term)
        return "y' = " + " ".join(parts) + r" + O\bigl(" + expr_latex(_Power(y, self.order)) + r"\bigr)"


def _Power(y, p):
    """``y**p`` kept unevaluated for display (``y^{3/2}``)."""
    return sympy.Pow(y, p, evaluate=False) if p != 1 else y


@dataclass(frozen=True)
class AlgebraicLaw:
    """``y_l = constant * l**(-exponent) + next_coefficient * (ln l) * l**(-next_power) + ...`` (log form),
    or ``... + next_coefficient * l**(-next_power)`` (power form).

    ``constant`` and the first correction are universal (independent of where the
    iteration starts); the remainder, ``O(l**(-exponent - 1))``, is not.
    """

    quantity: str
    variable: str
    side: str
    exponent: sympy.Expr
    constant: sympy.Expr
    next_form: str | None
    next_power: sympy.Expr | None
    next_coefficient: sympy.Expr | None
    p: sympy.Expr
    a: sympy.Expr

    def expression(self, with_next: bool = True) -> sympy.Expr:
        """The law as a SymPy expression in the layer ``l``."""
        out = self.constant * layer ** (-self.exponent)
        if with_next and self.next_form == "log":
            out += self.next_coefficient * sympy.log(layer) * layer ** (-self.next_power)
        elif with_next and self.next_form == "power":
            out += self.next_coefficient * layer ** (-self.next_power)
        return out

    def __str__(self) -> str:
        def term(k, power, log=False):
            k = sympy.nsimplify(k) if k.is_Float else k
            mag = abs(k) if k.is_number else k
            sign = "-" if (k.is_number and k < 0) else "+"
            lp = "ln(l)/" if log else "/"
            denom = _power_text("l", power)
            if mag == 1 and not log:
                return sign, f"1/{denom}"
            return sign, f"({_text(mag)}) {lp.rstrip('/') + '/' if log else '/'}{denom}".replace(") /", ")/")
        sign, first = term(self.constant, self.exponent)
        text = f"{self.variable}_l ~ {first}"
        if self.next_form is not None:
            sign2, second = term(self.next_coefficient, self.next_power, self.next_form == "log")
            text += f" {sign2} {second}"
        return text

    def latex(self) -> str:
        lhs = {"q": "q^{l}", "c": "1 - c^{l}"}.get(self.variable, self.variable + "_{l}")
        return lhs + r" \simeq " + expr_latex(self.expression())


@dataclass(frozen=True)
class DrivenLaw:
    """The fate of ``z_{l+1} = g_l z_l + s_l`` with ``g_l = 1 - gamma/l + o(1/l)``, ``s_l = s_0 + s_1 l^(-tau) + ...``.

    ``kind``: ``algebraic`` (``z_l ~ constant * l**(-exponent)``; a negative exponent is growth),
    ``converged`` (to a limit that depends on the start). ``constant`` is None when it is not
    universal (it depends on the whole trajectory, hence on the start).
    """

    kind: str
    exponent: sympy.Expr | None
    constant: sympy.Expr | None
    universal: bool
    note: str

    def __str__(self) -> str:
        if self.kind == "converged":
            return f"converges ({self.note})"
        amp = "C" if self.constant is None else f"({_text(self.constant)})"
        return f"~ {amp} l^{_text(-self.exponent) if self.exponent != -1 else '1'}  ({self.note})"


# ----------------------------------------------------------------------------------------
# series
# ----------------------------------------------------------------------------------------
def _collect_t(series_expr, order2: int) -> dict:
    """``{k: coefficient of t**k}`` of a polynomial in ``t`` (``k < order2``)."""
    poly = sympy.expand(series_expr)
    out = {}
    for k in range(order2):
        coeff = sympy.simplify(poly.coeff(_t, k))
        if coeff != 0:
            out[k] = coeff
    return out


def series_at(expr, var, limit, side: str, order=DEFAULT_ORDER, linear: str = "check", seconds=SERIES_SECONDS,
              quantity: str | None = None, how: str = "Puiseux series of the closed-form law") -> Expansion:
    """The expansion of the closed-form map ``var -> expr`` at its fixed point ``limit`` from ``side``.

    ``y = t**2`` and the series is taken in ``t`` (half-integer powers of ``y``
    appear as odd powers of ``t``). ``linear="check"`` requires the slope to be
    exactly 1 (else ValueError); ``"drop"`` assumes it (the caller has checked it
    numerically, e.g. ``chi_1(q*) = 1`` on the critical line) and drops that term.

    >>> from neurodyn.theory.symbols import c
    >>> relu = (sympy.sqrt(1 - c**2) + (sympy.pi - sympy.acos(c)) * c) / sympy.pi
    >>> series_at(relu, c, 1, "below", order=2).terms
    ((3/2, -2*sqrt(2)/(3*pi)),)
    """
    sign = 1 if side == "above" else -1
    order = sympy.Rational(order)
    order2 = int(2 * order) + 1
    with time_limit(seconds, f"the series of the {quantity or var} map at {limit}"):
        image = expr.subs(var, limit + sign * _t**2)
        shifted = sign * (image - limit)
        ser = sympy.series(shifted, _t, 0, order2).removeO()
        coeffs = _collect_t(ser, order2)
    if coeffs.get(0, 0) != 0 or coeffs.get(1, 0) != 0:
        raise ValueError(f"{limit} is not a fixed point of the {quantity or var} map")
    slope = coeffs.pop(2, sympy.S.Zero)
    if linear == "check" and sympy.simplify(slope - 1) != 0:
        raise ValueError(f"the slope of the {quantity or var} map at {limit} is {slope}, not 1: not marginal")
    terms = tuple((sympy.Rational(k, 2), coeffs[k]) for k in sorted(coeffs) if k > 2)
    return Expansion(quantity or str(var), sympy.sympify(limit), side, terms, sympy.Rational(order2, 2), how)


def _one_sided_moment(n: int):
    """``E[z^n; z > 0]`` for a standard Gaussian ``z``: ``2^(n/2 - 1) Gamma((n+1)/2)/sqrt(pi)``."""
    return 2 ** sympy.Rational(n, 2) / 2 * sympy.gamma(sympy.Rational(n + 1, 2)) / sympy.sqrt(sympy.pi)


def one_sided_gaussian_series(activation: Activation, integrand, order, seconds=SERIES_SECONDS) -> dict:
    """``E[F(sqrt(q) z)]`` as a series in ``q`` at 0: ``{power: coefficient}``, powers ``n/2 < order + 1/2``.

    ``F = integrand(phi)`` is expanded on each side of 0 (the activation's pieces
    next to 0, so a kink at 0 gives half-integer powers):
    ``E[F(sqrt(q) z)] ~ sum_n q^(n/2) (F+_n + (-1)^n F-_n) E[z^n; z > 0]``. Away from 0
    the pieces only add terms exponentially small in ``1/q``.

    >>> from neurodyn.theory import catalog
    >>> one_sided_gaussian_series(catalog.get("tanh"), lambda phi: phi**2, 3)
    {1: 1, 2: -2, 3: 17/3}
    """
    pieces = activation.pieces
    right = next(p for p in pieces if p.lo < 0 < p.hi or p.lo == 0)
    left = next(p for p in pieces if p.lo < 0 < p.hi or p.hi == 0)
    n_max = int(2 * order)
    out: dict = {}
    with time_limit(seconds, f"the series of E[F(sqrt(q) z)] at q = 0 for {activation.name}"):
        sides = []
        for piece in (right, left):
            f = sympy.sympify(integrand(piece.expr))
            sides.append(sympy.expand(sympy.series(f, x, 0, n_max + 1).removeO()))
        for n in range(n_max + 1):
            coeff = sides[0].coeff(x, n) + (-1) ** n * sides[1].coeff(x, n)
            coeff = sympy.simplify(coeff * _one_sided_moment(n))
            if coeff != 0:
                out[sympy.Rational(n, 2)] = coeff
    return out


# ----------------------------------------------------------------------------------------
# the marginal points
# ----------------------------------------------------------------------------------------
def q_map_at_zero(activation: Activation, order=DEFAULT_ORDER) -> Expansion:
    """The q-map at its marginal point ``q* = 0`` (``phi(0) = 0``, ``sigma_b2 = 0``, ``sigma_w2 phi'(0)^2 = 1``).

    The expansion holds at ``sigma_w2 = 1/phi'(0)^2`` (recorded in ``sigma_w2``),
    ``y = q`` from above.

    >>> from neurodyn.theory import catalog
    >>> e = q_map_at_zero(catalog.get("erf"))
    >>> e.sigma_w2, e.terms
    (pi/4, ((2, -2), (3, 14/3)))
    """
    series = one_sided_gaussian_series(activation, lambda phi: phi**2, order)
    if 0 in series:
        raise NotDefinedError(f"phi(0) != 0 for {activation.name}: q* = 0 is not a fixed point at sigma_b2 = 0")
    if sympy.Rational(1, 2) in series:
        raise NotDefinedError(f"E[phi(sqrt(q) z)^2] has a sqrt(q) term for {activation.name}: q = 0 is not "
                              f"a fixed point with slope 1")
    linear = series.get(sympy.S.One, sympy.S.Zero)
    if not (linear.is_positive):
        raise NotDefinedError(f"phi'(0) = 0 for {activation.name}: no sigma_w2 makes q* = 0 marginal")
    sw2 = _tidy(1 / linear)
    terms = tuple((p, _tidy(sw2 * k)) for p, k in sorted(series.items()) if p > 1)
    return Expansion("q", sympy.S.Zero, "above", terms, sympy.Rational(int(2 * order) + 1, 2),
                     "one-sided Taylor series of phi^2 at 0 under the Gaussian (heat equation)", sw2,
                     {"sigma_w2": sw2, "sigma_b2": sympy.S.Zero})


def q_map_at(activation: Activation, order=DEFAULT_ORDER) -> Expansion:
    """The q-map at a fixed point ``q* > 0`` with ``V'(q*) = 1`` (a saddle-node), from above (signed ``y``).

    ``V(q* + y) = q* + y + sum_k sigma_w2 E[F^(2k)(sqrt(q*) z)]/(2^k k!) y^k``,
    ``F = phi^2`` (heat equation). The coefficients are unevaluated expectations at
    ``q*``; which side attracts is decided by the sign of the first one (numerics),
    and :func:`flip` gives the expansion for the side below.
    """
    if not activation.is_continuous(int(2 * order) - 1):
        raise NotDefinedError(f"{activation.name} is not smooth enough for the Taylor series of the q-map")
    F = activation.piecewise ** 2
    terms = []
    for k in range(2, int(order) + 1):
        deriv = sympy.diff(F, x, 2 * k)
        terms.append((sympy.Integer(k), sigma_w2 * GaussianExpectation(deriv, q_star) / (2**k * sympy.factorial(k))))
    return Expansion("q", q_star, "above", tuple(terms), sympy.Integer(int(order) + 1),
                     "Taylor series by the heat equation (d/dq E[F(sqrt(q) z)] = E[F''(sqrt(q) z)]/2)")


def flip(expansion: Expansion) -> Expansion:
    """The same (integer-power) expansion for the other side: ``y -> -y``."""
    if any(not p.is_Integer for p, _ in expansion.terms):
        raise ValueError("a Puiseux expansion holds on one side only")
    terms = tuple((p, -(-1) ** int(p) * k) for p, k in expansion.terms)
    side = "below" if expansion.side == "above" else "above"
    return replace(expansion, side=side, terms=terms)


def c_map_at_one(activation: Activation, c_map_law=None, order=DEFAULT_ORDER, point=None) -> Expansion:
    """The c-map at ``c = 1`` on the critical line (``chi_1(q*) = 1``), ``y = 1 - c`` from below.

    Smooth ``phi`` (Price's theorem): ``1 - C(1 - y) = y + sum_k (-1)^(k+1) sigma_w2 q*^(k-1)
    E[phi^(k)(sqrt(q*) z)^2] y^k/k!``, ``k >= 2``. A kinked ``phi`` needs the closed-form
    law ``c_map_law`` and exact numbers ``point`` (``{sigma_w2: 2, sigma_b2: 0}``): its
    Puiseux series.

    >>> from neurodyn.theory import catalog
    >>> e = c_map_at_one(catalog.get("tanh"), order=2)
    >>> e.terms
    ((2, -q_star*sigma_w2*E_z[4*(tanh(sqrt(q_star)*z)**2 - 1)**2*tanh(sqrt(q_star)*z)**2]/2),)
    """
    n = int(order)
    if activation.is_continuous(n):
        terms = []
        for k in range(2, n + 1):
            dk = activation.derivative(k)
            coeff = (-1) ** (k + 1) * sigma_w2 * q_star ** (k - 1) * GaussianExpectation(dk**2, q_star) \
                / sympy.factorial(k)
            terms.append((sympy.Integer(k), coeff))
        return Expansion("c", sympy.S.One, "below", tuple(terms), sympy.Integer(n + 1),
                         "Taylor series by Price's theorem, C^(k)(1) = sigma_w2 q*^(k-1) E[phi^(k)(u)^2]")
    if c_map_law is None or not c_map_law.closed or point is None:
        raise NotDefinedError(f"{activation.name} has kinks and no closed-form c-map: its expansion at c = 1 "
                              f"is not available")
    expr = c_map_law.expr.subs(point)
    out = series_at(expr, c, 1, "below", order, linear="check", quantity="c")
    return replace(out, point=dict(point))


# ----------------------------------------------------------------------------------------
# the laws
# ----------------------------------------------------------------------------------------
def algebraic_law(expansion: Expansion) -> AlgebraicLaw:
    r"""The law of ``y_l`` from ``y' = y - a y^p + ...``, derived for any ``p > 1``.

    With ``u = y^(-(p-1))``: ``u' = u + A + B y^(p-1) + ...``, ``A = (p-1) a``,
    ``B = p(p-1) a^2/2 - (p-1) b`` (``b`` the coefficient of ``y^(2p-1)``), hence
    ``u_l = A l + (B/A) ln l + O(1)`` and

    ``y_l = (A l)^(-1/(p-1)) - B/((p-1) A^2) (A)^(-1/(p-1)) ln(l) l^(-1/(p-1) - 1) + O(l^(-1/(p-1) - 1))``.

    A term ``b_r y^r`` with ``p < r < 2p - 1`` gives a larger, power-law correction
    ``(A l)^(-1/(p-1)) b_r A^(-s-1) l^(-s)/(1 - s)``, ``s = (r - p)/(p - 1)``.

    >>> from neurodyn.theory import catalog
    >>> str(algebraic_law(q_map_at_zero(catalog.get("tanh"))))
    'q_l ~ (1/2)/l + (5/24) ln(l)/l^2'
    """
    p, a = expansion.leading()
    one = sympy.S.One
    A = _tidy((p - 1) * a)
    exponent = one / (p - 1)
    constant = _tidy(A ** (-exponent))
    between = [(r, k) for r, k in expansion.terms[1:] if p < r < 2 * p - 1]
    if between:
        r, b_r = between[0]
        s = (r - p) / (p - 1)
        coeff = _tidy(constant * b_r * A ** (-s - 1) / (1 - s))
        form, power = "power", exponent + s
    else:
        b = expansion.coefficient(2 * p - 1)
        B = p * (p - 1) * a**2 / 2 - (p - 1) * b
        coeff = _tidy(-B / ((p - 1) * A**2) * constant)
        form, power = ("log", exponent + 1) if coeff != 0 else (None, None)
        if form is None:
            coeff = None
    variable = expansion.quantity if expansion.limit == 0 and expansion.side == "above" else \
        f"{expansion.limit} - {expansion.quantity}" if expansion.side == "below" else \
        f"{expansion.quantity} - {expansion.limit}"
    if expansion.quantity == "c" and expansion.limit == 1:
        variable = "1 - c"
    return AlgebraicLaw(expansion.quantity, variable, expansion.side, exponent, constant, form, power,
                        coeff, p, a)


def driver_terms(expansion: Expansion, g_minus_one: dict, source: dict) -> tuple:
    """``(gamma, s0, s1, tau)`` of a linear map driven along the expansion's trajectory.

    ``g_minus_one`` and ``source`` are ``{power of y: coefficient}`` of ``g(y) - 1`` and
    ``s(y)``; along ``y_l ~ (A l)^(-1/(p-1))``: ``g_l = 1 - gamma/l + ...`` with
    ``gamma = -g_(p-1)/A`` (0 when ``g - 1`` starts beyond ``y^(p-1)``), and
    ``s_l = s0 + s1 l^(-tau) + ...``. A ``g - 1`` starting below ``y^(p-1)`` makes the
    product of the ``g_l`` a stretched exponential, not a power: NotDefinedError.
    """
    p, a = expansion.leading()
    A = (p - 1) * a
    g_terms = {sympy.Rational(k): v for k, v in g_minus_one.items() if v != 0}
    gamma = sympy.S.Zero
    if g_terms:
        low = min(g_terms)
        if low < p - 1:
            raise NotDefinedError("the map's coefficient approaches 1 more slowly than 1/l: not a power law")
        if low == p - 1:
            gamma = _tidy(-g_terms[low] / A)
    s_terms = {sympy.Rational(k): v for k, v in source.items() if v != 0}
    s0 = s_terms.pop(sympy.S.Zero, sympy.S.Zero)
    if s_terms:
        low = min(s_terms)
        tau = low / (p - 1)
        s1 = _tidy(s_terms[low] * A ** (-tau))
    else:
        s1, tau = sympy.S.Zero, None
    return gamma, s0, s1, tau


def driven_law(gamma, s0, s1=0, tau=None) -> DrivenLaw:
    r"""The fate of ``z_{l+1} = (1 - gamma/l + ...) z_l + s_l``, ``s_l = s0 + s1 l^(-tau) + ...``.

    The homogeneous solution is ``C l^(-gamma)`` (``C`` set by the whole trajectory: not
    universal). A source ``s0 != 0`` gives the particular solution ``s0 l/(1 + gamma)``,
    universal, which dominates when ``1 + gamma > 0``; a decaying source ``s1 l^(-tau)``
    gives ``s1 l^(1-tau)/(1 + gamma - tau)`` when ``1 - tau > -gamma``.

    >>> str(driven_law(2, sympy.Symbol("q_star")))
    '~ (q_star/3) l^1  (the source s_0 = q_star accumulates: s_0 l/(1 + gamma), gamma = 2)'
    >>> str(driven_law(1, 0))
    '~ C l^-1  (homogeneous: the product of the g_l ~ C l^(-gamma), gamma = 1; C depends on the start)'
    """
    gamma, s0, s1 = sympy.sympify(gamma), sympy.sympify(s0), sympy.sympify(s1)
    homogeneous = DrivenLaw("algebraic", gamma, None, False,
                            f"homogeneous: the product of the g_l ~ C l^(-gamma), gamma = {_text(gamma)}; "
                            f"C depends on the start") if gamma != 0 else \
        DrivenLaw("converged", None, None, False, "g_l - 1 is summable and there is no source: the product of the "
                                                  "g_l converges to a start-dependent limit")
    if s0 != 0:
        if (1 + gamma).is_positive is False:
            if 1 + gamma == 0:
                return DrivenLaw("algebraic", sympy.S.NegativeOne, None, False,
                                 "gamma = -1: z_l ~ l ln l (not a pure power)")
            return homogeneous
        return DrivenLaw("algebraic", sympy.S.NegativeOne, _tidy(s0 / (1 + gamma)), True,
                         f"the source s_0 = {_text(s0)} accumulates: s_0 l/(1 + gamma), gamma = {_text(gamma)}")
    if s1 != 0 and tau is not None and tau < 1 + gamma:      # 1 - tau > -gamma
        return DrivenLaw("algebraic", tau - 1, _tidy(s1 / (1 + gamma - tau)), True,
                         f"the decaying source s_1 l^(-{tau}) accumulates: s_1 l^(1-tau)/(1 + gamma - tau)")
    return homogeneous


def _series_dict(expr, order) -> dict:
    """``{power: coefficient}`` of ``expr`` (a function of ``y``) at ``y = 0``, powers below ``order``."""
    order2 = int(2 * order)
    ser = sympy.series(expr.subs(distance, _t**2), _t, 0, order2).removeO()
    return {sympy.Rational(k, 2): v for k, v in _collect_t(ser, order2).items()}


def geometry_driver(activation: Activation, name: str, dim, order=2, seconds=SERIES_SECONDS) -> tuple:
    """``(g(y) - 1, s(y))`` as ``{power: coefficient}`` for the geometry map ``name`` at ``q* = 0``.

    The map is ``z' = g(q) z + s(q)`` (:data:`neurodyn.theory.geometry.RECURSIONS`) with
    ``chi_1(q)``, ``chi_2(q)`` expanded at ``q = 0`` like the q-map (:func:`q_map_at_zero`,
    whose ``sigma_w2`` they are taken at), ``y = q``.

    >>> from neurodyn.theory import catalog
    >>> geometry_driver(catalog.get("tanh"), "metric", 1)
    ({1: -2, 2: 7}, {})
    >>> geometry_driver(catalog.get("tanh"), "Hsq", 2)
    ({1: 2, 2: -3}, {1: 32, 2: -128})
    """
    from .geometry import RECURSIONS
    from .symbols import chi1, chi2, m

    rec = RECURSIONS[name]
    sw2 = q_map_at_zero(activation, order).sigma_w2
    series = {}
    with time_limit(seconds, f"the series of the {name} map at q = 0"):
        for symbol, integrand in ((chi1, lambda phi: sympy.diff(phi, x) ** 2),
                                  (chi2, lambda phi: sympy.diff(phi, x, 2) ** 2)):
            if not rec.expr.has(symbol):
                continue
            if symbol == chi2 and not activation.is_continuous(1):
                raise NotDefinedError(f"chi_2 is not defined for {activation.name}: phi' jumps at a kink")
            terms = one_sided_gaussian_series(activation, integrand, order, seconds)
            series[symbol] = sw2 * sum(k * distance**p for p, k in terms.items())
        g_expr = sympy.diff(rec.expr, rec.state).xreplace(series).subs(m, dim)
        s_expr = rec.expr.subs(rec.state, 0).xreplace(series).subs(m, dim)
        g = _series_dict(g_expr - 1, order + 1)
        s = _series_dict(s_expr, order + 1) if s_expr != 0 else {}
    return g, s


def ntk_driver(expansion: Expansion, q_value) -> tuple:
    """``(g - 1, s)`` of the NTK map driven by the c-map's expansion (``y = 1 - c``) at length ``q_value``.

    ``Theta' = q* C(c) + chi_c(c) Theta`` with ``chi_c = dC/dc = dy'/dy`` (Price's theorem):
    ``g(y) = 1 + sum_k k c_k y^(k-1)``, ``s(y) = q* (1 - y - sum_k c_k y^k)``, from the expansion itself.

    >>> from neurodyn.theory import catalog
    >>> from neurodyn.theory.symbols import q_star
    >>> ntk_driver(q_map_at_zero(catalog.get("sin")), q_star)
    ({1: -2, 2: 2}, {0: q_star, 1: -q_star, 2: q_star, 3: -2*q_star/3})
    """
    g = {p - 1: p * k for p, k in expansion.terms}
    s = {sympy.S.Zero: q_value, sympy.S.One: -q_value}
    for p, k in expansion.terms:
        s[p] = s.get(p, 0) - q_value * k
    return g, s
