r"""``derive(activation) -> Laws``: the single-input mean-field laws, with provenance.

Conventions (DESIGN section 2; reference/theory.md section 0.1), ``u = sqrt(q) z``:

.. math::

    V(q) = \sigma_w^2 E[\phi(u)^2] + \sigma_b^2, \quad
    \chi_\parallel(q) = V'(q), \quad
    \chi_1(q) = \sigma_w^2 E[\phi'(u)^2], \quad
    \chi_2(q) = \sigma_w^2 E[\phi''(u)^2].

>>> from neurodyn.theory import catalog
>>> laws = derive(catalog.get("erf"))
>>> laws.q_map.expr
sigma_b2 + 2*sigma_w2*asin(2*q/(2*q + 1))/pi
>>> laws.chi_1.expr, laws.chi_1.tactic
(4*sigma_w2/(pi*sqrt(4*q + 1)), 'gaussian-exponential')
>>> derive(catalog.get("relu")).chi_2.defined
False
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import sympy

from .activation import Activation
from .gaussian import ExpectationResult, GaussianExpectation, Step, _tidy
from .gaussian import expect_product as _expect_product
from .bivariate import BivariateGaussianExpectation, expect2
from .symbols import Theta, c, d, q, q11, q12, q22, q_star, sigma_b2, sigma_w2, x

__all__ = ["Law", "Laws", "derive", "LAW_NAMES"]

#: The law names in the order they are derived and shown.
SINGLE_INPUT = ("q_map", "chi_par", "chi_1", "chi_2")
TWO_INPUT = ("cov_map", "c_map", "chi_c", "distance_map", "ntk_map")
LAW_NAMES = SINGLE_INPUT + TWO_INPUT

#: How each law's left-hand side is written.
LAW_SYMBOLS = {
    "q_map": ("V(q)", r"V(q)"),
    "chi_par": ("chi_par(q)", r"\chi_{\parallel}(q)"),
    "chi_1": ("chi_1(q)", r"\chi_1(q)"),
    "chi_2": ("chi_2(q)", r"\chi_2(q)"),
    "cov_map": ("q12'(q11, q12, q22)", r"q_{12}'(q_{11}, q_{12}, q_{22})"),
    "c_map": ("C(c)", r"C(c)"),
    "chi_c": ("chi_c(c)", r"\chi_c(c)"),
    "distance_map": ("d'(d)", r"d'(d)"),
    "ntk_map": ("Theta'(q11, q12, q22, Theta)", r"\Theta'(q_{11}, q_{12}, q_{22}, \Theta)"),
}


@dataclass(frozen=True)
class Law:
    """One derived law: its expression and how it was obtained.

    ``expr`` is a SymPy expression in ``q``, ``sigma_w2``, ``sigma_b2``
    (``None`` when the law is not defined, with the reason in ``note``).
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
        return LAW_SYMBOLS.get(self.name, (self.name, self.name))[0]

    def __str__(self) -> str:
        if not self.defined:
            return f"{self.lhs} : not defined ({self.note})"
        return f"{self.lhs} = {self.expr}"

    def _latex(self, printer=None):
        from .latex import law_latex
        return law_latex(self)

    def _repr_latex_(self):
        return "$" + self._latex() + "$"


@dataclass(frozen=True)
class Laws:
    """The laws derived for one activation; ``laws.q_map``, ``laws["chi_1"]``, iteration."""

    activation: Activation
    entries: tuple

    def __getitem__(self, name: str) -> Law:
        for law in self.entries:
            if law.name == name:
                return law
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
        for law in self.entries:
            how = "closed form" if law.closed else "unevaluated expectation"
            lines.append(f"{law}    [{how if law.defined else 'undefined'}; {law.tactic}]")
        return "\n".join(lines)

    def _latex(self, printer=None):
        from .latex import laws_latex
        return laws_latex(self)

    def _repr_latex_(self):
        return "$\\displaystyle " + self._latex().replace("\\\\\n", "\\\\ ") + "$"


def is_closed(expr) -> bool:
    """True when ``expr`` holds no unevaluated Gaussian expectation."""
    return not expr.has(GaussianExpectation, BivariateGaussianExpectation)


def _law(name, result: ExpectationResult, build, extra_steps=()) -> Law:
    expr = build(result.value)
    closed = is_closed(expr)
    return Law(name, expr, closed, result.tactic, tuple(extra_steps) + result.steps, notes=result.notes)


def _undefined(name, why) -> Law:
    return Law(name, None, False, "not defined", (), note=why)


