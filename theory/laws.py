r"""The law registry and ``derive_uncached(activation) -> Laws``: mean-field laws, with provenance.

Conventions (docs/theory.md §0.1; parameters are variances), ``u = sqrt(q) z``:

.. math::

    V(q) = \sigma_w^2 E[\phi(u)^2] + \sigma_b^2, \quad
    \chi_\parallel(q) = V'(q), \quad
    \chi_1(q) = \sigma_w^2 E[\phi'(u)^2], \quad
    \chi_2(q) = \sigma_w^2 E[\phi''(u)^2].

Every law is one entry of the registry (:data:`LAWS`), made by decorating its
builder with :func:`law`: its name, notation (text and LaTeX), title, the
variables it takes (and the point it is taken at, e.g. ``q*``), and the
builder, a function of a :class:`Derivation` that returns the :class:`Law`.
A builder may use expectations (``d.expect_product``, ``d.expect2``, shared
between laws) and laws derived before it (``d.law("chi_1")``), so laws compose.
:func:`derive_uncached` derives every registered law in the order registered
(:func:`neurodyn.theory.derive` adds the derivation cache and a worker process).

>>> from neurodyn.theory import catalog
>>> laws = derive_uncached(catalog.get("erf"))
>>> laws.q_map.expr
sigma_b2 + 2*sigma_w2*asin(2*q/(2*q + 1))/pi
>>> laws.chi_1.expr, laws.chi_1.tactic
(4*sigma_w2/(pi*sqrt(4*q + 1)), 'gaussian-exponential')
>>> derive_uncached(catalog.get("relu")).chi_2.defined
False
>>> LAWS["c_map"].variables, LAWS["c_map"].at
(('c',), ('q_star',))
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import sympy

from .activation import Activation
from .budget import budget_scale
from .expectation import ExpectationResult, Step, is_closed
from .latex import law_latex, laws_latex
from .notation import Notation, register_notation
from .symbols import Theta, c, d, q, q11, q12, q22, q_star, sigma_b2, sigma_w2, x
from .tactics import TACTICS, expect2, expect_product, tidy

__all__ = ["derive_uncached", "Law", "Laws", "LawSpec", "LAWS", "law", "unregister_law", "Derivation",
           "describe_method", "LAW_NAMES", "LAW_GROUPS", "law_names", "SINGLE_INPUT", "TWO_INPUT", "DERIVE_SECONDS"]

#: Default time budget of a whole derivation, seconds.
DERIVE_SECONDS = 25.0


@dataclass(frozen=True)
class Law:
    """One derived law: its expression and how it was obtained.

    ``expr`` is a SymPy expression in the law's variables, ``sigma_w2`` and
    ``sigma_b2`` (``None`` when the law is not defined, with the reason in ``note``).
    ``closed`` says whether it is free of unevaluated expectations;
    ``tactic`` and ``steps`` say how it was derived.
    """

    name: str
    expr: sympy.Expr | None
    closed: bool
    tactic: str
    steps: tuple = ()
    note: str = ""
    notes: tuple = field(default=())

    @property
    def defined(self) -> bool:
        return self.expr is not None

    @property
    def lhs(self) -> str:
        spec = LAWS.get(self.name)
        return spec.notation.text if spec is not None else self.name

    def __str__(self) -> str:
        if not self.defined:
            return f"{self.lhs} : not defined ({self.note})"
        return f"{self.lhs} = {self.expr}"

    def _latex(self, printer=None):
        return law_latex(self)

    def _repr_latex_(self):
        return "$" + self._latex() + "$"


@dataclass(frozen=True)
class Laws:
    """The laws derived for one activation; ``laws.q_map``, ``laws["chi_1"]``, iteration."""

    activation: Activation
    entries: tuple

    def __getitem__(self, name: str) -> Law:
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise KeyError(f"no law {name!r}; laws: {', '.join(l.name for l in self.entries)}")

    def __getattr__(self, name: str) -> Law:
        if name.startswith("_") or name in ("activation", "entries"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(str(exc)) from None

    def __iter__(self):
        return iter(self.entries)

    def __str__(self) -> str:
        lines = [str(self.activation)]
        for entry in self.entries:
            how = "closed form" if entry.closed else "unevaluated expectation"
            lines.append(f"{entry}    [{how if entry.defined else 'undefined'}; {entry.tactic}]")
        return "\n".join(lines)

    def _latex(self, printer=None):
        return laws_latex(self)

    def _repr_latex_(self):
        return "$\\displaystyle " + self._latex().replace("\\\\\n", "\\\\ ") + "$"


# ----------------------------------------------------------------------------------------
# The registry
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LawSpec:
    """A registered law: how it is written, what it takes, how it is built.

    ``variables`` are the names of the law's own arguments (``("q",)``;
    ``("q11", "q12", "q22")``; ``("c",)``), ``at`` the names of the point it is
    taken at (``("q_star",)``); every law also takes ``sigma_w2`` and ``sigma_b2``.
    ``build(derivation) -> Law``. ``group`` says where the law is shown: one of
    :data:`LAW_GROUPS` (``derive``'s sections, the documents' sections).
    """

    name: str
    notation: Notation
    title: str
    variables: tuple
    at: tuple
    build: Callable
    group: str = "single-input"

    @property
    def single_input(self) -> bool:
        """True for a law of one input's length ``q`` alone."""
        return self.variables == ("q",) and not self.at


