r"""Slow divergence rates: the algebraic laws at marginal fixed points, evaluated and confirmed (docs/theory.md §7.3).

:func:`rate` finds which kind of point ``(sigma_w2, sigma_b2)`` is, by itself:

* ``q* = 0`` marginal: ``phi(0) = 0``, ``sigma_b2 = 0``, ``sigma_w2 phi'(0)^2 = 1``
  (tanh at (1, 0), erf at (pi/4, 0) via ``critical=True``): ``q`` approaches 0
  algebraically and drives the geometry;
* scale-invariant critical point (``V(q) = q`` exactly, ReLU at (2, 0)): ``q`` is
  preserved, ``c`` approaches 1 algebraically (a Puiseux series, kink);
* the critical line (``chi_1(q*) = 1`` at ``q* > 0``, ``critical=True`` solves for
  ``sigma_w2``): ``q`` converges exponentially, ``c`` algebraically;
* any other point: exponential, with the depth scale ``xi`` (never a fake power law).

The law's exponent and constant come from :mod:`neurodyn.theory.asymptotics`
(exact where the expansion's coefficients are closed), evaluated at ``dps`` digits;
the confirmation iterates the exact maps deep and extrapolates the constant
(:func:`neurodyn.numerics.deep.iterate_marginal`, :func:`neurodyn.numerics.deep.extrapolate`).

>>> from neurodyn.theory import catalog, derive
>>> from neurodyn.numerics import compile_laws
>>> r = rate(compile_laws(derive(catalog.get("sin"))), "1", "0", "q", dps=20, confirm=False)
>>> r.kind, r.exponent, r.exact_constant, str(r.constant), r.next_form, r.next_exact
('algebraic', 1, '1', '1.0000000000000000000', 'log', '-1/3')
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import mpmath
import sympy

from neurodyn.theory.asymptotics import (algebraic_law, c_map_at_one, driven_law, driver_terms, flip,
                                         geometry_driver, ntk_driver, q_map_at, q_map_at_zero)
from neurodyn.theory.errors import ConvergenceError, NotDefinedError
from neurodyn.theory.expectation import GaussianExpectation, UnevaluatedExpectation
from neurodyn.theory.geometry import initial_state
from neurodyn.theory.latex import expr_latex
from neurodyn.theory.parse import parse_number
from neurodyn.theory.symbols import c as c_symbol
from neurodyn.theory.symbols import m as m_symbol
from neurodyn.theory.symbols import q as q_symbol
from neurodyn.theory.symbols import q_star, sigma_b2, sigma_w2
from neurodyn.theory.tactics import tidy

from .compile import CompiledLaws, check_dps, check_variances, to_mpf
from .criticality import critical_point, saddle_node
from .deep import Driven, extrapolate, iterate_marginal
from .fixedpoint import fixed_point
from .quadrature import GUARD_DIGITS, IntegrandBundle, expect_mp
from .results import Estimate, ParameterError
from .solve import depth_scale

__all__ = ["rate", "Rate", "QUANTITIES", "DEFAULT_DEPTH", "SERIES_ORDER"]

#: The quantities :func:`rate` follows.
QUANTITIES = ("q", "c", "d", "metric", "Hsq", "trHsq", "Rbar", "ntk")
_GEOMETRY = {"metric": "metric_map", "Hsq": "Hsq_map", "trHsq": "trHsq_map", "Rbar": "Rbar_map"}
_STATE_VAR = {"metric": "g", "Hsq": "Hsq", "trHsq": "trHsq", "Rbar": "Rbar"}
#: Depth of the confirming deep iteration.
DEFAULT_DEPTH = 10**6
#: Order of the expansions handed to the deep iteration (the series must be exact to working precision
#: where it takes over from the exact map).
SERIES_ORDER = 16
#: Order of the Puiseux expansions (kinks) handed to the deep iteration.
PUISEUX_ORDER = 12
#: Order of the expansion when the exact map is a 2-D quadrature (each coefficient is a quadrature too).
SERIES_ORDER_QUADRATURE = 12
#: Order of the q-map's Taylor series at a saddle-node handed to the deep iteration (closed-form q-maps).
SADDLE_ORDER = 24


@dataclass
class Rate:
    """How a quantity approaches its limit with depth (see :func:`rate` and the JSON schema in the README).

    ``kind``: ``algebraic`` (``|x_l - limit| ~ constant l^(-exponent)``; a negative exponent is
    growth and ``limit`` is None), ``exponential`` (``xi``, the per-layer ``factor``),
    ``converged`` (the quantity stops moving: ``limit``), or None (undefined, see ``notes``).
    """

    activation: str
    sigma_w2: str
    sigma_b2: str
    dps: int
    quantity: str
    point: str
    kind: str | None
    limit: Estimate | None = None
    side: str | None = None
    exponent: sympy.Expr | None = None
    constant: Estimate | None = None
    exact_constant: str | None = None
    constant_latex: str | None = None
    universal: bool | None = None
    next_form: str | None = None
    next_power: sympy.Expr | None = None
    next_coefficient: Estimate | None = None
    next_exact: str | None = None
    xi: Estimate | None = None
    factor: Estimate | None = None
    confirmation: dict | None = None
    law: str = ""
    law_latex: str = ""
    expansion: str = ""
    expansion_latex: str = ""
    start: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def to_json(self) -> dict:
        def num(e):
            return None if e is None else e.to_json()

        out = {"activation": self.activation, "sigma_w2": self.sigma_w2, "sigma_b2": self.sigma_b2,
               "dps": self.dps, "quantity": self.quantity, "point": self.point, "start": self.start,
               "kind": self.kind, "limit": num(self.limit), "side": self.side}
        if self.kind == "exponential":
            out["xi"] = num(self.xi)
            out["factor"] = num(self.factor)
        else:
            out["exponent"] = None if self.exponent is None else {"value": str(sympy.N(self.exponent, 15)),
                                                                  "exact": str(self.exponent)}
            const = num(self.constant)
            out["constant"] = None if const is None and self.kind != "algebraic" else dict(
                const or {"value": None, "error": None}, exact=self.exact_constant, latex=self.constant_latex,
                universal=self.universal)
            out["next_order"] = {"form": self.next_form,
                                 "power": None if self.next_power is None else str(self.next_power),
                                 "coefficient": None if self.next_coefficient is None else
                                 dict(self.next_coefficient.to_json(), exact=self.next_exact)}
            out["confirmation"] = self.confirmation
        out.update(law=self.law or None, latex=self.law_latex or None, expansion=self.expansion or None,
                   expansion_latex=self.expansion_latex or None, notes=list(self.notes))
        return out

    def __str__(self) -> str:
        head = f"{self.quantity}: {self.point}"
        rows = [head]
        if self.kind is None:
            rows.append("undefined: " + "; ".join(self.notes))
            return "\n".join(rows)
        if self.expansion:
            rows.append(f"expansion   {self.expansion}")
        if self.kind == "exponential":
            rows.append(f"exponential approach, factor {self.factor} per layer, xi = {self.xi}"
                        + (f", limit {self.limit}" if self.limit is not None else " (grows)"))
        elif self.kind == "converged":
            rows.append(f"converged: limit {self.limit if self.limit is not None else '(start-dependent)'}")
        else:
            rows.append(f"law         {self.law}")
            rows.append(f"exponent    {self.exponent}" + ("  (growth)" if self.exponent is not None and
                                                          self.exponent < 0 else ""))
            if self.constant is not None:
                tag = "universal" if self.universal else f"depends on the start {self.start}"
                rows.append(f"constant    {self.constant}" + (f"  = {self.exact_constant}" if self.exact_constant
                                                              else "") + f"  ({tag})")
            if self.next_form is not None and self.next_coefficient is not None:
                what = "ln(l) l^-" if self.next_form == "log" else "l^-"
                rows.append(f"next order  {self.next_coefficient} {what}{self.next_power}"
                            + (f"  = {self.next_exact}" if self.next_exact else ""))
            if self.limit is not None:
                rows.append(f"limit       {self.limit}  (approached from {self.side})")
            if self.confirmation:
                conf = self.confirmation
                if conf.get("extrapolated") is not None:
                    rows.append(f"confirmed   depth {conf['depth']}: extrapolated {conf['extrapolated']['value']}"
                                + (f", {conf['digits']} digits agree" if conf.get("digits") is not None else ""))
        rows += [f"note: {n}" for n in self.notes]
        return "\n".join(rows)


# ----------------------------------------------------------------------------------------
# numbers from theory expressions
# ----------------------------------------------------------------------------------------
def _exact(value):
    """A decimal string or number as an exact SymPy number (Estimates: None)."""
    if isinstance(value, str):
        return parse_number(value)
    if isinstance(value, (int, sympy.Basic)):
        return sympy.sympify(value)
    return None


def _numeric(expr, values: dict, dps: int) -> Estimate:
    """``expr`` (SymPy, possibly holding unevaluated expectations) at ``values`` (symbol -> exact
    SymPy number, decimal string or Estimate), at ``dps`` digits: computed at two precisions, plus
    the effect of each input's error (one-sided difference)."""
    expr = sympy.sympify(expr)
    atoms = sorted(expr.atoms(GaussianExpectation), key=sympy.default_sort_key)
    if any(a.free_symbols & {q_symbol} for a in atoms) or expr.atoms(UnevaluatedExpectation) - set(atoms):
        raise NotDefinedError("an expectation that cannot be evaluated here")
    holders = [sympy.Dummy(f"E{i}") for i in range(len(atoms))]
    outer = expr.xreplace(dict(zip(atoms, holders)))
    syms = sorted(values, key=str)
    fn = sympy.lambdify([*syms, *holders], outer, "mpmath")        # engine-built expressions only
    variances = [sympy.lambdify(syms, a.variance, "mpmath") for a in atoms]
    bundles = [IntegrandBundle([a.integrand]) for a in atoms]

    def center(digits, shift=None):
        out = []
        for s in syms:
            v = values[s]
            x_ = to_mpf(v.value) if isinstance(v, Estimate) else to_mpf(_exact(v))
            if shift is s:
                x_ += v.error
            out.append(x_)
        return out

    def value(digits, shift=None):
        with mpmath.workdps(digits):
            xs = center(digits, shift)
            hs = [expect_mp(b, var(*xs), digits)[0][0] for var, b in zip(variances, bundles)]
            return fn(*xs, *hs)

    with mpmath.workdps(dps + 3 * GUARD_DIGITS):
        v1 = value(dps + GUARD_DIGITS)
        v2 = value(dps + 2 * GUARD_DIGITS)
        err = abs(v2 - v1) + abs(v2) * mpmath.mpf(10) ** (-(dps + GUARD_DIGITS))
        for s in syms:
            v = values[s]
            if isinstance(v, Estimate) and v.error > 0:
                err += abs(value(dps + GUARD_DIGITS, s) - v1)
        return Estimate(+v2, +err, dps)