def _delta_terms(act: Activation, v):
    """sum_k phi(k) [phi']_k exp(-k^2/2v)/sqrt(2 pi v): the Dirac-delta part of E[phi phi'']."""
    total = sympy.S.Zero
    for k, jump in act.jumps(1):
        total += act.expr.subs(x, k) * jump * sympy.exp(-k**2 / (2 * v)) / sympy.sqrt(2 * sympy.pi * v)
    return total


#: Default time budget of a whole derivation, seconds.
DERIVE_SECONDS = 25.0


def derive(activation: Activation, seconds: float = DERIVE_SECONDS) -> Laws:
    """Derive the single-input laws of ``activation`` (see the module docstring).

    Every symbolic step is time-bounded (the whole derivation by ``seconds``);
    a law with no closed form is returned as an expression holding
    unevaluated Gaussian expectations, and its ``notes`` say what was tried.
    """
    if not isinstance(activation, Activation):
        raise TypeError(f"derive() needs an Activation, got {type(activation).__name__}")
    act = activation
    deadline = time.monotonic() + seconds

    def expect_product(f, g, v):
        return _expect_product(f, g, v, deadline=deadline)

    phi = act.piecewise
    entries = []

    vres = expect_product(phi, phi, q)
    q_map = _law("q_map", vres, lambda e: sigma_w2 * e + sigma_b2,
                 [Step("q-map: V(q) = sigma_w^2 E[phi(sqrt(q) z)^2] + sigma_b^2", None,
                       r"length map: $V(q) = \sigma_w^2\,\mathbb{E}_z[\phi(\sqrt{q}\,z)^2] + \sigma_b^2$")])
    entries.append(q_map)

    d1 = act.derivative(1)
    chi1_res = expect_product(d1, d1, q) if act.is_continuous(0) else None

    # chi_par = V'(q)
    if q_map.closed:
        expr = _tidy(sympy.diff(q_map.expr, q))
        entries.append(Law("chi_par", expr, True, "differentiation",
                           (Step("chi_par = dV/dq of the closed-form q-map", expr,
                                 r"$\chi_\parallel = dV/dq$ of the closed-form length map"),)))
    elif chi1_res is not None:
        # heat equation: d/dq E[phi^2] = E[phi'^2] + E[phi phi''] (+ delta terms at kinks of phi')
        pp = expect_product(phi, act.derivative(2), q)
        value = chi1_res.value + pp.value + _delta_terms(act, q)
        expr = sigma_w2 * value
        deltas = " + the Dirac-delta terms of phi'' at the kinks" if act.jumps(1) else ""
        steps = (Step("heat equation: d/dq E[f(sqrt(q) z)] = E[f''(sqrt(q) z)]/2 with f = phi^2, "
                      "so chi_par = sigma_w^2 (E[phi'^2] + E[phi phi''])" + deltas, expr,
                      r"heat equation $\frac{d}{dq}\mathbb{E}_z[f(\sqrt{q}\,z)] = \frac{1}{2}\mathbb{E}_z"
                      r"[f''(\sqrt{q}\,z)]$ with $f = \phi^2$, so $\chi_\parallel = \sigma_w^2(\mathbb{E}"
                      r"[\phi'^2] + \mathbb{E}[\phi\phi''])$"
                      + (r" plus the Dirac-delta terms of $\phi''$ at the kinks" if act.jumps(1) else "")),)
        entries.append(Law("chi_par", expr, is_closed(expr), "heat equation", steps))
    else:
        expr = sympy.diff(q_map.expr, q)
        entries.append(Law("chi_par", expr, False, "density derivative",
                           (Step("phi jumps, so d/dq acts on the Gaussian density: "
                                 "d/dq E[f(u)] = E[f(u)(u^2 - q)]/(2 q^2)", expr,
                                 r"$\phi$ jumps, so $d/dq$ acts on the Gaussian density: $\frac{d}{dq}"
                                 r"\mathbb{E}[f(u)] = \mathbb{E}[f(u)(u^2 - q)]/(2q^2)$"),)))

    if chi1_res is None:
        entries.append(_undefined("chi_1", "phi jumps, so phi' holds a Dirac delta and E[phi'^2] is infinite"))
    else:
        entries.append(_law("chi_1", chi1_res, lambda e: sigma_w2 * e,
                            [Step("chi_1 = sigma_w^2 E[phi'(sqrt(q) z)^2]", None,
                                  r"$\chi_1 = \sigma_w^2\,\mathbb{E}_z[\phi'(\sqrt{q}\,z)^2]$")]))

    if not act.is_continuous(1):
        entries.append(_undefined("chi_2", "phi' jumps at a kink, so phi'' holds a Dirac delta and "
                                           "E[phi''^2] is infinite"))
    else:
        d2 = act.derivative(2)
        entries.append(_law("chi_2", expect_product(d2, d2, q), lambda e: sigma_w2 * e,
                            [Step("chi_2 = sigma_w^2 E[phi''(sqrt(q) z)^2]", None,
                                  r"$\chi_2 = \sigma_w^2\,\mathbb{E}_z[\phi''(\sqrt{q}\,z)^2]$")]))
    entries.extend(_two_input_laws(act, deadline))
    return Laws(act, tuple(entries))