#: Every registered law by name, in the order they are derived and shown.
LAWS: dict = {}

#: The groups laws are shown in, in order: one input's length, two inputs, the signal manifold's geometry.
LAW_GROUPS = ("single-input", "two-input", "geometry")


def law(name: str, text: str, tex: str, *, title: str, variables: tuple, at: tuple = (), group: str | None = None):
    """Register the decorated builder as the law ``name`` (one registry entry).

    ``text`` and ``tex`` are its left-hand side in plain text and LaTeX; ``group``
    (one of :data:`LAW_GROUPS`) defaults to ``single-input`` for a law of ``q``
    alone and ``two-input`` otherwise.
    """
    variables, at = tuple(variables), tuple(at)
    if group is None:
        group = "single-input" if variables == ("q",) and not at else "two-input"
    if group not in LAW_GROUPS:
        raise ValueError(f"law {name}: group must be one of {LAW_GROUPS}, got {group!r}")

    def register(build: Callable) -> Callable:
        notation = Notation(text, tex)
        LAWS[name] = LawSpec(name, notation, title, variables, at, build, group)
        register_notation(name, notation)
        return build
    return register


def unregister_law(name: str) -> None:
    """Remove the law ``name`` from the registry (for laws registered at run time)."""
    del LAWS[name]


#: How the law-level methods work, in the words of a methods section (LaTeX).
LAW_METHODS = {
    "differentiation": "differentiation of the closed-form length map $V(q)$ in $q$",
    "heat equation": r"the heat equation $\frac{d}{dq}\mathbb{E}_z[f(\sqrt{q}\,z)] = "
                     r"\frac12 \mathbb{E}_z[f''(\sqrt{q}\,z)]$ applied to $f = \phi^2$",
    "density derivative": r"differentiation of the Gaussian density in $q$ ($\phi$ jumps, so "
                          r"$\phi'$ holds Dirac deltas)",
}


def describe_method(name: str) -> str | None:
    """How the tactic or law-level method ``name`` works (LaTeX), or None when unknown.

    >>> describe_method("symmetry")
    'symmetry: the integrand is odd in $x$, so its Gaussian expectation vanishes'
    """
    for t in TACTICS:
        if t.name == name:
            return t.description
    return LAW_METHODS.get(name)


