r"""Fixed points of the q-map, their stability and the quantities at them.

``q* = V(q*)`` is found in three stages (docs/theory.md §3):

1. float64: iterate the map from ``q0`` (a stable fixed point attracts it, as
   the layers of a network do), switching to Newton's method when slow;
2. mpmath: Newton's method with the exact derivative ``chi_par = V'(q)``
   (itself a Gaussian expectation by the heat equation), the precision
   doubling with the digits (:func:`neurodyn.numerics.solve.newton_polish`);
3. a check at higher precision: the residual ``r = V(q*) - q*`` is computed
   again with ``GUARD_DIGITS`` more digits; the error estimate is
   ``(|r| + err V)/|1 - V'(q*)|`` plus the propagated evaluation errors.

The map is one-dimensional, so every fixed point in ``(0, 1e6)`` is also
bracketed on a float64 grid: when iteration from ``q0`` diverges the message
names the stable fixed points below it, and when several stable fixed points
exist the result says so (``FixedPoint.attractors``).

>>> from neurodyn.theory import catalog, derive
>>> from neurodyn.numerics.compile import compile_laws
>>> fp = fixed_point(compile_laws(derive(catalog.get("erf"))), sigma_w2="2", sigma_b2="0.05", dps=20)
>>> str(fp.q_star), str(fp.chi_1), fp.stable
('0.96595481259284880387', '1.1546527670577371924', True)
"""

from __future__ import annotations

import dataclasses
import math

import mpmath
import numpy as np

from neurodyn.theory.errors import ConvergenceError, NotDefinedError

from .compile import CompiledLaws, check_dps, check_variances, to_mpf
from .criticality import correlation_fixed_point, phase_of
from .quadrature import GUARD_DIGITS
from .results import Estimate, FixedPoint
from .solve import depth_scale, newton_polish, sensitivities

__all__ = ["fixed_point", "q_map_roots"]

_FLOAT_ITERATIONS = 2000
_Q_HUGE = 1e12
#: the float64 grid on which the roots of V(q) - q are bracketed
Q_GRID = (1e-8, 1e6, 1401)


def q_map_roots(f: CompiledLaws, sigma_w2, sigma_b2, upper=None):
    """float64 fixed points of the q-map in ``(Q_GRID[0], upper)``, bracketed on a log grid.

    Returns two lists ``(stable, unstable)`` of float64 roots (bisection inside each
    bracket): a root where ``V(q) - q`` changes sign from + to - has ``V' < 1``
    (the map pulls towards it), from - to + ``V' > 1``. Only a start for
    :func:`newton_polish`, which confirms (or rejects) each one.
    """
    hi = Q_GRID[1] if upper is None else min(float(upper), Q_GRID[1])
    qs = np.geomspace(Q_GRID[0], max(hi, 10 * Q_GRID[0]), Q_GRID[2])
    w, b = float(to_mpf(sigma_w2)), float(to_mpf(sigma_b2))

    def gap(qv):
        with np.errstate(all="ignore"):
            return f.evaluate(["q_map"], qv, w, b)["q_map"] - qv

    g = gap(qs)
    stable, unstable = [], []
    for i in range(len(qs) - 1):
        if not (np.isfinite(g[i]) and np.isfinite(g[i + 1])) or g[i] * g[i + 1] >= 0:
            continue
        # float64 noise: |V(q) - q| must be resolved relative to q at both ends
        if max(abs(g[i]), abs(g[i + 1])) < 1e-10 * qs[i + 1]:
            continue
        lo, up, sign = qs[i], qs[i + 1], g[i] > 0
        for _ in range(60):
            mid = 0.5 * (lo + up)
            if mid in (lo, up):
                break
            if (gap(mid) > 0) == sign:
                lo = mid
            else:
                up = mid
        (stable if sign else unstable).append(0.5 * (lo + up))
    return stable, unstable


