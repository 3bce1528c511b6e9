r"""Two inputs at the length fixed point: c*, its slope, depth scales, phases, critical line.

* :func:`correlation_fixed_point` - the stable fixed point ``c*`` of the
  c-map in ``[-1, 1]`` (``c* = 1`` in the ordered phase), ``chi_c(c*)``,
  ``xi_c = -1/ln chi_c(c*)`` and the phase; :func:`correlation_fixed_points`
  lists every fixed point.
* :func:`critical_point` - ``sigma_w2`` where the *attracting* length fixed
  point (``V'(q*) < 1``) has ``chi_1 = 1`` at a given ``sigma_b2``, at any
  precision, parametrised by ``q*`` (docs/theory.md §3.2):
  ``sigma_w2(q) = 1/E[phi'^2]``, ``sigma_b2(q) = q - E[phi^2]/E[phi'^2]``.
  Crossings on the repelling branch are not critical points; the fold
  (saddle-node) where the attracting branch ends is reported instead.
* :func:`phase_diagram` - ``chi_1(q*)`` and the phase on a float64 grid.

This module does not import :mod:`neurodyn.numerics.fixedpoint` (which imports
it); the generic solver is :mod:`neurodyn.numerics.solve`.

>>> from neurodyn.theory import catalog, derive
>>> from neurodyn.numerics import compile_laws
>>> cp = critical_point(compile_laws(derive(catalog.get("erf"))), "0.05", dps=15)
>>> str(cp.sigma_w2), str(cp.q_star)
('1.37583900734668', '0.517176837980564')
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import mpmath
import numpy as np

from neurodyn.theory.errors import ConvergenceError, NotDefinedError

from .compile import CompiledLaws, check_dps, check_variances, to_mpf
from .quadrature import GUARD_DIGITS
from .results import Estimate, FixedPoint, ParameterError
from .solve import depth_scale, newton_polish, sensitivities

__all__ = ["correlation_fixed_point", "correlation_fixed_points", "critical_point", "critical_line", "CriticalPoint",
           "saddle_node",
           "phase_diagram", "PhaseDiagram", "phase_of", "is_odd"]


def phase_of(chi_1: Estimate) -> str:
    """``ordered`` (chi_1 < 1), ``chaotic`` (> 1) or ``critical`` (1 within its error estimate)."""
    gap = chi_1.value - 1
    if abs(gap) <= chi_1.error:
        return "critical"
    return "ordered" if gap < 0 else "chaotic"


def is_odd(activation) -> bool:
    """True when ``phi(-x) = -phi(x)`` is recognised by SymPy's automatic simplification.

    Only the canonical form is compared (no ``simplify``): fast, and a True is
    always right (tanh, erf, sin, x^3 ...); a False may miss an odd function.
    """
    import sympy                                   # here: the single-input path needs no SymPy
    from neurodyn.theory.symbols import x as x_symbol

    phi = activation.expr
    try:
        return phi.subs(x_symbol, -x_symbol) + phi == 0
    except (TypeError, ValueError, sympy.SympifyError):
        return False


def _c_point(fp: FixedPoint, c_value):
    return dict(c=c_value, q_star=fp.value, sigma_w2=fp.sigma_w2, sigma_b2=fp.sigma_b2)


def _c_evaluator(f: CompiledLaws, fp: FixedPoint):
    """``evaluate(names, c, digits)`` for :func:`newton_polish` on the c-map at ``fp``."""
    def evaluate(which, cv, digits):
        return f.evaluate_at(which, _c_point(fp, cv), dps=digits)
    return evaluate


def _float_c_start(f: CompiledLaws, fp: FixedPoint, c0=0.0):
    """Float64 iteration of the c-map from c0, switching to Newton (C and chi_c in one
    sweep per step) as soon as the iteration is seen to converge slowly.

    Iterates stay in [-1, 1): a step that would reach 1 (the unstable fixed point of
    the chaotic phase, where the 2-D integrand degenerates) goes half-way instead.
    """
    point = _c_point(fp, None)

    def inside(new, old):
        if new >= 1:
            return 0.5 * (old + 1)
        return max(new, -1.0)

    def value(names, cv):
        vals = f.evaluate_at(names, {**point, "c": cv})
        out = [float(vals[n]) for n in names]
        if not all(np.isfinite(out)):
            # the float64 2-D quadrature can fail near c = 1 (kinked activations): 15-digit mpmath instead
            vals = f.evaluate_at(names, {**point, "c": cv}, dps=15)
            out = [float(vals[n].value) for n in names]
            if not all(np.isfinite(out)):
                raise ConvergenceError(f"c*: the c-map is not finite at c = {cv!r}", last=cv)
        return out

    cv = float(c0)
    history = []
    it = 0
    for it in range(1, 3001):
        (new,) = value(["c_map"], cv)
        step = new - cv
        cv = inside(new, cv)
        if abs(step) <= 1e-14:
            return cv, it
        history.append(abs(step))
        if it >= 6 and 0.3 * history[-2] < history[-1] < history[-2]:
            break                                   # linear convergence, ratio > 0.3: Newton is faster
    for extra in range(60):
        cmap, slope = value(["c_map", "chi_c"], cv)
        new = inside(cv - (cmap - cv) / (slope - 1), cv)
        if abs(new - cv) <= 1e-14:
            return new, it + extra
        cv = new
    return cv, it + 60


def correlation_fixed_point(f: CompiledLaws, fp: FixedPoint) -> FixedPoint:
    """``fp`` (a q* fixed point) completed with c*, chi_c(c*), xi_c and the phase.

    Ordered phase: ``c* = 1`` and ``chi_c(c*) = chi_1``. Chaotic phase: the c-map
    is iterated from ``c = 0`` in float64, then polished by Newton's method with
    the exact slope ``chi_c`` and checked at higher precision, like ``q*``; ``c*``
    is confirmed in absolute terms (a correlation is of order one, and ``c*`` can
    be 0). For an odd activation without bias ``C(0) = 0`` exactly, so the
    iteration from 0 stays at ``c* = 0``.

    Raises ConvergenceError or NotDefinedError naming c* (``fixed_point(...,
    two_input=True)`` catches them and keeps q*).
    """
    dps = fp.dps
    notes = dict(fp.notes)
    if fp.chi_1 is None:
        notes.update(c_star="chi_1 is not defined", chi_c_star="chi_1 is not defined",
                     xi_c="chi_1 is not defined")
        return dataclasses.replace(fp, phase="undefined", notes=notes)
    phase = phase_of(fp.chi_1)
    if phase != "chaotic":
        c_star = Estimate(mpmath.mpf(1), mpmath.mpf(0), dps)
        chi_c = fp.chi_1
        xi_c = depth_scale(chi_c) if phase == "ordered" else None
        if xi_c is None:
            notes["xi_c"] = ("chi_1 = 1: xi_c diverges on the critical line (algebraic approach to c* = 1)"
                             if phase == "critical" else
                             "chi_c(c*) = chi_1 = 0: correlations reach c* = 1 at once (no exponential depth scale)")
        return dataclasses.replace(fp, c_star=c_star, chi_c_star=chi_c, xi_c=xi_c, phase=phase, notes=notes)
    if "c_map" not in f.names() or "chi_c" not in f.names():
        raise NotDefinedError(f"c*: the c-map of {f.activation.name} is not defined")
    names = ["c_map", "chi_c"]
    evaluate = _c_evaluator(f, fp)
    exact_zero = False
    if to_mpf(fp.sigma_b2) == 0 and is_odd(f.activation):
        with mpmath.workdps(dps + 2 * GUARD_DIGITS):
            vals = evaluate(names, mpmath.mpf(0), dps + GUARD_DIGITS)
            exact_zero = abs(vals["chi_c"].value) + vals["chi_c"].error < 1   # 0 attracts
    if exact_zero:
        cv, error = mpmath.mpf(0), mpmath.mpf(0)
    else:
        c_float, _ = _float_c_start(f, fp)
        sol = newton_polish(evaluate, c_float, dps, "c_map", "chi_c", names, "c*", scale=1)
        cv, error, vals = sol.value, sol.error, sol.checked
    with mpmath.workdps(dps + 2 * GUARD_DIGITS):
        if not exact_zero:
            # the error of q* moves c* by (dC/dq*) dq*/(1 - chi_c)
            qf = float(fp.value)
            sens_q = sensitivities(lambda qa: f.evaluate_at(["c_map"], {**_c_point(fp, float(cv)), "q_star": qa}),
                                   qf)
            gap = abs(1 - vals["chi_c"].value) - vals["chi_c"].error
            error += abs(sens_q["c_map"]) * fp.error / gap
        sens_c = sensitivities(lambda ca: f.evaluate_at(["chi_c"], _c_point(fp, ca)), float(cv), lower=-1.0)
        c_star = Estimate(cv, error, dps)
        chi_c = Estimate(vals["chi_c"].value, vals["chi_c"].error + abs(sens_c["chi_c"]) * error, dps)
        xi_c = depth_scale(chi_c)
    if xi_c is None:
        notes["xi_c"] = "|chi_c(c*)| >= 1: c* is not attracting"
    return dataclasses.replace(fp, c_star=c_star, chi_c_star=chi_c, xi_c=xi_c, phase=phase, notes=notes)


def correlation_fixed_points(f: CompiledLaws, fp: FixedPoint, grid: int = 400) -> list:
    """Every fixed point of the c-map in [-1, 1]: a list of (c* Estimate, chi_c Estimate, stable)."""
    cs = np.linspace(-1, 1, grid + 1)
    vals = f.evaluate_at(["c_map"], _c_point(fp, cs))["c_map"] - cs
    found = []
    for i in range(grid):
        if vals[i] == 0 or vals[i] * vals[i + 1] < 0:
            found.append(0.5 * (cs[i] + cs[i + 1]) if vals[i] != 0 else cs[i])
    if abs(vals[-1]) < 1e-12:
        found.append(1.0)
    out = []
    for c0 in found:
        try:
            sol = newton_polish(_c_evaluator(f, fp), c0, fp.dps, "c_map", "chi_c", ["c_map", "chi_c"], "c*",
                                scale=1)
            cv, err, slope = sol.value, sol.error, sol.checked["chi_c"]
        except ConvergenceError:
            if c0 != 1.0:
                raise
            cv, err, slope = mpmath.mpf(1), mpmath.mpf(0), fp.chi_1
        out.append((Estimate(cv, err, fp.dps), Estimate(slope.value, slope.error, fp.dps),
                    bool(abs(slope.value) < 1)))
    return out


# ------------------------------------------------------------------------------------
# the critical line
# ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CriticalPoint:
    """A point of the critical line chi_1(q*) = 1 at a given sigma_b2, on the attracting branch.

    ``slope_V`` is ``V'(q*)`` there (< 1: the fixed point attracts); ``others``
    are further confirmed critical points (Estimates of sigma_w2) on the
    attracting branch; ``fold_sigma_w2`` is the saddle-node of the q-map (where
    an attracting branch ends), if one was found.
    """

    activation: str
    sigma_b2: str
    sigma_w2: Estimate
    q_star: Estimate
    chi_2: Estimate | None
    dps: int
    others: tuple = ()
    note: str = ""
    slope_V: Estimate | None = None
    chi_2_note: str = ""
    fold_sigma_w2: Estimate | None = None
    branch: str = "attracting"  # or "marginal" (V'(q*) = 1: q* = 0 attracting from above, see critical_point)

    def to_json(self) -> dict:
        out = {"activation": self.activation, "sigma_b2": {"value": self.sigma_b2, "error": "0"},
               "dps": self.dps, "sigma_w2": self.sigma_w2.to_json(), "q_star": self.q_star.to_json(),
               "chi_2": None if self.chi_2 is None else self.chi_2.to_json(), "chi_1": {"value": "1", "error": "0"},
               "branch": self.branch}
        if self.slope_V is not None:
            out["slope_V"] = self.slope_V.to_json()
        if self.chi_2 is None:
            out["chi_2_note"] = self.chi_2_note or "chi_2 is not defined here"
        if self.others:
            out["other_sigma_w2"] = [o.to_json() for o in self.others]
        if self.fold_sigma_w2 is not None:
            out["fold_sigma_w2"] = self.fold_sigma_w2.to_json()
        if self.note:
            out["note"] = self.note
        return out

    def __str__(self) -> str:
        rows = [f"sigma_w2 = {self.sigma_w2}  (+- {self.sigma_w2.to_json()['error']})",
                f"q_star   = {self.q_star}",
                f"chi_2    = {self.chi_2 if self.chi_2 is not None else 'undefined (' + self.chi_2_note + ')'}"]
        if self.slope_V is not None:
            rows.append(f"V'(q*)   = {self.slope_V}  ({self.branch} branch)")
        if self.note:
            rows.append(self.note)
        return "\n".join(rows)


def critical_line(f: CompiledLaws, q_star):
    """The critical line chi_1 = 1 as float64 arrays ``(sigma_w2, sigma_b2)``, parametrised by ``q*``.

    ``sigma_w2(q) = 1/E[phi'^2]``, ``sigma_b2(q) = q - sigma_w2 E[phi^2]`` (the
    parametrisation of docs/theory.md §3.2); points with ``sigma_b2 < 0`` are not
    realisable networks, and points with ``V'(q*) > 1`` are repelling fixed points
    (see :func:`line_slope_V`).

    >>> from neurodyn.theory import catalog, derive
    >>> from neurodyn.numerics import compile_laws
    >>> sw2, sb2 = critical_line(compile_laws(derive(catalog.get("erf"))), [0.517176837981])
    >>> round(float(sw2[0]), 9), round(float(sb2[0]), 9)
    (1.375839007, 0.05)
    """
    return _line_np(f, np.asarray(q_star, dtype=float))


def _line_np(f, qs, tab=None):
    """float64 (sigma_w2(q), sigma_b2(q)) on the chi_1 = 1 line (``tab``: the laws at sigma_w2 = 1, if known)."""
    vals = tab if tab is not None else f.evaluate(["q_map", "chi_1"], qs, 1.0, 0.0)
    a, b = vals["q_map"], vals["chi_1"]          # E[phi^2], E[phi'^2]
    with np.errstate(all="ignore"):
        return 1 / b, qs - a / b


def line_slope_V(f, qs, tab=None):
    """float64 ``V'(q)`` at the point of the chi_1 = 1 line parametrised by ``q``
    (``V' = sigma_w2 dE[phi^2]/dq`` with ``sigma_w2 = 1/E[phi'^2]``)."""
    vals = tab if tab is not None else f.evaluate(["chi_par", "chi_1"], np.asarray(qs, dtype=float), 1.0, 0.0)
    with np.errstate(all="ignore"):
        return vals["chi_par"] / vals["chi_1"]


def saddle_node(f: CompiledLaws, sigma_b2, dps: int = 30, qs=None, tab=None, rising_only: bool = False):
    """The first saddle-node (fold) of the q-map at ``sigma_b2``: ``V(q*) = q*`` and ``V'(q*) = 1``.

    Along the fixed points ``sigma_w2(q) = (q - sigma_b2)/A(q)`` (``A = E[phi^2]``)
    a saddle-node is a turning point, ``(q - sigma_b2) A'(q) = A(q)``: bracketed on
    the float64 grid ``qs`` (default: 2001 points from ``sigma_b2`` to 1e4) where
    ``tab`` holds ``q_map`` (= A) and ``chi_par`` (= A') at sigma_w2 = 1, refined by
    mpmath and confirmed by a rerun at higher precision. ``rising_only`` keeps only
    maxima of ``sigma_w2(q)`` (where the attracting branch ends). Returns ``(q*,
    sigma_w2)`` as Estimates, or None when there is no turning point; raises
    ConvergenceError when a bracketed one is not confirmed by the rerun.
    """
    tgt = float(to_mpf(sigma_b2))
    if qs is None:
        qs = np.geomspace(max(tgt, 1e-8) * (1 + 1e-6) + 1e-8, 1e4, 2001)
    if tab is None:
        tab = f.evaluate(["q_map", "chi_par"], qs, 1.0, 0.0)
    with np.errstate(all="ignore"):
        h = np.where(qs > tgt, (qs - tgt) * tab["chi_par"] - tab["q_map"], np.nan)
        sign_change = h[:-1] * h[1:] < 0 if not rising_only else (h[:-1] < 0) & (h[1:] > 0)
    idx = [i for i in range(len(qs) - 1) if np.isfinite(h[i]) and np.isfinite(h[i + 1]) and sign_change[i]]
    if not idx:
        return None
    i = idx[0]

    def solve(digits):
        with mpmath.workdps(digits + GUARD_DIGITS):
            t = to_mpf(sigma_b2)

            def hq(qv):
                v = f.evaluate(["q_map", "chi_par"], qv, 1, 0, dps=digits)
                return (qv - t) * v["chi_par"].value - v["q_map"].value
            qf = mpmath.findroot(hq, (mpmath.mpf(qs[i]), mpmath.mpf(qs[i + 1])), solver="anderson", verify=False)
            a = f.evaluate(["q_map"], qf, 1, 0, dps=digits)["q_map"].value
            return qf, (qf - t) / a
    (q1, w1), (q2, w2) = solve(dps + 5), solve(dps + GUARD_DIGITS)
    with mpmath.workdps(dps + GUARD_DIGITS):
        eq = abs(q2 - q1) + abs(q2) * mpmath.mpf(10) ** (-(dps + 5))
        ew = abs(w2 - w1) + abs(w2) * mpmath.mpf(10) ** (-(dps + 5))
        if ew > mpmath.mpf(10) ** (-dps) * abs(w2) * 10 ** 5:
            raise ConvergenceError(f"the saddle-node of the q-map at sigma_b2 = {sigma_b2} was not confirmed by a "
                                   f"rerun at higher precision")
        return Estimate(q2, eq, dps), Estimate(w2, ew, dps)


def _refine_crossing(f, sigma_b2, qa, qb, dps):
    """q* of a crossing ``sigma_b2(q) = target`` bracketed by (qa, qb), confirmed at higher precision.

    Returns (q Estimate, sigma_w2 Estimate, chi_1 at sigma_w2 = 1 Estimate, V'(q*) Estimate) or None
    when the rerun does not confirm it."""
    def sb2_of(qv, digits):
        vals = f.evaluate(["q_map", "chi_1"], qv, 1, 0, dps=digits)
        a, b = vals["q_map"], vals["chi_1"]
        value = qv - a.value / b.value - tgt
        err = a.error / b.value + abs(a.value) * b.error / b.value**2
        return value, err, 1 / b.value, b

    with mpmath.workdps(dps + 2 * GUARD_DIGITS):
        tgt = to_mpf(sigma_b2)
        work = dps + 5
        with mpmath.workdps(work + GUARD_DIGITS):
            qstar = mpmath.findroot(lambda qv: sb2_of(qv, work)[0], (mpmath.mpf(qa), mpmath.mpf(qb)),
                                    solver="anderson", tol=mpmath.mpf(10) ** (-2 * work), verify=False)
        check = dps + GUARD_DIGITS
        with mpmath.workdps(check + GUARD_DIGITS):
            res, res_err, sw2, b = sb2_of(qstar, check)
            h = mpmath.mpf(10) ** (-(check // 2)) * max(qstar, 1)
            slope = (sb2_of(qstar + h, check)[0] - sb2_of(qstar - h, check)[0]) / (2 * h)
            if slope == 0:
                return None
            q_err = (abs(res) + res_err) / abs(slope)
            if q_err > mpmath.mpf(10) ** (-dps) * abs(qstar):
                return None
            dsw = sensitivities(lambda qa_: {"sw2": 1 / f.evaluate(["chi_1"], qa_, 1, 0)["chi_1"]}, float(qstar))
            sw2_est = Estimate(sw2, b.error * sw2**2 + abs(dsw["sw2"]) * q_err, dps)
            v = f.evaluate(["chi_par"], qstar, sw2, tgt, dps=check)["chi_par"]
            dv = sensitivities(lambda qa_: f.evaluate(["chi_par"], qa_, float(sw2), 0), float(qstar))
            slope_v = Estimate(v.value, v.error + abs(dv["chi_par"]) * q_err + abs(v.value / sw2) * sw2_est.error, dps)
            return Estimate(qstar, q_err, dps), sw2_est, slope_v


def _chi_2_at(f, qstar: Estimate, sw2: Estimate, dps):
    """chi_2 at the critical point with its error, or (None, reason)."""
    if "chi_2" not in f.names():
        return None, f.laws["chi_2"].note
    with mpmath.workdps(dps + 2 * GUARD_DIGITS):
        c2 = f.evaluate(["chi_2"], qstar.value, sw2.value, 0, dps=dps + GUARD_DIGITS)["chi_2"]
        dc2 = sensitivities(lambda qa: f.evaluate(["chi_2"], qa, float(sw2.value), 0), float(qstar.value))
        err = c2.error + abs(dc2["chi_2"]) * qstar.error + abs(c2.value / sw2.value) * sw2.error
        return Estimate(c2.value, err, dps), ""


def critical_point(f: CompiledLaws, sigma_b2, dps: int = 30, q_range=(1e-8, 1e6)) -> CriticalPoint:
    """``sigma_w2`` where the attracting q* has ``chi_1(q*) = 1`` at ``sigma_b2``, and ``q*``, ``chi_2`` there.

    Scans ``sigma_b2(q)`` on a logarithmic grid of ``q*`` for crossings of the
    requested value (no loop can run away), keeps those where the fixed point
    attracts (``V'(q*) < 1`` on the grid), refines each by the Anderson-Bjorck
    bracketing method and confirms it at higher precision (root and ``V'(q*) < 1``);
    an unconfirmed crossing is never reported. Raises ConvergenceError, saying
    what the line covers (only ``sigma_b2 >= 0``), which branch the crossings are
    on and where the attracting branch ends in a fold, when there is none.
    """
    dps = check_dps(dps)
    check_variances(1, sigma_b2)
    for name in ("q_map", "chi_1", "chi_par"):
        if name not in f.names():
            raise NotDefinedError(f"{name} is not defined for {f.activation.name}: the critical line needs it")
    target = float(to_mpf(sigma_b2))
    qs = np.geomspace(*q_range, 1401)
    tab = f.evaluate(["q_map", "chi_1", "chi_par"], qs, 1.0, 0.0)     # one float64 sweep for the whole scan
    sw2s, sb2s = _line_np(f, qs, tab)
    vslope = line_slope_V(f, qs, tab)
    ok = np.isfinite(sb2s) & np.isfinite(sw2s) & (sw2s > 0) & np.isfinite(vslope)
    g = np.where(ok, sb2s - target, np.nan)
    # sigma_b2(q) = q - A/B cancels at large q: a sign change within float64 noise and quadrature error
    # (taken as 1e-9 q; gelu at sigma_b2 = 0.1 has one near q = 2e5) is not a crossing
    brackets = [i for i in range(len(qs) - 1)
                if ok[i] and ok[i + 1] and (g[i] == 0 or g[i] * g[i + 1] < 0)
                and max(abs(g[i]), abs(g[i + 1])) > 1e-9 * qs[i + 1]]
    zero_fixed = abs(float(f.evaluate(["q_map"], 0.0, 1.0, 0.0)["q_map"])) == 0
    name = f.activation.name
    if target == 0 and zero_fixed and float(f.evaluate(["chi_1"], 0.0, 1.0, 0.0)["chi_1"]) > 0:
        # phi(0) = 0 and no bias: q* = 0 is a fixed point, critical at sigma_w2 = 1/phi'(0)^2
        with mpmath.workdps(dps + 2 * GUARD_DIGITS):
            b0 = f.evaluate(["chi_1"], 0, 1, 0, dps=dps + GUARD_DIGITS)["chi_1"]
            sw2 = 1 / b0.value
            sw2_est = Estimate(sw2, b0.error * sw2**2, dps)
            q0 = Estimate(mpmath.mpf(0), mpmath.mpf(0), dps)
            chi_2, why = _chi_2_at(f, q0, sw2_est, dps)
            # V'(0) = sigma_w2 phi'(0)^2 = chi_1(0) = 1: marginal; it attracts when V(q) < q just above 0
            slope = f.evaluate(["chi_par"], 0, sw2, 0, dps=dps + GUARD_DIGITS)["chi_par"]
            small = mpmath.mpf(10) ** (-(dps // 4 + 2))
            v_small = f.evaluate(["q_map"], small, sw2, 0, dps=dps + GUARD_DIGITS)["q_map"]
            gap = v_small.value - small
            if gap > v_small.error:
                raise ConvergenceError(
                    f"no critical point of {name} at sigma_b2 = 0: chi_1(0) = 1 at sigma_w2 = "
                    f"{mpmath.nstr(sw2, 12)} but q* = 0 repels (V(q) > q just above 0)")
            how = ("V(q) < q just above 0, so it attracts from above and q approaches 0 algebraically"
                   if -gap > v_small.error else "V(q) - q vanishes to working precision just above 0")
            return CriticalPoint(name, str(sigma_b2), sw2_est, q0, chi_2, dps, chi_2_note=why,
                                 slope_V=Estimate(slope.value, slope.error, dps), branch="marginal",
                                 note=f"q* = 0: the critical point is marginal (phi(0) = 0, sigma_b2 = 0; "
                                      f"V'(0) = 1; {how})")
    found, repelling = [], []
    for i in brackets:
        attracting_grid = vslope[i] < 1 or vslope[i + 1] < 1
        if not attracting_grid:
            t = g[i] / (g[i] - g[i + 1]) if g[i] != g[i + 1] else 0.0     # linear interpolation in the bracket
            repelling.append(float(sw2s[i] + t * (sw2s[i + 1] - sw2s[i])))
            continue
        try:
            got = _refine_crossing(f, sigma_b2, qs[i], qs[i + 1], dps)
        except (ValueError, ArithmeticError):
            got = None                                 # the refinement left the bracket
        if got is None:
            continue                                   # not confirmed: never reported
        with mpmath.workdps(dps + GUARD_DIGITS):
            if got[2].value + got[2].error < 1:
                found.append(got)
            else:
                repelling.append(float(got[1].value))
    if not found:
        realisable = sb2s[ok & (sb2s >= 0)]
        try:
            fold = saddle_node(f, sigma_b2, min(dps, 15), qs, tab, rising_only=True)
        except (ZeroDivisionError, ValueError, ArithmeticError):
            fold = None                                # not confirmed: never reported
        fold = fold[1] if fold is not None else None
        parts = [f"no critical point of {name} at sigma_b2 = {sigma_b2}"]
        if repelling:
            parts.append("chi_1 = 1 is reached only on the repelling branch (V'(q*) > 1) at sigma_w2 ~ "
                         + ", ".join(f"{w:.6g}" for w in repelling))
        if fold is not None:
            parts.append(f"the attracting branch ends in a fold (saddle-node of the q-map) at sigma_w2 ~ {fold}")
        if realisable.size:
            hint = (f"on the chi_1 = 1 line sigma_b2(q*) covers [{float(np.min(realisable)):.6g}, "
                    f"{float(np.max(realisable)):.6g}] (sigma_b2 >= 0 part, q* in [{q_range[0]:g}, {q_range[1]:g}], "
                    f"either branch)")
        else:
            hint = "the chi_1 = 1 line has sigma_b2 < 0 everywhere: no network with sigma_b2 >= 0 is critical"
        raise ConvergenceError(": ".join(parts[:2]) + ("; " + "; ".join(parts[2:]) if parts[2:] else ""), hint=hint)
    qstar, sw2_est, slope_v = found[0]
    chi_2, why = _chi_2_at(f, qstar, sw2_est, dps)
    others = tuple(o[1] for o in found[1:])
    note = f"attracting branch, V'(q*) = {mpmath.nstr(slope_v.value, 6)}"
    if slope_v.value < 0:
        note += " (< 0: the approach to q* oscillates)"
    if others:
        note += f"; the chi_1 = 1 line crosses sigma_b2 = {sigma_b2} on the attracting branch {len(others)} more time(s)"
    if repelling:
        note += f"; repelling-branch crossing(s) at sigma_w2 ~ {', '.join(f'{w:.6g}' for w in repelling)} are not critical points"
    return CriticalPoint(name, str(sigma_b2), sw2_est, qstar, chi_2, dps, others=others, note=note,
                         slope_V=slope_v, chi_2_note=why)


# ------------------------------------------------------------------------------------
# phase diagram (float64)
# ------------------------------------------------------------------------------------
MAX_GRID_POINTS = 4_000_000


@dataclass(frozen=True)
class PhaseDiagram:
    """chi_1(q*) and the phase on a (sigma_w2, sigma_b2) grid, plus the chi_1 = 1 line."""

    activation: str
    sigma_w2: np.ndarray
    sigma_b2: np.ndarray
    q_star: np.ndarray          # (len(sigma_b2), len(sigma_w2)); nan where no finite fixed point
    chi_1: np.ndarray
    critical_line: np.ndarray   # (k, 2): (sigma_w2, sigma_b2) points on chi_1 = 1 inside the grid
    max_error: float            # largest |chi_1| error found by spot checks against direct evaluation

    def phases(self) -> np.ndarray:
        out = np.full(self.chi_1.shape, "none", dtype=object)
        out[self.chi_1 < 1] = "ordered"
        out[self.chi_1 > 1] = "chaotic"
        return out

    def to_json(self) -> dict:
        def clean(a):
            return [[None if not np.isfinite(v) else float(v) for v in row] for row in a]

        return {"activation": self.activation, "sigma_w2": self.sigma_w2.tolist(), "sigma_b2": self.sigma_b2.tolist(),
                "q_star": clean(self.q_star), "chi_1": clean(self.chi_1), "phase": self.phases().tolist(),
                "critical_line": self.critical_line.tolist(), "max_error": self.max_error,
                "layout": "rows follow sigma_b2, columns follow sigma_w2",
                "method": "float64: E[phi^2], E[phi'^2] tabulated on a log grid of q and interpolated; "
                          "q* by vectorized iteration and Newton; chi_1 = 1 line from the q*-parametrisation"}



def phase_diagram(f: CompiledLaws, sigma_w2, sigma_b2, progress=None) -> PhaseDiagram:
    """chi_1(q*) on the grid ``sigma_w2`` x ``sigma_b2`` (1-D arrays), float64.

    ``q*`` is the attracting fixed point reached from ``q0 = 1`` (the default of
    :func:`~neurodyn.numerics.fixedpoint.fixed_point`); the chi_1 = 1 line drawn
    is its attracting part (``V'(q*) < 1``), as in :func:`critical_point`.

    ``progress`` is a callable taking a fraction in [0, 1] (e.g. a progress bar).
    """
    sw = np.asarray(sigma_w2, dtype=float)
    sb = np.asarray(sigma_b2, dtype=float)
    if sw.ndim != 1 or sb.ndim != 1 or not sw.size or not sb.size:
        raise ParameterError("sigma_w2 and sigma_b2 must be non-empty 1-D grids")
    if sw.size * sb.size > MAX_GRID_POINTS:
        need = sw.size * sb.size * 8 * 6 / 2**20
        raise ParameterError(f"grid of {sw.size} x {sb.size} = {sw.size * sb.size} points (about {need:.0f} MiB) "
                         f"is larger than the limit of {MAX_GRID_POINTS} points")
    if np.any(sw <= 0) or np.any(sb < 0) or not (np.all(np.isfinite(sw)) and np.all(np.isfinite(sb))):
        raise ParameterError("sigma_w2 must be > 0 and sigma_b2 >= 0 on the whole grid")
    report = progress or (lambda frac: None)
    qs = np.geomspace(1e-9, 1e5, 4001)
    tab = f.evaluate(["q_map", "chi_1"], qs, 1.0, 0.0)
    report(0.2)
    la = np.log(np.maximum(tab["q_map"], 1e-300))
    lb = np.log(np.maximum(tab["chi_1"], 1e-300))
    lq = np.log(qs)

    def A(qv):
        return np.exp(np.interp(np.log(np.clip(qv, qs[0], qs[-1])), lq, la))

    W, B = np.meshgrid(sw, sb)
    qv = np.ones_like(W)
    for it in range(400):
        new = W * A(qv) + B
        if it % 40 == 0:
            report(0.2 + 0.7 * it / 400)
        done = np.abs(new - qv) <= 1e-12 * (1 + qv)
        qv = new
        if np.all(done | ~np.isfinite(qv)):
            break
    qv = np.where((qv > qs[-1]) | ~np.isfinite(qv), np.nan, qv)
    chi_1 = W * np.exp(np.interp(np.log(np.clip(qv, qs[0], qs[-1])), lq, lb))
    chi_1 = np.where(np.isfinite(qv), chi_1, np.nan)
    line_w, line_b = _line_np(f, qs)
    attracting = line_slope_V(f, qs) < 1          # the same notion as critical_point: V'(q*) < 1
    inside = (attracting & (line_w >= sw.min()) & (line_w <= sw.max()) & (line_b >= sb.min())
              & (line_b <= sb.max()))
    line = np.column_stack([line_w[inside], line_b[inside]])
    # spot checks: q* polished at 15 digits from the grid value, chi_1 there against the grid's
    rng = np.random.default_rng(0)
    worst = 0.0
    flat = np.flatnonzero(np.isfinite(qv))
    for k in rng.choice(flat, size=min(12, flat.size), replace=False) if flat.size else []:
        iy, ix = np.unravel_index(k, qv.shape)
        w_, b_ = float(sw[ix]), float(sb[iy])

        def evaluate(which, x_, digits, w_=w_, b_=b_):
            return f.evaluate(which, x_, w_, b_, dps=digits)
        try:
            sol = newton_polish(evaluate, float(qv[iy, ix]), 15, "q_map", "chi_par", ["q_map", "chi_par", "chi_1"],
                                "q*")
        except (ConvergenceError, ValueError):
            continue
        worst = max(worst, abs(float(sol.checked["chi_1"].value) - chi_1[iy, ix]))
    report(1.0)
    return PhaseDiagram(f.activation.name, sw, sb, qv, chi_1, line, worst)