class Derivation:
    """The state of one derivation, handed to every law builder.

    ``activation``; ``expect_product(f, g, v)`` and ``expect2(f, g, v11, v12, v22)``
    run the tactic pipeline within the derivation's deadline, each expectation
    once (laws share them); ``law(name)`` is the law ``name``, derived on first use.
    """

    def __init__(self, activation: Activation, seconds: float):
        self.activation = activation
        self.deadline = time.monotonic() + seconds * budget_scale()
        self._expectations: dict = {}
        self._laws: dict = {}

    def expect_product(self, f, g, v) -> ExpectationResult:
        key = ("1", f, g, v)
        if key not in self._expectations:
            self._expectations[key] = expect_product(f, g, v, deadline=self.deadline)
        return self._expectations[key]

    def expect2(self, f, g, v11, v12, v22) -> ExpectationResult:
        key = ("2", f, g, v11, v12, v22)
        if key not in self._expectations:
            self._expectations[key] = expect2(f, g, v11, v12, v22, deadline=self.deadline)
        return self._expectations[key]

    def law(self, name: str) -> Law:
        if self._laws.get(name, True) is None:
            raise RecursionError(f"the law {name} is built from itself")
        if name not in self._laws:
            self._laws[name] = None                     # being built
            try:
                built = LAWS[name].build(self)
            finally:
                del self._laws[name]
            if built.name != name:
                raise ValueError(f"the builder of {name} returned the law {built.name}")
            if built.expr is not None and built.expr.has(sympy.zoo, sympy.nan, sympy.oo):
                # e.g. a constant phi: chi_1 = 0, and the curvature maps divide by it
                built = undefined(name, f"{name} is not finite for this activation (its expression "
                                        f"holds {'a division by zero' if built.expr.has(sympy.zoo) else 'an infinity'})")
            self._laws[name] = built
        return self._laws[name]


def derive_uncached(activation: Activation, seconds: float = DERIVE_SECONDS) -> Laws:
    """Derive every registered law of ``activation`` (no cache; see :func:`derive`)."""
    if not isinstance(activation, Activation):
        raise TypeError(f"derive() needs an Activation, got {type(activation).__name__}")
    derivation = Derivation(activation, seconds)
    return Laws(activation, tuple(derivation.law(name) for name in list(LAWS)))


# ----------------------------------------------------------------------------------------
# The laws
# ----------------------------------------------------------------------------------------
def from_expectation(name, result: ExpectationResult, build, extra_steps=()) -> Law:
    """The law ``build(E)`` of an expectation's result, with the result's provenance."""
    expr = build(result.value)
    return Law(name, expr, is_closed(expr), result.tactic, tuple(extra_steps) + result.steps, notes=result.notes)


def undefined(name, why) -> Law:
    """A law that is not defined for this activation, and why."""
    return Law(name, None, False, "not defined", (), note=why)


def _delta_terms(act: Activation, v):
    """sum_k phi(k) [phi']_k exp(-k^2/2v)/sqrt(2 pi v): the Dirac-delta part of E[phi phi'']."""
    total = sympy.S.Zero
    for k, jump in act.jumps(1):
        total += act.expr.subs(x, k) * jump * sympy.exp(-k**2 / (2 * v)) / sympy.sqrt(2 * sympy.pi * v)
    return total


@law("q_map", "V(q)", r"V(q)", title="the length map", variables=("q",))
def _q_map(d: Derivation) -> Law:
    phi = d.activation.piecewise
    return from_expectation("q_map", d.expect_product(phi, phi, q), lambda e: sigma_w2 * e + sigma_b2,
                            [Step(r"length map: $V(q) = \sigma_w^2\,\mathbb{E}_z[\phi(\sqrt{q}\,z)^2] "
                                  r"+ \sigma_b^2$")])


def _chi_1_expectation(d: Derivation):
    """E[phi'^2] at q, or None when phi jumps."""
    act = d.activation
    if not act.is_continuous(0):
        return None
    d1 = act.derivative(1)
    return d.expect_product(d1, d1, q)