def _float_start(f: CompiledLaws, sw2, sb2, q0):
    """A float64 fixed point by iteration (+ Newton when slow); returns (q, iterations).

    The iteration follows the network layer by layer, so it finds the stable fixed
    point; when q keeps growing with steps that do not shrink, there is none.
    """
    qv = float(q0)
    w, b = float(to_mpf(sw2)), float(to_mpf(sb2))
    zero_is_fixed = f.q_map(0.0, w, b) == 0

    def no_fixed_point(it):
        slope = f.chi_par(min(qv, _Q_HUGE), w, b)
        stable, unstable = q_map_roots(f, sw2, sb2)
        below = [s for s in stable if s < float(q0)]
        if below:
            edge = min([u for u in unstable if u > max(below)], default=None)
            start = f"q0 < {edge:.4g}" if edge is not None else f"q0 near {below[-1]:.4g}"
            hint = (f"stable fixed point(s) exist at q* ~ {', '.join(f'{s:.4g}' for s in below)}, "
                    f"reached from a smaller start ({start}; option q0 / --q0)")
        else:
            hint = f"the q-map has no stable fixed point in ({Q_GRID[0]:g}, {Q_GRID[1]:g}) at these variances"
        return ConvergenceError(
            f"the q-map has no finite fixed point reached from q0 = {q0} at sigma_w2={sw2}, sigma_b2={sb2}: "
            f"q grows without bound (q = {qv:.3g} after {it} layers, slope V'(q) = {slope:.4g})",
            last=qv, hint=hint)

    history = []
    for it in range(1, _FLOAT_ITERATIONS + 1):
        if zero_is_fixed and qv < 1e-10:
            return 0.0, it               # q* = 0 exactly (phi(0) = 0, sigma_b2 = 0)
        new = f.q_map(qv, w, b)
        if not math.isfinite(new) or new > _Q_HUGE:
            raise no_fixed_point(it)
        step = new - qv
        qv = new
        if abs(step) <= 1e-13 * (1 + qv):
            return qv, it
        history.append(step)
        if it >= 50 and not zero_is_fixed:
            last, before = abs(history[-1]), abs(history[-2])
            if 0.5 * before < last < before:
                break                    # converging slowly (slope near 1): finish with Newton
            if it >= 200 and all(s > 0 for s in history[-50:]) and last >= 0.999 * abs(history[-50]):
                raise no_fixed_point(it)  # growing with steps that do not shrink
    if zero_is_fixed and f.chi_par(0.0, w, b) <= 1 + 1e-12 and f.q_map(qv, w, b) < qv:
        return 0.0, it                   # q -> 0 algebraically: q* = 0 is marginal
    if it == _FLOAT_ITERATIONS and all(s > 0 for s in history[-100:]):
        raise no_fixed_point(it)         # still growing after every layer
    for extra in range(100):
        g = f.q_map(qv, w, b) - qv
        d = f.chi_par(qv, w, b) - 1
        if d == 0 or not math.isfinite(d):
            break
        new = qv - g / d
        if new < 0:
            break
        if abs(new - qv) <= 1e-14 * (1 + qv):
            return new, it + extra + 1
        qv = new
        if qv > _Q_HUGE:
            raise no_fixed_point(it + extra + 1)
    if f.q_map(qv, w, b) > qv and all(s > 0 for s in history[-20:]):
        raise no_fixed_point(it)         # V(q) > q all along: q only grows
    raise ConvergenceError(f"no fixed point of the q-map found from q0 = {q0} at sigma_w2={sw2}, sigma_b2={sb2}",
                           last=qv, hint="try another starting point q0 (--q0)")