def _two_input_laws(act: Activation, deadline: float) -> list:
    """Covariance map, c-map at q*, chi_c, distance map and the NTK map."""
    phi, out = act.piecewise, []
    at_q_star = {q11: q_star, q22: q_star, q12: c * q_star}
    two = expect2(phi, phi, q11, q12, q22, deadline=deadline)
    cov = sigma_w2 * two.value + sigma_b2
    out.append(Law("cov_map", cov, is_closed(cov), two.tactic,
                   (Step("covariance map: q12' = sigma_w^2 E[phi(u1) phi(u2)] + sigma_b^2, "
                         "(u1, u2) ~ N(0, [[q11, q12], [q12, q22]])", None,
                         r"covariance map: $q_{12}' = \sigma_w^2\,\mathbb{E}[\phi(u_1)\phi(u_2)] + \sigma_b^2$, "
                         r"$(u_1, u_2) \sim \mathcal{N}\bigl(0, \bigl(\begin{smallmatrix} q_{11} & q_{12} \\ "
                         r"q_{12} & q_{22} \end{smallmatrix}\bigr)\bigr)$"),) + two.steps, notes=two.notes))
    cmap = _tidy((sigma_w2 * two.value.xreplace(at_q_star) + sigma_b2) / q_star)
    out.append(Law("c_map", cmap, is_closed(cmap), two.tactic,
                   (Step("c-map at the length fixed point: C(c) = q12'/q* with q11 = q22 = q*, "
                         "q12 = c q*", cmap,
                         r"c-map at the length fixed point: $C(c) = q_{12}'/q^*$ with $q_{11} = q_{22} = q^*$, "
                         r"$q_{12} = c\,q^*$"),)))
    if act.is_continuous(0):
        d1 = act.derivative(1)
        dot = expect2(d1, d1, q11, q12, q22, deadline=deadline)
        chi_c = _tidy(sigma_w2 * dot.value.xreplace(at_q_star))
        out.append(Law("chi_c", chi_c, is_closed(chi_c), dot.tactic,
                       (Step("chi_c(c) = dC/dc = sigma_w^2 E[phi'(u1) phi'(u2)] (Price's theorem), "
                             "u's at q*, correlation c", None,
                             r"$\chi_c(c) = dC/dc = \sigma_w^2\,\mathbb{E}[\phi'(u_1)\phi'(u_2)]$ (Price's "
                             r"theorem), $u_1, u_2$ of variance $q^*$ and correlation $c$"),) + dot.steps,
                       notes=dot.notes))
    else:
        out.append(_undefined("chi_c", "phi jumps, so phi' holds a Dirac delta"))
    dmap = 2 * q_star * (1 - cmap.subs(c, 1 - d / (2 * q_star)))
    out.append(Law("distance_map", dmap, is_closed(dmap), "substitution",
                   (Step("distance map at q*: d' = 2 q* (1 - C(1 - d/(2 q*))), d = q11 + q22 - 2 q12", dmap,
                         r"distance map at $q^*$: $d' = 2q^*\bigl(1 - C(1 - d/(2q^*))\bigr)$, "
                         r"$d = q_{11} + q_{22} - 2q_{12}$"),)))
    if act.is_continuous(0):
        ntk = cov + sigma_w2 * dot.value * Theta
        out.append(Law("ntk_map", ntk, is_closed(ntk), dot.tactic,
                       (Step("NTK recursion: Theta' = q12' + sigma_w^2 E[phi'(u1) phi'(u2)] Theta", ntk,
                             r"NTK recursion: $\Theta' = q_{12}' + \sigma_w^2\,\mathbb{E}[\phi'(u_1)\phi'(u_2)]"
                             r"\,\Theta$"),)))
    else:
        out.append(_undefined("ntk_map", "phi jumps, so phi' holds a Dirac delta"))
    return out