@law("chi_par", "chi_par(q)", r"\chi_{\parallel}(q)", title="the slope of the length map", variables=("q",))
def _chi_par(d: Derivation) -> Law:
    act, q_map = d.activation, d.law("q_map")
    chi1_res = _chi_1_expectation(d)
    if q_map.closed:
        expr = tidy(sympy.diff(q_map.expr, q))
        return Law("chi_par", expr, True, "differentiation",
                   (Step(r"$\chi_\parallel = dV/dq$ of the closed-form length map", expr),))
    if chi1_res is not None:
        # heat equation: d/dq E[phi^2] = E[phi'^2] + E[phi phi''] (+ delta terms at kinks of phi')
        pp = d.expect_product(act.piecewise, act.derivative(2), q)
        expr = sigma_w2 * (chi1_res.value + pp.value + _delta_terms(act, q))
        steps = (Step(r"heat equation $\frac{d}{dq}\mathbb{E}_z[f(\sqrt{q}\,z)] = \frac{1}{2}\mathbb{E}_z"
                      r"[f''(\sqrt{q}\,z)]$ with $f = \phi^2$, so $\chi_\parallel = \sigma_w^2(\mathbb{E}"
                      r"[\phi'^2] + \mathbb{E}[\phi\phi''])$"
                      + (r" plus the Dirac-delta terms of $\phi''$ at the kinks" if act.jumps(1) else ""), expr),)
        return Law("chi_par", expr, is_closed(expr), "heat equation", steps)
    expr = sympy.diff(q_map.expr, q)
    return Law("chi_par", expr, False, "density derivative",
               (Step(r"$\phi$ jumps, so $d/dq$ acts on the Gaussian density: $\frac{d}{dq}"
                     r"\mathbb{E}[f(u)] = \mathbb{E}[f(u)(u^2 - q)]/(2q^2)$", expr),))


@law("chi_1", "chi_1(q)", r"\chi_1(q)", title="the slope of the correlation map at $c = 1$", variables=("q",))
def _chi_1(d: Derivation) -> Law:
    res = _chi_1_expectation(d)
    if res is None:
        return undefined("chi_1", "phi jumps, so phi' holds a Dirac delta and E[phi'^2] is infinite")
    return from_expectation("chi_1", res, lambda e: sigma_w2 * e,
                            [Step(r"$\chi_1 = \sigma_w^2\,\mathbb{E}_z[\phi'(\sqrt{q}\,z)^2]$")])


@law("chi_2", "chi_2(q)", r"\chi_2(q)", title="the curvature factor", variables=("q",))
def _chi_2(d: Derivation) -> Law:
    act = d.activation
    if not act.is_continuous(1):
        return undefined("chi_2", "phi' jumps at a kink, so phi'' holds a Dirac delta and E[phi''^2] is infinite")
    d2 = act.derivative(2)
    return from_expectation("chi_2", d.expect_product(d2, d2, q), lambda e: sigma_w2 * e,
                            [Step(r"$\chi_2 = \sigma_w^2\,\mathbb{E}_z[\phi''(\sqrt{q}\,z)^2]$")])


_AT_Q_STAR = {q11: q_star, q22: q_star, q12: c * q_star}


def _phi_phi(d: Derivation) -> ExpectationResult:
    phi = d.activation.piecewise
    return d.expect2(phi, phi, q11, q12, q22)


def _dphi_dphi(d: Derivation) -> ExpectationResult | None:
    """E[phi'(u1) phi'(u2)], or None when phi jumps."""
    act = d.activation
    if not act.is_continuous(0):
        return None
    d1 = act.derivative(1)
    return d.expect2(d1, d1, q11, q12, q22)


@law("cov_map", "q12'(q11, q12, q22)", r"q_{12}'(q_{11}, q_{12}, q_{22})", title="the covariance map",
     variables=("q11", "q12", "q22"))