def fixed_point(f: CompiledLaws, sigma_w2, sigma_b2, dps: int = 30, q0=1.0,
                two_input: bool = False) -> FixedPoint:
    """The fixed point ``q*`` of the q-map at ``dps`` digits, with chi_1, chi_2, chi_par, xi_q.

    Parameters
    ----------
    f : CompiledLaws
        From :func:`~neurodyn.numerics.compile.compile_laws`.
    sigma_w2, sigma_b2 : number or decimal string
        Weight and bias variances (strings are read exactly: ``"0.05"``).
    dps : int
        Significant digits wanted (1 to 1000).
    q0 : float
        Where the float64 iteration starts (the attractor reached from it is returned).
    two_input : bool
        Also find the correlation fixed point ``c*`` with ``chi_c(c*)``, ``xi_c`` and
        the phase (:func:`neurodyn.numerics.criticality.correlation_fixed_point`).
        If that part fails, the single-input answer is kept and the reason is in
        ``notes["c_star"]`` (the phase is still decided by chi_1); call
        ``correlation_fixed_point(f, fixed_point(...))`` to get the exception instead.

    Raises
    ------
    ConvergenceError
        No finite fixed point reached from ``q0`` (the message lists stable fixed
        points below ``q0`` if any), or the requested digits could not be confirmed.
    """
    dps = check_dps(dps)
    check_variances(sigma_w2, sigma_b2)
    q_float, iterations = _float_start(f, sigma_w2, sigma_b2, q0)
    names = [n for n in ("q_map", "chi_par", "chi_1", "chi_2") if n in f.names()]

    def evaluate(which, qv, digits):
        return f.evaluate(which, qv, sigma_w2, sigma_b2, dps=digits)

    sol = newton_polish(evaluate, q_float, dps, "q_map", "chi_par", names, "q*")
    qv, error, vals = sol.value, sol.error, sol.checked
    with mpmath.workdps(dps + 2 * GUARD_DIGITS):
        slope = vals["chi_par"].value
        sens = sensitivities(lambda x_: f.evaluate(names, x_, sigma_w2, sigma_b2), float(qv))
        out = {n: Estimate(vals[n].value, vals[n].error + abs(sens[n]) * error, dps) for n in names}
        # marginal: 1 - V'(q*) is not resolved from 0 by the error of V'(q*)
        marginal = abs(1 - slope) <= out["chi_par"].error
        stable = bool(abs(slope) < 1 and not marginal)
        xi = depth_scale(out["chi_par"]) if not marginal else None
    notes = {}
    for name in ("chi_1", "chi_2"):
        if name not in out:
            notes[name] = f.laws[name].note
    if xi is None:
        notes["xi_q"] = ("V'(q*) = 1: marginal, the approach to q* is algebraic, not exponential"
                         if marginal else "|V'(q*)| >= 1 or V'(q*) = 0: no exponential depth scale")
    elif slope < 0:
        notes["xi_q"] = "V'(q*) < 0: xi_q = -1/ln|V'(q*)| and the approach to q* oscillates from layer to layer"
    attractors = _attractors(f, sigma_w2, sigma_b2, dps, qv, error, stable)
    if len(attractors) > 1:
        others = [a for a in attractors if abs(a.value - qv) > a.error + error]
        notes["q_star"] = (f"another attractor exists (stable q* = {', '.join(str(a) for a in others)}): "
                           f"the q* returned is the one reached from q0 = {q0}")
    result = FixedPoint(
        value=qv, error=error, slope=out["chi_par"], stable=bool(stable), iterations=iterations + sol.steps,
        dps=dps, method="float64 iteration, mpmath Newton with exact derivative, higher-precision check",
        marginal=bool(marginal), activation=f.activation.name, sigma_w2=str(sigma_w2), sigma_b2=str(sigma_b2),
        chi_1=out.get("chi_1"), chi_2=out.get("chi_2"), xi_q=xi, notes=notes, attractors=tuple(attractors))
    if two_input:
        try:
            result = correlation_fixed_point(f, result)
        except (ConvergenceError, NotDefinedError) as exc:
            notes = dict(result.notes, c_star=f"c* failed: {exc}")
            phase = phase_of(result.chi_1) if result.chi_1 is not None else "undefined"
            result = dataclasses.replace(result, phase=phase, notes=notes)
    return result


def _attractors(f, sigma_w2, sigma_b2, dps, qv, error, stable) -> list:
    """Every stable fixed point in (0, Q_GRID[1]) confirmed at ``dps`` digits (q* itself included).

    q* = 0 is included when it is a stable fixed point (V(0) = 0, V'(0) < 1).
    """
    found = [Estimate(qv, error, dps)] if stable else []
    brackets, _ = q_map_roots(f, sigma_w2, sigma_b2)
    names = ["q_map", "chi_par"]

    def evaluate(which, x_, digits):
        return f.evaluate(which, x_, sigma_w2, sigma_b2, dps=digits)

    zero = f.evaluate(names, 0.0, float(to_mpf(sigma_w2)), float(to_mpf(sigma_b2)))
    if zero["q_map"] == 0 and zero["chi_par"] < 1:
        brackets = [0.0] + brackets
    for start in brackets:
        if found and any(abs(start - float(a.value)) <= 1e-9 * max(float(a.value), 1e-8) for a in found):
            continue
        try:
            sol = newton_polish(evaluate, start, dps, "q_map", "chi_par", names, "q*")
        except ConvergenceError:
            continue                      # not confirmed: never reported
        with mpmath.workdps(dps + GUARD_DIGITS):
            if sol.value < 0 or not abs(sol.checked["chi_par"].value) < 1:
                continue
            if any(abs(sol.value - a.value) <= 2 * (a.error + sol.error) for a in found):
                continue
        found.append(Estimate(sol.value, sol.error, dps))
    return sorted(found, key=lambda a: a.value)