def _exact_text(expr) -> str | None:
    expr = sympy.sympify(expr)
    if expr.free_symbols or expr.atoms(UnevaluatedExpectation):
        return None
    return str(sympy.nsimplify(expr) if expr.is_Float else expr)


# ----------------------------------------------------------------------------------------
# the confirmation: deep iteration of the exact maps (numerics.deep) and extrapolation
# ----------------------------------------------------------------------------------------
@dataclass
class _Deep:
    """What the deep iteration needs: the exact map ``F`` of the marginal variable ``x`` (fixed point
    ``fixed``, ``side`` +1 above / -1 below), its series in ``y = |x - fixed|`` (numbers), the start,
    an optional driven quantity (``numerics.deep.Driven``), and how the followed value is read:
    ``column`` (``y`` or the driven name) times ``scale``."""

    F: object
    x0: object
    fixed: object
    side: int
    series: list
    driven: dict | None = None
    column: str = "y"
    scale: object = 1
    offset: int = 0          # a start deep in the approach: layer l of the run is layer l + offset of the law


def _confirm(spec: _Deep, exponent, dps: int, depth: int | None, expected: Estimate | None) -> dict:
    """Iterate ``spec`` to ``depth`` layers, extrapolate the constant of ``l^exponent * value_l`` and
    compare with the derived one: the ``confirmation`` record."""
    depth = depth or DEFAULT_DEPTH
    start = time.perf_counter()
    run = iterate_marginal(spec.F, spec.x0, depth, dps=dps, fixed_point=spec.fixed, side=spec.side,
                           series=spec.series, driven=spec.driven)
    ls, vals = run.column(spec.column)
    ls = [l + spec.offset for l in ls]
    with mpmath.workdps(dps + GUARD_DIGITS):
        scale = to_mpf(spec.scale)
        vals = [v * scale for v in vals]
        fit = extrapolate(ls, vals, exponent, form="log", exact=None if expected is None else expected.value,
                          dps=dps)
    out = {"depth": depth, "extrapolated": fit.estimate().to_json(),
           "digits": None if fit.digits is None else (dps if fit.digits == float("inf") else int(fit.digits)),
           "seconds": round(time.perf_counter() - start, 2),
           "switch": run.switch.describe() if run.switch is not None else None,
           "engine": "numerics.deep.iterate_marginal + extrapolate"}
    return out