def _cov_map(d: Derivation) -> Law:
    two = _phi_phi(d)
    cov = sigma_w2 * two.value + sigma_b2
    return Law("cov_map", cov, is_closed(cov), two.tactic,
               (Step(r"covariance map: $q_{12}' = \sigma_w^2\,\mathbb{E}[\phi(u_1)\phi(u_2)] + \sigma_b^2$, "
                     r"$(u_1, u_2) \sim \mathcal{N}\bigl(0, \bigl(\begin{smallmatrix} q_{11} & q_{12} \\ "
                     r"q_{12} & q_{22} \end{smallmatrix}\bigr)\bigr)$"),) + two.steps, notes=two.notes)


@law("c_map", "C(c)", r"C(c)", title="the correlation map", variables=("c",), at=("q_star",))
def _c_map(d: Derivation) -> Law:
    two = _phi_phi(d)
    cmap = tidy((sigma_w2 * two.value.xreplace(_AT_Q_STAR) + sigma_b2) / q_star)
    return Law("c_map", cmap, is_closed(cmap), two.tactic,
               (Step(r"c-map at the length fixed point: $C(c) = q_{12}'/q^*$ with $q_{11} = q_{22} = q^*$, "
                     r"$q_{12} = c\,q^*$", cmap),))


@law("chi_c", "chi_c(c)", r"\chi_c(c)", title="the slope of the correlation map", variables=("c",),
     at=("q_star",))
def _chi_c(d: Derivation) -> Law:
    dot = _dphi_dphi(d)
    if dot is None:
        return undefined("chi_c", "phi jumps, so phi' holds a Dirac delta")
    chi_c = tidy(sigma_w2 * dot.value.xreplace(_AT_Q_STAR))
    return Law("chi_c", chi_c, is_closed(chi_c), dot.tactic,
               (Step(r"$\chi_c(c) = dC/dc = \sigma_w^2\,\mathbb{E}[\phi'(u_1)\phi'(u_2)]$ (Price's "
                     r"theorem), $u_1, u_2$ of variance $q^*$ and correlation $c$"),) + dot.steps,
               notes=dot.notes)


@law("distance_map", "d'(d)", r"d'(d)", title="the distance map", variables=("d",), at=("q_star",))
def _distance_map(der: Derivation) -> Law:
    dmap = 2 * q_star * (1 - der.law("c_map").expr.subs(c, 1 - d / (2 * q_star)))
    return Law("distance_map", dmap, is_closed(dmap), "substitution",
               (Step(r"distance map at $q^*$: $d' = 2q^*\bigl(1 - C(1 - d/(2q^*))\bigr)$, "
                     r"$d = q_{11} + q_{22} - 2q_{12}$", dmap),))


@law("ntk_map", "Theta'(q11, q12, q22, Theta)", r"\Theta'(q_{11}, q_{12}, q_{22}, \Theta)",
     title="the neural tangent kernel recursion", variables=("q11", "q12", "q22", "Theta"))
def _ntk_map(d: Derivation) -> Law:
    dot = _dphi_dphi(d)
    if dot is None:
        return undefined("ntk_map", "phi jumps, so phi' holds a Dirac delta")
    ntk = d.law("cov_map").expr + sigma_w2 * dot.value * Theta
    return Law("ntk_map", ntk, is_closed(ntk), dot.tactic,
               (Step(r"NTK recursion: $\Theta' = q_{12}' + \sigma_w^2\,\mathbb{E}[\phi'(u_1)\phi'(u_2)]"
                     r"\,\Theta$", ntk),))


#: The law names in the order they are derived and shown (the standard laws).
def law_names(group: str | None = None) -> tuple:
    """The names of the registered laws (of one of :data:`LAW_GROUPS`), in registry order.

    >>> law_names("single-input")
    ('q_map', 'chi_par', 'chi_1', 'chi_2')
    """
    if group is not None and group not in LAW_GROUPS:
        raise ValueError(f"group must be one of {LAW_GROUPS}, got {group!r}")
    return tuple(name for name, spec in LAWS.items() if group is None or spec.group == group)


# the laws registered in this module (later modules may register more: use law_names())
LAW_NAMES = law_names()
SINGLE_INPUT = law_names("single-input")
TWO_INPUT = law_names("two-input")
