r"""The geometry of the signal manifold: metric, curvature and their fates (docs/theory.md §§4-6).

An m-dimensional input manifold on a sphere (per-neuron squared radius ``q``)
is pushed through the layers ``h^{l+1} = W phi(h^l) + b``. At infinite width
(docs/theory.md §4, §5.2, §5.4), at every layer, with ``chi_1 = chi_1(q^l)`` and
``chi_2 = chi_2(q^l)``:

.. math::

    g' = \chi_1 g,\quad
    \lvert H\rvert^2{}' = \frac{\lvert H\rvert^2}{\chi_1} + \frac{m(m+2)\chi_2}{\chi_1^2},\quad
    \lvert\operatorname{tr}H\rvert^2{}' = \frac{\lvert\operatorname{tr}H\rvert^2}{\chi_1}
        + \frac{m(m+2)\chi_2}{\chi_1^2},\quad
    \bar R' = \frac{\bar R}{\chi_1}.

Each recursion is first written in plain symbols ``chi1``, ``chi2``
(:data:`RECURSIONS`, with the steps that give it), then registered as a law
(group ``geometry``) by substituting the activation's derived laws
``chi_1(q)`` and ``chi_2(q)``: nothing here is written per activation.
:func:`fates` gives every quantity's fate at the fixed point in closed form in
``chi1``, ``chi2``, ``q*`` and ``m``.

>>> from neurodyn.theory import catalog, derive
>>> laws = derive(catalog.get("erf"))
>>> laws.Rbar_map.expr
Rbar*pi*sqrt(4*q + 1)/(4*sigma_w2)
>>> laws.Hsq_map.expr
Hsq*pi*sqrt(4*q + 1)/(4*sigma_w2) + m*q*pi*(m + 2)/(sigma_w2*sqrt(4*q + 1))
>>> RECURSIONS["Rbar"].expr
Rbar/chi1
>>> solve_fixed_point("Hsq")
chi2*m*(m + 2)/(chi1*(chi1 - 1))
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy

from .expectation import Step, is_closed
from .laws import Derivation, Law, law, undefined
from .symbols import Hsq, Rbar, chi1, chi2, g, layer, m, q, q_star, sigma_w2, trHsq, x

__all__ = ["RECURSIONS", "Recursion", "ISSERLIS_SOURCE", "initial_state", "solve_fixed_point", "solution",
           "fates", "Fate", "STATE_LAWS"]

#: The Isserlis source: g^{ac} g^{bd} (g_ab g_cd + g_ac g_bd + g_ad g_bc) in an orthonormal frame,
#: sum_ab delta_ab delta_ab + sum_ab delta_aa delta_bb + sum_ab delta_ab delta_ba = m + m^2 + m.
ISSERLIS_SOURCE = sympy.expand(m + m**2 + m).factor()


@dataclass(frozen=True)
class Recursion:
    """One layer map in plain symbols (``chi1``, ``chi2``, the state symbol, ``m``) with its steps."""

    name: str
    state: sympy.Symbol
    expr: sympy.Expr
    steps: tuple


_ISSERLIS_STEP = Step(
    r"Isserlis' theorem: $\frac{1}{N} \sum_i \partial_a h_i\,\partial_b h_i\,\partial_c h_i\,\partial_d h_i "
    r"\to g_{ab} g_{cd} + g_{ac} g_{bd} + g_{ad} g_{bc}$, contracted with $g^{ac} g^{bd}$ (for $|H|^2$) or "
    r"$g^{ab} g^{cd}$ (for $|tr\,H|^2$): $m + m^2 + m = @0$ in both cases",
    ISSERLIS_SOURCE, (ISSERLIS_SOURCE,))
_STEIN_STEP = Step(
    r"off the fixed point (docs/theory.md §5.4): on a sphere $\partial_a \partial_b h = -(g_{ab}/q)\,h + A_{ab}$; "
    r"Stein's identities $\mathbb{E}[h f(h)] = q\,\mathbb{E}[f']$, $\mathbb{E}[h^2 f(h)] = q\,\mathbb{E}[f] + "
    r"q^2\,\mathbb{E}[f'']$ with $f = \phi'^2$ give $\mathbb{E}[\phi'^2 h^2] - 2 q\,\mathbb{E}[\phi' \phi'' h] = "
    r"q\,\mathbb{E}[\phi'^2]$, so the sphere's own $1/q$ curvature is carried by $\chi_1(q)$ exactly and "
    r"$(\partial_{ab} h' \cdot \partial_{cd} h')/N = \chi_1 (\partial_{ab} h \cdot \partial_{cd} h)/N + "
    r"\chi_2 (g_{ab} g_{cd} + g_{ac} g_{bd} + g_{ad} g_{bc})$ at every layer")


def _recursions() -> dict:
    metric = Recursion("metric", g, chi1 * g, (Step(
        r"pull-back metric: $\partial_a h' = W (\phi'(h) \odot \partial_a h)$, and by self-averaging over neurons "
        r"$g'_{ab} = \sigma_w^2\,\mathbb{E}[\phi'^2]\,g_{ab} = \chi_1 g_{ab}$: a conformal factor $@0$ per layer",
        chi1, (chi1,)),))
    source = ISSERLIS_SOURCE * chi2 / chi1**2
    second = Step(r"second derivatives: $\partial_a \partial_b h' = W (\phi' \odot \partial_a \partial_b h + "
                  r"\phi'' \odot \partial_a h \odot \partial_b h)$; the $\phi''$ term is normal to the new manifold")
    inverse = Step(r"the new inverse metric is $g'^{ab} = g^{ab}/\chi_1$: each contraction with two inverse "
                   r"metrics divides by $\chi_1^2$, so the source is $@0$", source, (source,))
    hsq = Recursion("Hsq", Hsq, Hsq / chi1 + source, (second, _ISSERLIS_STEP, _STEIN_STEP, inverse))
    trhsq = Recursion("trHsq", trHsq, trHsq / chi1 + source, (second, _ISSERLIS_STEP, _STEIN_STEP, inverse))
    difference = sympy.simplify((trhsq.expr - hsq.expr).subs(trHsq, Rbar + Hsq))
    rbar = Recursion("Rbar", Rbar, difference, (
        Step(r"Gauss equation (flat ambient space): $\bar R = |tr\,H|^2 - |H|^2$"),
        _STEIN_STEP,
        Step(r"the two Isserlis sources are both $m(m+2) \chi_2/\chi_1^2$ and cancel: $\bar R' = "
             r"|tr\,H|^2{}' - |H|^2{}' = @0$ (the intrinsic curvature depends "
             r"on the metric only, and $g' = \chi_1 g$ is a homothety)", difference, (difference,))))
    return {r.name: r for r in (metric, hsq, trhsq, rbar)}


#: The four layer maps in plain symbols, by quantity name.
RECURSIONS = _recursions()

#: The registered law of each state quantity.
STATE_LAWS = {"metric": "metric_map", "Hsq": "Hsq_map", "trHsq": "trHsq_map", "Rbar": "Rbar_map"}


def initial_state(q0, dim, c0=None) -> dict:
    """State 0 of the input manifold (the README's conventions), as SymPy numbers or expressions.

    >>> initial_state(sympy.Rational(1, 2), 2)
    {'q': 1/2, 'metric': 1/2, 'Hsq': 4, 'trHsq': 8, 'Rbar': 4}
    """
    q0, dim = sympy.sympify(q0), sympy.sympify(dim)
    out = {"q": q0, "metric": q0, "Hsq": dim / q0, "trHsq": dim**2 / q0, "Rbar": dim * (dim - 1) / q0}
    if c0 is not None:
        c0 = sympy.sympify(c0)
        out.update(c=c0, d=2 * q0 * (1 - c0))
    return out


@lru_cache(maxsize=None)
def solve_fixed_point(name: str):
    """The fixed point of the recursion ``name`` at fixed ``chi1``, ``chi2`` (None when there is none)."""
    rec = RECURSIONS[name]
    roots = sympy.solve(sympy.Eq(rec.state, rec.expr), rec.state)
    return sympy.factor(roots[0]) if roots else None


@lru_cache(maxsize=None)
def solution(name: str, critical: bool = False):
    """The state after ``l`` layers at fixed ``chi1``, ``chi2`` (``chi1 = 1`` when ``critical``), from state
    ``X0`` (a symbol named ``<name>0``), by SymPy's ``rsolve``: the geometric series in closed form.

    >>> solution("Hsq", critical=True)
    chi2*l*m**2 + 2*chi2*l*m + Hsq0
    """
    rec = RECURSIONS[name]
    start = sympy.Symbol(f"{name}0", real=True)
    series = sympy.Function("X")
    expr = rec.expr.subs(chi1, 1) if critical else rec.expr
    equation = series(layer + 1) - expr.subs(rec.state, series(layer))
    out = sympy.rsolve(equation, series(layer), {series(0): start})
    return sympy.expand(out) if critical else sympy.simplify(out)


# ----------------------------------------------------------------------------------------
# the laws
# ----------------------------------------------------------------------------------------
def _substituted(d: Derivation, name: str, at=q):
    """The recursion ``name`` with the derived chi_1(q), chi_2(q) substituted (a Law), taken at ``at``."""
    rec = RECURSIONS[name]
    needed = {"chi_1": chi1}
    if rec.expr.has(chi2):
        needed["chi_2"] = chi2
    subs = {}
    for law_name, symbol in needed.items():
        derived = d.law(law_name)
        if not derived.defined:
            return None, f"{law_name} is not defined: {derived.note}"
        subs[symbol] = derived.expr.subs(q, at)
    return rec.expr.xreplace(subs), ""


def _recursion_law(d: Derivation, name: str, law_name: str) -> Law:
    expr, why = _substituted(d, name)
    if expr is None:
        return undefined(law_name, why)
    rec = RECURSIONS[name]
    steps = rec.steps + (Step(r"with the derived laws $\chi_1(q)$, $\chi_2(q)$ at the layer's length $q$: "
                              r"$@0$", expr, (expr,)),)
    return Law(law_name, expr, is_closed(expr), "substitution", steps)


@law("metric_map", "g'(q, g)", r"g'(q, g)", title="the pulled-back metric map", variables=("q", "g"),
     group="geometry")
def _metric_map(d: Derivation) -> Law:
    return _recursion_law(d, "metric", "metric_map")


@law("Hsq_map", "|H|^2'(q, |H|^2)", r"\lvert H\rvert^{2}{}'(q, \lvert H\rvert^{2})",
     title="the squared Euler-Schouten curvature map (dimension $m$)", variables=("q", "Hsq"), group="geometry")
def _hsq_map(d: Derivation) -> Law:
    return _recursion_law(d, "Hsq", "Hsq_map")


@law("trHsq_map", "|tr H|^2'(q, |tr H|^2)", r"\lvert \operatorname{tr} H\rvert^{2}{}'(q, "
     r"\lvert \operatorname{tr} H\rvert^{2})", title="the squared mean-curvature map (dimension $m$)",
     variables=("q", "trHsq"), group="geometry")
def _trhsq_map(d: Derivation) -> Law:
    return _recursion_law(d, "trHsq", "trHsq_map")


@law("Rbar_map", "Rbar'(q, Rbar)", r"\bar{R}'(q, \bar{R})", title="the scalar curvature map",
     variables=("q", "Rbar"), group="geometry")
def _rbar_map(d: Derivation) -> Law:
    return _recursion_law(d, "Rbar", "Rbar_map")


@law("metric_anisotropy", "A(q)", r"A(q)", title="the anisotropic metric correction off the sphere",
     variables=("q",), group="geometry")
def _metric_anisotropy(d: Derivation) -> Law:
    act = d.activation
    if not act.is_continuous(0):
        return undefined("metric_anisotropy", "phi jumps, so phi' holds a Dirac delta and E[phi'^2 h^2] is infinite")
    d1 = act.derivative(1)
    weighted = d.expect_product(d1 * x, d1 * x, q)        # E[phi'(h)^2 h^2], h ~ N(0, q)
    plain = d.expect_product(d1, d1, q)                  # E[phi'(h)^2]
    expr = sigma_w2 * (weighted.value - q * plain.value) / (4 * q**2)
    steps = (Step(r"off the sphere $q$ varies along the manifold: the covariance of $h_i$ and $\partial_a h_i$ is "
                  r"$\partial_a q/2$, and Gaussian conditioning gives $g'_{ab} = \chi_1(q)\,g_{ab} + "
                  r"A(q)\,\partial_a q\,\partial_b q$ with $A(q) = \sigma_w^2 \bigl(\mathbb{E}[\phi'(h)^2 h^2] - "
                  r"q\,\mathbb{E}[\phi'(h)^2]\bigr)/(4 q^2)$ (docs/theory.md §4)"),
             Step(r"$\mathbb{E}[\phi'(h)^2 h^2]$ by the tactic pipeline (" + weighted.tactic + ")"),
             *weighted.steps,
             Step(r"$A(q) = @0$", expr, (expr,)))
    return Law("metric_anisotropy", expr, is_closed(expr), weighted.tactic, steps,
               notes=weighted.notes + plain.notes)


def _at_q_star(d: Derivation, law_name: str, closed_form, what: str) -> Law:
    subs = {}
    for derived_name, symbol in (("chi_1", chi1), ("chi_2", chi2)):
        if closed_form.has(symbol):
            derived = d.law(derived_name)
            if not derived.defined:
                return undefined(law_name, f"{derived_name} is not defined: {derived.note}")
            subs[symbol] = derived.expr.subs(q, q_star)
    expr = closed_form.xreplace(subs)
    return Law(law_name, expr, is_closed(expr), "substitution",
               (Step(what + r": $@0$", closed_form, (closed_form,)),
                Step(r"with $\chi_1$, $\chi_2$ at $q^*$: $@0$", expr, (expr,))))


@law("Hsq_star", "|H|^2*", r"\lvert H\rvert^{2}_{*}", title="the curvature fixed point (chaotic phase, "
     r"$\chi_1 > 1$)", variables=(), at=("q_star",), group="geometry")
def _hsq_star(d: Derivation) -> Law:
    return _at_q_star(d, "Hsq_star", solve_fixed_point("Hsq"),
                      r"the fixed point of the $|H|^2$ map at $q^*$ (solve $X = X/\chi_1 + "
                      r"m(m+2) \chi_2/\chi_1^2$), the limit when $\chi_1 > 1$")


@law("Hsq_slope", "d|H|^2/dl", r"\frac{d\lvert H\rvert^{2}}{dl}", title="the linear growth of the curvature "
     r"at $\chi_1 = 1$", variables=(), at=("q_star",), group="geometry")
def _hsq_slope(d: Derivation) -> Law:
    closed = sympy.expand(solution("Hsq", critical=True)).coeff(layer)
    return _at_q_star(d, "Hsq_slope", closed,
                      r"at $\chi_1 = 1$ the $|H|^2$ map adds a constant per layer (rsolve: "
                      r"$|H|^2_l = |H|^2_0 + l\,m(m+2) \chi_2$), slope")


# ----------------------------------------------------------------------------------------
# the fates at the fixed point
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fate:
    """What a quantity does with depth at the fixed point: ``kind`` is ``converges`` (to ``value``),
    ``linear`` (``slope`` per layer, of ``of``) or ``exponential`` (factor ``rate`` per layer, times
    ``prefactor``); the numbers are SymPy expressions in ``chi1``, ``chi2``, ``q_star``, ``m``."""

    kind: str
    number: sympy.Expr
    text: str
    prefactor: sympy.Expr | None = None
    of: str | None = None

    @property
    def key(self) -> str:
        return {"converges": "value", "linear": "slope", "exponential": "rate"}[self.kind]


def fates(phase: str, dim=m) -> dict:
    """Each quantity's fate at the fixed point, for the input sphere of squared radius ``q*``.

    ``phase`` is ``chaotic`` (``chi1 > 1``), ``critical`` (``chi1 = 1``) or ``ordered``
    (``chi1 < 1``). The lengths are those of a unit-speed great circle (per ``sqrt(N)``),
    a curve, whatever the dimension (its curvature is the ``m = 1`` one).

    >>> fates("chaotic")["Hsq"].number
    chi2*m*(m + 2)/(chi1*(chi1 - 1))
    >>> fates("ordered", 1)["grassmann_length"].number
    2*pi*sqrt((chi1**2 - chi1 - 3*chi2*q_star)/(chi1 - 1))/sqrt(chi1)
    """
    if phase not in ("chaotic", "critical", "ordered"):
        raise ValueError(f"phase must be chaotic, critical or ordered, got {phase!r}")
    start = {k: v.subs(q, q_star) for k, v in initial_state(q, dim).items()}
    out = {}
    two_pi = 2 * sympy.pi
    one = {k: v.subs(m, 1) for k, v in start.items()}
    for name in ("Hsq", "trHsq"):
        star = solve_fixed_point(name).subs(m, dim)
        if phase == "chaotic":
            out[name] = Fate("converges", star, f"converges to {name}* = m(m+2) chi_2/(chi_1(chi_1 - 1))")
        elif phase == "critical":
            slope = sympy.expand(solution(name, critical=True)).coeff(layer).subs(m, dim)
            out[name] = Fate("linear", slope, "grows linearly, slope m(m+2) chi_2 per layer")
        else:
            pre = sympy.simplify(start[name] - star)
            out[name] = Fate("exponential", 1 / chi1, "grows like chi_1^{-l}", prefactor=pre)
    if sympy.sympify(dim) == 1:
        out["Rbar"] = Fate("converges", sympy.S.Zero, "Rbar = 0 for a curve (m = 1)")
    elif phase == "critical":
        out["Rbar"] = Fate("converges", start["Rbar"], "constant: Rbar_l = Rbar_0 at chi_1 = 1")
    else:
        out["Rbar"] = Fate("exponential", 1 / chi1, "Rbar_l = Rbar_0 chi_1^{-l} ("
                           + ("shrinks to 0" if phase == "chaotic" else "grows") + ")", prefactor=start["Rbar"])
    if phase == "critical":
        out["metric"] = Fate("converges", start["metric"], "constant: metric_l = q* at chi_1 = 1")
        out["length"] = Fate("converges", two_pi * sympy.sqrt(q_star), "constant: L_l = 2 pi sqrt(q*)")
        slope = sympy.expand(two_pi**2 * one["metric"] * solution("Hsq", critical=True)
                             .subs(m, 1)).coeff(layer)
        out["grassmann_length"] = Fate("linear", slope, "grows like sqrt(l): (L^G)^2 grows linearly",
                                       of="grassmann_length^2")
    else:
        word = "grows" if phase == "chaotic" else "shrinks"
        out["metric"] = Fate("exponential", chi1, f"{word} like chi_1^l", prefactor=start["metric"])
        out["length"] = Fate("exponential", sympy.sqrt(chi1), f"{word} like chi_1^(l/2)",
                             prefactor=two_pi * sympy.sqrt(q_star))
        star = solve_fixed_point("Hsq").subs(m, 1)
        if phase == "chaotic":   # kbar^2 g = (H0 - H*) g0 + H* g0 chi1^l
            out["grassmann_length"] = Fate("exponential", sympy.sqrt(chi1), "grows like chi_1^(l/2)",
                                           prefactor=two_pi * sympy.sqrt(star * one["metric"]))
        else:
            value = two_pi * sympy.sqrt(sympy.factor((one["Hsq"] - star) * one["metric"]))
            out["grassmann_length"] = Fate("converges", value, "converges (kbar^2 grows as the metric shrinks)")
    return out