def _numbers(terms, values, dps) -> list:
    """Series terms ``(power, SymPy coefficient)`` as ``(power, number)`` at ``values``."""
    out = []
    for p, k in terms:
        k = sympy.sympify(k)
        if k.free_symbols or k.atoms(UnevaluatedExpectation):
            k = _numeric(k, values, dps + GUARD_DIGITS).value
        out.append((p, k))
    return out


def _mp_map(f: CompiledLaws, name: str, fixed: dict, variables: tuple, dps: int):
    """The law ``name`` as an mpmath function of ``variables`` with ``fixed`` values: lambdified
    when it is closed (fast), else through the compiled laws (quadrature)."""
    law = f.laws[name]
    if not law.defined:
        raise NotDefinedError(f"{name} is not defined for {f.activation.name}: {law.note}")
    if law.closed:
        syms = {s.name: s for s in law.expr.free_symbols}
        with mpmath.workdps(dps + 2 * GUARD_DIGITS):
            subs = {syms[k]: (sympy.Float(mpmath.nstr(to_mpf(v.value if isinstance(v, Estimate) else
                                                              _exact(v) if isinstance(v, str) else v),
                                                      dps + 2 * GUARD_DIGITS), dps + 2 * GUARD_DIGITS))
                    for k, v in fixed.items() if k in syms}
        expr = law.expr.subs(subs)
        args = [syms[v] if v in syms else sympy.Dummy(v) for v in variables]
        return sympy.lambdify(args, expr, "mpmath")
    point = {k: (v.value if isinstance(v, Estimate) else v) for k, v in fixed.items()}

    def call(*xs):
        return f.evaluate_at([name], dict(point, **dict(zip(variables, xs))), dps + GUARD_DIGITS)[name].value
    return call


# ----------------------------------------------------------------------------------------
# the point
# ----------------------------------------------------------------------------------------
def _affine_q_map(f: CompiledLaws):
    """``(alpha, beta)`` of a closed q-map ``alpha q + beta`` (SymPy, in sigma_w2, sigma_b2), or None."""
    law = f.laws["q_map"]
    if not law.closed:
        return None
    expr = law.expr.subs({s: q_symbol for s in law.expr.free_symbols if s.name == "q"})
    if sympy.diff(expr, q_symbol, 2) != 0:
        return None
    return sympy.diff(expr, q_symbol), expr.subs(q_symbol, 0)


def rate(f: CompiledLaws, sigma_w2=None, sigma_b2="0", quantity: str = "q", *, q0=None, c0=None, dim: int = 1,
         dps: int = 30, critical: bool = False, fold: bool = False, confirm: bool = True,
         depth: int | None = None) -> Rate:
    """How ``quantity`` approaches its limit with depth at ``(sigma_w2, sigma_b2)`` (see the module).

    Parameters
    ----------
    f : CompiledLaws
    sigma_w2, sigma_b2 : decimal strings (read exactly)
        With ``critical=True`` give only ``sigma_b2``: ``sigma_w2`` is solved on the critical line.
    quantity : one of :data:`QUANTITIES`
        ``c`` is followed as ``1 - c_l`` (or ``c_l - c*``), ``d = 2 q (1 - c)``, the geometry for an
        input sphere of dimension ``dim`` and squared radius ``q0``, ``ntk`` the NTK entry of the pair.
    q0, c0 : the start (defaults: ``q0 = q*`` where ``q* > 0``, else 1; ``c0 = 0``)
    fold : bool
        Solve ``sigma_w2`` at the first saddle-node of the q-map at ``sigma_b2`` (``V(q*) = q*``,
        ``V'(q*) = 1``) instead: ``q`` approaches ``q*`` algebraically from one side.
    confirm : bool
        Iterate the exact maps deep and extrapolate the constant (``confirmation``).
    depth : int, optional
        Depth of the confirmation (default: what :data:`CONFIRM_SECONDS` allow, at most :data:`MAX_DEPTH`).
    """
    if quantity not in QUANTITIES:
        raise ParameterError(f"quantity must be one of {', '.join(QUANTITIES)}, got {quantity!r}")
    dps = check_dps(dps)
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ParameterError(f"dim must be an integer >= 1, got {dim!r}")
    for name, value, ok, need in (("q0", q0, lambda v: v > 0, "> 0"), ("c0", c0, lambda v: -1 <= v < 1,
                                                                       "in [-1, 1)")):
        if value is not None:
            try:
                num = to_mpf(value)
            except (TypeError, ValueError, ArithmeticError):
                raise ParameterError(f"{name} must be a number, got {value!r}") from None
            if not mpmath.isfinite(num) or not ok(num):
                raise ParameterError(f"{name} must be a finite number {need}, got {value}")
    name = f.activation.name
    cp = None
    if critical and fold:
        raise ParameterError("ask for the critical point or for the saddle-node, not both")
    if fold:
        if sigma_w2 is not None:
            raise ParameterError("give sigma_w2 or ask for the saddle-node, not both")
        check_variances(1, sigma_b2)
        sn = saddle_node(f, sigma_b2, dps)
        if sn is None:
            raise ConvergenceError(f"no saddle-node of the q-map of {name} at sigma_b2 = {sigma_b2} (V(q) = q with "
                                   f"V'(q) = 1 for q in (sigma_b2, 1e4))")
        ctx = _Context(f, sn[1], str(sigma_b2), quantity, q0, c0, dim, dps, confirm, depth, None)
        return ctx.saddle(sn[0])
    if critical:
        if sigma_w2 is not None:
            raise ParameterError("give sigma_w2 or ask for the critical point, not both")
        check_variances(1, sigma_b2)
        cp = critical_point(f, sigma_b2, dps=dps)
        sw2 = cp.sigma_w2
    else:
        if sigma_w2 is None:
            raise ParameterError("sigma_w2 is required (or ask for the critical point)")
        check_variances(sigma_w2, sigma_b2)
        sw2 = str(sigma_w2)
    ctx = _Context(f, sw2, str(sigma_b2), quantity, q0, c0, dim, dps, confirm, depth, cp)
    return ctx.run()


class _Context:
    """One call of :func:`rate`: the point, its kind, and the quantity's law."""

    def __init__(self, f, sw2, sb2, quantity, q0, c0, dim, dps, confirm, depth, cp):
        self.f, self.sw2, self.sb2, self.quantity = f, sw2, sb2, quantity
        self.q0, self.c0, self.dim, self.dps = q0, c0, dim, dps
        self.confirm, self.depth, self.cp = confirm, depth, cp
        self.act = f.activation
        self.sb2_exact = parse_number(sb2)
        self.sw2_exact = None if isinstance(sw2, Estimate) else parse_number(sw2)

    def result(self, point, kind, **kw) -> Rate:
        start = {k: v for k, v in (("q0", self.q0), ("c0", self.c0)) if v is not None}
        if self.quantity in ("metric", "Hsq", "trHsq", "Rbar"):
            start["dim"] = self.dim
        return Rate(self.act.name, str(self.sw2) if not isinstance(self.sw2, Estimate) else str(self.sw2),
                    self.sb2, self.dps, self.quantity, point, kind, start=start, **kw)

    # ------------------------------------------------------------------------------
    def run(self) -> Rate:
        affine = _affine_q_map(self.f)
        if affine is not None and self.sb2_exact == 0:
            sw2 = self.sw2_exact
            if sw2 is None:                          # from the critical point: chi_1 = 1 solved exactly
                chi1 = self.f.laws["chi_1"]
                roots = sympy.solve(chi1.expr - 1, sigma_w2) if chi1.defined and chi1.closed else []
                sw2 = roots[0] if len(roots) == 1 and roots[0].is_number else None
            if sw2 is not None and sympy.simplify(affine[0].subs(sigma_w2, sw2) - 1) == 0 \
                    and sympy.simplify(affine[1].subs({sigma_w2: sw2, sigma_b2: 0})) == 0:
                return self.scale_invariant(sw2)
        if self.sb2_exact == 0 and (self.cp is None or self.cp.branch == "marginal"):
            try:
                e = q_map_at_zero(self.act)
            except NotDefinedError:
                e = None
            if e is not None and (self.cp is not None or sympy.simplify(e.sigma_w2 - self.sw2_exact) == 0):
                return self.zero_marginal(e)
        if self.cp is not None and self.cp.branch != "marginal":
            return self.critical_line()
        return self.exponential()

    # ------------------------------------------------------------------------------
    def _attracting(self, law, values):
        """ConvergenceError unless the leading coefficient ``a`` of ``y' = y - a y^p`` is > 0."""
        a = _numeric(law.a, values, self.dps)
        if not a.value - a.error > 0:
            raise ConvergenceError(
                f"the {law.quantity} map moves away from its marginal fixed point "
                f"on the side it is approached from (y' = y - a y^{law.p} with a = {mpmath.nstr(a.value, 8)} <= 0): "
                f"no algebraic approach")

    def _algebraic(self, point, law, values, limit, scale=1, expansion=None, note=None, confirm=None) -> Rate:
        """A Rate from an :class:`AlgebraicLaw` (times ``scale``), evaluated at ``values``."""
        self._attracting(law, values)
        const_expr = tidy(sympy.sympify(law.constant * scale))
        constant = _numeric(const_expr, values, self.dps)
        nxt = nxt_exact = None
        if law.next_form is not None:
            nxt_expr = tidy(sympy.sympify(law.next_coefficient * scale))
            nxt = _numeric(nxt_expr, values, self.dps)
            nxt_exact = _exact_text(nxt_expr)
        text = str(law) if scale == 1 else f"{self.quantity}_l ~ ({_txt(scale)}) * [{str(law).split('~ ')[1]}]"
        expansion_text = str(expansion) if expansion is not None else ""
        if _exact_text(const_expr) is None:      # numbers, not expectations, in the one-line renderings
            lhs = law.variable if self.quantity in ("c", "q") else self.quantity
            text = f"{lhs}_l ~ K l^-{law.exponent}" + (
                f" + B {'ln(l) ' if law.next_form == 'log' else ''}l^-{law.next_power}" if nxt is not None else "") \
                + f",  K = {mpmath.nstr(constant.value, 12)}" + (f", B = {mpmath.nstr(nxt.value, 12)}" if nxt else "")
            if expansion is not None:
                nums = _numbers(expansion.terms, values, 15)
                expansion_text = ("y' = y " + " ".join(f"{'-' if k < 0 else '+'} {mpmath.nstr(abs(k), 12)} "
                                                       f"y^{p}" for p, k in nums)
                                  + f" + O(y^{expansion.order}),  y = {law.variable} ({expansion.how})")
        out = self.result(point, "algebraic", limit=limit, side="above" if self.quantity == "d" else law.side,
                          exponent=law.exponent, constant=constant,
                          exact_constant=_exact_text(const_expr), constant_latex=expr_latex(const_expr),
                          universal=True, next_form=law.next_form, next_power=law.next_power,
                          next_coefficient=nxt, next_exact=nxt_exact, law=text,
                          law_latex=(law.latex() if scale == 1 else
                                     f"{self.quantity}_l \\simeq {expr_latex(sympy.expand(law.expression() * scale))}"),
                          expansion=expansion_text,
                          expansion_latex=expansion.latex() if expansion is not None else "")
        if note:
            out.notes.append(note)
        if self.confirm and confirm is not None:
            out.confirmation = confirm(constant, nxt)
        return out

    def _driven(self, point, dl, limit=None, expansion=None, confirm=None, values=None, note=None,
                text=None) -> Rate:
        if dl.kind == "converged":
            out = self.result(point, "converged", limit=limit, expansion=str(expansion) if expansion else "",
                              law=f"{self.quantity}_l converges ({dl.note})")
            out.notes.append(dl.note)
            return out
        constant = exact = latex = None
        if dl.constant is not None:
            constant = _numeric(dl.constant, values or {}, self.dps)
            exact, latex = _exact_text(dl.constant), expr_latex(dl.constant)
        out = self.result(point, "algebraic", limit=limit, side=None if limit is None else "above",
                          exponent=dl.exponent, constant=constant, exact_constant=exact, constant_latex=latex,
                          universal=dl.universal, law=text or f"{self.quantity}_l {dl}",
                          law_latex=f"{_TEX.get(self.quantity, self.quantity)}_l \\simeq "
                                    + (expr_latex(dl.constant) if dl.constant is not None else "C")
                                    + f" \\, l^{{{sympy.latex(-dl.exponent)}}}",
                          expansion=str(expansion) if expansion else "")
        if text is None:
            out.notes.append(dl.note)
        if note:
            out.notes.append(note)
        if self.confirm and confirm is None and getattr(self, "confirm_note", None):
            out.confirmation = {"depth": None, "extrapolated": None, "digits": None, "note": self.confirm_note}
        if self.confirm and confirm is not None:
            conf = confirm(constant)
            out.confirmation = conf
            if not dl.universal and conf.get("extrapolated") is not None:
                ext = conf["extrapolated"]
                with mpmath.workdps(self.dps + GUARD_DIGITS):
                    out.constant = Estimate(mpmath.mpf(ext["value"]), mpmath.mpf(ext["error"]), self.dps)
                out.notes.append("the constant is not universal: it is the deep iteration's extrapolation for "
                                 "the stated start")
        return out

    def undefined(self, point, why) -> Rate:
        out = self.result(point, None)
        out.notes.append(why)
        return out

    # ------------------------------------------------------------------------------
    def zero_marginal(self, e) -> Rate:
        point = f"q* = 0 marginal point (phi(0) = 0, sigma_b2 = 0, sigma_w2 = {e.sigma_w2} = 1/phi'(0)^2)"
        sw2_value = e.sigma_w2
        q0 = self.q0 if self.q0 is not None else "1"
        self.q0 = q0
        law = algebraic_law(e)
        self._attracting(law, {})
        dps = self.dps
        qmap = _mp_map(self.f, "q_map", {"sigma_w2": sw2_value, "sigma_b2": 0}, ("q",), dps)
        zero = Estimate(mpmath.mpf(0), mpmath.mpf(0), dps)
        if self.quantity == "q":
            def confirm(constant, nxt):
                series = q_map_at_zero(self.act, order=SERIES_ORDER).terms
                return _confirm(_Deep(qmap, _exact(q0), 0, 1, list(series)), law.exponent, dps, self.depth,
                                constant)
            return self._algebraic(point, law, {}, zero, expansion=e, confirm=confirm)
        if self.quantity in _GEOMETRY:
            law_name = _GEOMETRY[self.quantity]
            if not self.f.laws[law_name].defined:
                return self.undefined(point, f"{law_name} is not defined: {self.f.laws[law_name].note}")
            try:
                g, s = geometry_driver(self.act, self.quantity, self.dim)
            except NotDefinedError as exc:
                return self.undefined(point, str(exc))
            gamma, s0, s1, tau = driver_terms(e, g, s)
            dl = driven_law(gamma, s0, s1, tau)
            zmap = _mp_map(self.f, law_name, {"sigma_w2": sw2_value, "sigma_b2": 0, "m": self.dim},
                           ("q", _STATE_VAR[self.quantity]), dps)
            start = initial_state(_exact(q0), self.dim)[self.quantity]

            def confirm(constant):
                series = q_map_at_zero(self.act, order=SERIES_ORDER).terms
                g_hi, s_hi = geometry_driver(self.act, self.quantity, self.dim, order=SERIES_ORDER)
                driven = Driven(start, lambda qv: zmap(qv, 1) - zmap(qv, 0),
                                (lambda qv: zmap(qv, 0)) if s_hi else None,
                                [(0, 1)] + sorted(g_hi.items()), sorted(s_hi.items()) or None)
                return _confirm(_Deep(qmap, _exact(q0), 0, 1, list(series), {"z": driven}, "z"), dl.exponent,
                                dps, self.depth, constant)
            limit = zero if dl.exponent is not None and dl.exponent > 0 else None
            if self.quantity == "Rbar" and self.dim == 1:
                return self.result(point, "converged", limit=zero, law="Rbar = 0 for a curve (dim 1)")
            return self._driven(point, dl, limit=limit, confirm=confirm)
        return self.undefined(point, f"the rate of {self.quantity} at the q* = 0 marginal point is not implemented "
                                     f"(only q and the geometry of one input are)")

    def scale_invariant(self, sw2) -> Rate:
        point = f"scale-invariant critical point (V(q) = q exactly, chi_1 = 1; sigma_w2 = {sw2})"
        dps = self.dps
        q0 = self.q0 if self.q0 is not None else "1"
        self.q0 = q0
        q0x = _exact(q0)
        q0est = Estimate(to_mpf(q0x), mpmath.mpf(0), dps)
        if self.cp is not None:
            self.sw2 = str(sw2)
        if self.quantity == "q":
            return self.result(point, "converged", limit=q0est, law="q_l = q0 at every layer (the q-map is the identity)")
        chi1 = self.f.laws["chi_1"]
        if self.quantity in _GEOMETRY:
            if not self.f.laws[_GEOMETRY[self.quantity]].defined:
                return self.undefined(point, f"{_GEOMETRY[self.quantity]} is not defined: "
                                             f"{self.f.laws[_GEOMETRY[self.quantity]].note}")
            if self.quantity == "metric":
                return self.result(point, "converged", limit=q0est, law="metric_l = q0 (chi_1 = 1 at every layer)")
            value = initial_state(q0x, self.dim)["Rbar"]
            return self.result(point, "converged", limit=Estimate(to_mpf(value), mpmath.mpf(0), dps),
                               law="Rbar_l = Rbar_0 (chi_1 = 1 at every layer)")
        c0 = self.c0 if self.c0 is not None else "0"
        self.c0 = c0
        if not (chi1.defined and chi1.closed):
            return self.undefined(point, f"chi_1 is not defined in closed form for {self.act.name}")
        point_values = {sigma_w2: sw2, sigma_b2: 0}
        e = c_map_at_one(self.act, self.f.laws["c_map"], point=point_values)
        law = algebraic_law(e)
        cmap = _mp_map(self.f, "c_map", {"sigma_w2": sw2, "sigma_b2": 0, "q_star": q0x}, ("c",), dps)
        c0x = _exact(c0)
        if self.quantity in ("c", "d"):
            scale = 1 if self.quantity == "c" else 2 * q0x

            def confirm(constant, nxt):
                series = c_map_at_one(self.act, self.f.laws["c_map"], order=PUISEUX_ORDER, point=point_values).terms
                return _confirm(_Deep(cmap, c0x, 1, -1, list(series), scale=scale), law.exponent, dps, self.depth,
                                constant)
            limit = Estimate(mpmath.mpf(1 if self.quantity == "c" else 0), mpmath.mpf(0), dps)
            return self._algebraic(point, law, {}, limit, scale=scale, expansion=e, confirm=confirm)
        # ntk
        if not self.f.laws["ntk_map"].defined:
            return self.undefined(point, f"ntk_map is not defined: {self.f.laws['ntk_map'].note}")
        g, s = ntk_driver(e, q0x)
        dl = driven_law(*driver_terms(e, g, s))
        chic = _mp_map(self.f, "chi_c", {"sigma_w2": sw2, "sigma_b2": 0, "q_star": q0x}, ("c",), dps)

        def confirm(constant):
            e_hi = c_map_at_one(self.act, self.f.laws["c_map"], order=PUISEUX_ORDER, point=point_values)
            g_hi, s_hi = ntk_driver(e_hi, q0x)
            driven = Driven(c0x * q0x, chic, lambda cv: to_mpf(q0x) * cmap(cv), [(0, 1)] + sorted(g_hi.items()),
                            sorted(s_hi.items()))
            return _confirm(_Deep(cmap, c0x, 1, -1, list(e_hi.terms), {"ntk": driven}, "ntk"), dl.exponent, dps,
                            self.depth, constant)
        return self._driven(point, dl, expansion=e, confirm=confirm)

    def critical_line(self) -> Rate:
        cp = self.cp
        point = f"critical line chi_1(q*) = 1 at sigma_b2 = {self.sb2}: sigma_w2 = {cp.sigma_w2}, q* = {cp.q_star}"
        dps = self.dps
        qs = cp.q_star
        if self.quantity == "q":
            fp = fixed_point(self.f, cp.sigma_w2.value, self.sb2, dps, q0=float(to_mpf(_exact(self.q0)))
                             if self.q0 is not None else 1.0)
            return self._exponential_record(point, fp.q_star, fp.slope, "q")
        values = {sigma_w2: cp.sigma_w2, sigma_b2: self.sb2, q_star: qs}
        if self.quantity in _GEOMETRY:
            if not self.f.laws[_GEOMETRY[self.quantity]].defined:
                return self.undefined(point, f"{_GEOMETRY[self.quantity]} is not defined: "
                                             f"{self.f.laws[_GEOMETRY[self.quantity]].note}")
            note = ("q0 = q*: q stays at q* and chi_1(q*) = 1" if self.q0 is None else
                    "q converges to q* exponentially, so chi_1(q_l) - 1 is summable")
            if self.quantity in ("metric", "Rbar"):
                if self.q0 is None:
                    start = initial_state(q_star, self.dim)[self.quantity]
                    lim = _numeric(start, {q_star: qs}, dps)
                    return self.result(point, "converged", limit=lim, law=f"{self.quantity}_l = "
                                       f"{self.quantity}_0 at every layer ({note})")
                dl = driven_law(0, 0)
                out = self._driven(point, dl)
                out.notes.append("the limit depends on the start: iterate it with 'neurodyn iterate'")
                return out
            if "chi_2" not in self.f.names():
                return self.undefined(point, f"chi_2 is not defined: {self.f.laws['chi_2'].note}")
            chi2 = self.f.laws["chi_2"].expr.subs({s: q_star for s in self.f.laws["chi_2"].expr.free_symbols
                                                   if s.name == "q"})
            s0 = self.dim * (self.dim + 2) * chi2
            dl = driven_law(0, s0)
            m2 = self.dim * (self.dim + 2)
            if self.q0 is None:
                self.confirm_note = ("not needed: with q0 = q* the recursion is exactly "
                                     f"{self.quantity}_l = {self.quantity}_0 + l m(m+2) chi_2(q*)")
            return self._driven(point, dl, values=values, note=note + "; the source m(m+2) chi_2(q*) accumulates",
                                text=f"{self.quantity}_l ~ m(m+2) chi_2(q*) l = {m2} chi_2(q*) l (dim m = {self.dim})")
        self.c0 = self.c0 if self.c0 is not None else "0"
        e = c_map_at_one(self.act, self.f.laws["c_map"])
        law = algebraic_law(e)
        if self.quantity in ("c", "d"):
            scale = 1 if self.quantity == "c" else 2 * q_star
            limit = Estimate(mpmath.mpf(1 if self.quantity == "c" else 0), mpmath.mpf(0), dps)
            confirm = self._c_confirm(law, values) if self.q0 is None else None
            return self._algebraic(point, law, values, limit, scale=scale, expansion=e, confirm=confirm,
                                   note="the constant does not depend on the start; with q0 != q* the "
                                        "lengths converge exponentially first" if self.q0 is not None else None)
        if not self.f.laws["ntk_map"].defined:
            return self.undefined(point, f"ntk_map is not defined: {self.f.laws['ntk_map'].note}")
        g, s = ntk_driver(e, q_star)
        dl = driven_law(*driver_terms(e, g, s))
        return self._driven(point, dl, values=values, expansion=e,
                            confirm=self._c_confirm(law, values) if self.q0 is None else None)

    def _c_confirm(self, law, values):
        """The confirmation of c, d or ntk on the critical line: the exact c-map (closed form, or 2-D
        quadrature), its Price expansion in numbers; a 2-D quadrature map is started near ``c = 1``
        (the constant is universal), where a few exact steps confirm the series."""
        f, dps = self.f, self.dps
        closed = f.laws["c_map"].closed and (self.quantity != "ntk" or f.laws["chi_c"].closed)
        fixed = {"sigma_w2": values[sigma_w2], "sigma_b2": values[sigma_b2], "q_star": values[q_star]}
        cmap = _mp_map(f, "c_map", fixed, ("c",), dps)
        qv = values[q_star].value
        scale = 2 * qv if self.quantity == "d" else 1

        def confirm(constant, nxt=None):
            e_hi = c_map_at_one(self.act, f.laws["c_map"], order=SERIES_ORDER if closed else SERIES_ORDER_QUADRATURE)
            series = _numbers(e_hi.terms, values, dps)
            c0, note, offset = _exact(self.c0), None, 0
            if not closed:                 # start where the series is exact to working precision
                (p2, k2), (pk, kk) = series[0], series[-1]
                with mpmath.workdps(dps + GUARD_DIGITS):
                    y0 = (mpmath.mpf(10) ** (-(dps + 3)) * abs(k2 / kk)) ** (1 / (pk - p2)) / 2
                    y0 = mpmath.mpf(mpmath.nstr(y0, 2))
                c0 = 1 - parse_number(mpmath.nstr(y0, 2))
                with mpmath.workdps(dps):            # the law's layer where y = y0: y0 = (A l0)^(-1/(p-1))
                    offset = int(y0 ** (-(p2 - 1)) / ((p2 - 1) * abs(k2)))
                note = (f"started at c0 = 1 - {mpmath.nstr(y0, 2)}, taken as layer {offset} of the law (the "
                        f"constant is universal): the c-map is a "
                        f"2-D quadrature here, seconds a layer, so only the few exact steps that confirm the "
                        f"series are taken")
            driven, column = None, "y"
            if self.quantity == "ntk":
                chic = _mp_map(f, "chi_c", fixed, ("c",), dps)
                g_hi, s_hi = ntk_driver(e_hi, q_star)
                z0 = _numeric(c0 * q_star, values, dps).value        # Theta_0 = c0 q0, q0 = q*
                driven = {"ntk": Driven(z0, chic, lambda cv: qv * cmap(cv),
                                        [(0, 1)] + _numbers(sorted(g_hi.items()), values, dps),
                                        _numbers(sorted(s_hi.items()), values, dps))}
                column = "ntk"
            exponent = -1 if self.quantity == "ntk" else law.exponent
            out = _confirm(_Deep(cmap, c0, 1, -1, series, driven, column, scale, offset), exponent, dps,
                           self.depth, constant)
            if note:
                out["note"] = note
            return out
        return confirm

    def saddle(self, qs: Estimate) -> Rate:
        point = f"saddle-node of the q-map at sigma_b2 = {self.sb2}: sigma_w2 = {self.sw2}, q* = {qs} (V'(q*) = 1)"
        if self.quantity != "q":
            return self.undefined(point, f"only the rate of q is implemented at a saddle-node (not {self.quantity})")
        dps = self.dps
        values = {sigma_w2: self.sw2, sigma_b2: self.sb2, q_star: qs}
        e = q_map_at(self.act, order=3)
        curvature = _numeric(e.terms[0][1], values, dps)          # V''(q*)/2
        if abs(curvature.value) <= curvature.error:
            raise ConvergenceError("V''(q*) = 0 at the saddle-node to working precision: not a quadratic fold")
        below = curvature.value > 0                # V(q) > q on both sides: approached from below
        if below:
            e = flip(e)
        law = algebraic_law(e)
        side = -1 if below else 1
        qmap = _mp_map(self.f, "q_map", {"sigma_w2": self.sw2, "sigma_b2": self.sb2}, ("q",), dps)

        def confirm(constant, nxt):
            if not self.f.laws["q_map"].closed:
                return {"depth": None, "extrapolated": None, "digits": None,
                        "note": "not run: the q-map is a quadrature here, and its Taylor series at q* to the order "
                                "the deep iteration needs is too costly"}
            # the point itself to twice the digits, so that the map is marginal to working precision
            q_hi, w_hi = saddle_node(self.f, self.sb2, 2 * dps + GUARD_DIGITS)
            qmap_hi = _mp_map(self.f, "q_map", {"sigma_w2": w_hi, "sigma_b2": self.sb2}, ("q",),
                              2 * dps + GUARD_DIGITS)
            with mpmath.workdps(2 * dps + 2 * GUARD_DIGITS):      # Taylor coefficients of the closed map at q*
                coeffs = mpmath.taylor(qmap_hi, q_hi.value, SADDLE_ORDER)
                series = [(k, side ** (k - 1) * coeffs[k]) for k in range(2, SADDLE_ORDER + 1)]
            (p2, k2), (pk, kk) = series[0], series[-1]
            with mpmath.workdps(dps + GUARD_DIGITS):        # start where the series is exact (universal constant)
                y0 = mpmath.mpf(mpmath.nstr((mpmath.mpf(10) ** (-(dps + 3)) * abs(k2 / kk)) ** (1 / (pk - p2)) / 2, 2))
                offset = int(y0 ** (-(p2 - 1)) / ((p2 - 1) * abs(k2)))
                x0 = q_hi.value + side * y0
            out = _confirm(_Deep(qmap_hi, x0, q_hi.value, side, series, offset=offset), law.exponent, dps,
                           self.depth, constant)
            out["note"] = (f"started at q0 = q* {'-' if below else '+'} {mpmath.nstr(y0, 2)}, taken as layer {offset} "
                           f"of the law (the constant is universal)")
            return out
        note = ("V(q) < q on both sides of q*: q approaches q* from above and leaves it below" if not below else
                "V(q) > q on both sides of q*: q approaches q* from below and leaves it above")
        return self._algebraic(point, law, values, qs, expansion=e, note=note, confirm=confirm)

    # ------------------------------------------------------------------------------
    def _exponential_record(self, point, limit, factor: Estimate, what, grows_limit=None) -> Rate:
        with mpmath.workdps(self.dps + 2 * GUARD_DIGITS):
            a = abs(factor.value)
            if a == 0:
                xi = None
            elif a < 1:
                xi = depth_scale(factor)
            elif a > 1:
                x_ = 1 / mpmath.log(a)
                xi = Estimate(-x_, factor.error * x_**2 / a, self.dps)
            else:
                raise ConvergenceError(f"the factor per layer of {what} is 1 to working precision: marginal, "
                                       f"but not one of the marginal points neurodyn recognises")
        out = self.result(point, "exponential", limit=limit, xi=xi, factor=factor,
                          law=f"|{self.quantity}_l - limit| ~ C {factor}^l" if a < 1 else
                          f"{self.quantity}_l ~ C {factor}^l (grows)")
        if a > 1:
            out.notes.append("xi < 0: the quantity grows like exp(-l/xi) = factor^l")
        if factor.value < 0:
            out.notes.append("factor < 0: the approach oscillates from layer to layer")
        return out

    def exponential(self) -> Rate:
        dps = self.dps
        two = self.quantity in ("c", "d", "ntk")
        q0f = float(to_mpf(_exact(self.q0))) if self.q0 is not None else 1.0
        fp = fixed_point(self.f, self.sw2, self.sb2, dps, q0=q0f, two_input=two)
        if fp.marginal:
            raise NotDefinedError(f"V'(q*) = 1 at q* = {fp.q_star}: a saddle-node of the q-map; its one-sided "
                                  f"algebraic law is not implemented in 'rate'")
        point = f"not marginal: q* = {fp.q_star}, V'(q*) = {fp.slope}" + (
            f", chi_1 = {fp.chi_1}" if fp.chi_1 is not None else "")
        slowest = [fp.slope] if self.q0 is not None else []
        note_q = ("q0 given: the slower of the rates of q and of the quantity is reported"
                  if self.q0 is not None else "the lengths start at q* (give --q0 for another start)")

        def slowest_of(own):
            cands = [own] + ([fp.slope] if slowest and self.quantity != "q" else [])
            return max(cands, key=lambda e_: abs(e_.value))
        if self.quantity == "q":
            return self._exponential_record(point, fp.q_star, fp.slope, "q")
        if self.quantity in ("c", "d"):
            if fp.c_star is None:
                raise ConvergenceError(f"c* not found: {fp.notes.get('c_star', '')}")
            if self.quantity == "c":
                lim = fp.c_star
            else:
                lim = Estimate(2 * fp.value * (1 - fp.c_star.value),
                               2 * fp.error * abs(1 - fp.c_star.value) + 2 * fp.value * fp.c_star.error, dps)
            out = self._exponential_record(point, lim, slowest_of(fp.chi_c_star), self.quantity)
            out.notes.append(note_q)
            return out
        chi1 = fp.chi_1
        if chi1 is None:
            return self.undefined(point, f"chi_1 is not defined: {fp.notes.get('chi_1', '')}")
        inv = Estimate(1 / chi1.value, chi1.error / chi1.value**2, dps)
        zero = Estimate(mpmath.mpf(0), mpmath.mpf(0), dps)
        if self.quantity == "metric":
            out = self._exponential_record(point, zero if chi1.value < 1 else None, slowest_of(chi1), "metric")
        elif self.quantity in ("Hsq", "trHsq"):
            if fp.chi_2 is None:
                return self.undefined(point, f"chi_2 is not defined: {fp.notes.get('chi_2', '')}")
            lim = None
            if chi1.value > 1:
                m = self.dim * (self.dim + 2)
                v = m * fp.chi_2.value / (chi1.value * (chi1.value - 1))
                lim = Estimate(v, abs(v) * (fp.chi_2.error / fp.chi_2.value + 3 * chi1.error / abs(chi1.value - 1)),
                               dps)
            out = self._exponential_record(point, lim, slowest_of(inv), self.quantity)
        elif self.quantity == "Rbar":
            if self.dim == 1:
                return self.result(point, "converged", limit=zero, law="Rbar = 0 for a curve (dim 1)")
            out = self._exponential_record(point, zero if chi1.value > 1 else None, slowest_of(inv), "Rbar")
        else:   # ntk
            if fp.chi_c_star is None:
                raise ConvergenceError(f"c* not found: {fp.notes.get('c_star', '')}")
            k = fp.chi_c_star
            lim = None
            if abs(k.value) < 1:
                v = fp.value * fp.c_star.value / (1 - k.value)
                lim = Estimate(v, abs(v) * (fp.error / fp.value + k.error / (1 - k.value)) + fp.c_star.error
                               * fp.value / (1 - k.value), dps)
            out = self._exponential_record(point, lim, slowest_of(k), "ntk")
        out.notes.append(note_q)
        return out


_TEX = {"Hsq": r"\lvert H\rvert^{2}", "trHsq": r"\lvert \operatorname{tr} H\rvert^{2}", "Rbar": r"\bar{R}",
        "ntk": r"\Theta", "metric": "g"}


def _txt(expr) -> str:
    return str(expr).replace("**", "^")


