r"""Fixed points of the q-map, their stability and the quantities at them.

``q* = V(q*)`` is found in three stages (DESIGN section 6):

1. float64: iterate the map (the stable fixed point attracts it), switching
   to Newton's method when the iteration is slow;
2. mpmath: Newton's method with the exact derivative ``chi_par = V'(q)``
   (itself a Gaussian expectation by the heat equation), the precision
   doubling with the digits;
3. a check at higher precision: the residual ``r = V(q*) - q*`` is computed
   again with ``GUARD_DIGITS`` more digits and a finer quadrature; the error
   bound is ``|r|/|1 - V'(q*)|`` plus the quadrature error. The result is
   returned only if that bound meets the requested digits, else
   :class:`~neurodyn.theory.errors.ConvergenceError` says why.

>>> from neurodyn.theory import catalog, derive
>>> from neurodyn.numerics.compile import compile_laws
>>> fp = fixed_point(compile_laws(derive(catalog.get("erf"))), sigma_w2="2", sigma_b2="0.05", dps=20)
>>> str(fp.q_star), str(fp.chi_1), fp.stable
('0.96595481259284880387', '1.1546527670577371924', True)
"""

from __future__ import annotations

import math

import mpmath
import numpy as np

from neurodyn.theory.errors import ConvergenceError

from .compile import CompiledLaws, check_dps, check_variances, to_mpf
from .quadrature import GUARD_DIGITS
from .results import Estimate, FixedPoint

__all__ = ["fixed_point"]

_FLOAT_ITERATIONS = 2000
_Q_HUGE = 1e12


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
        return ConvergenceError(
            f"the q-map has no finite fixed point at sigma_w2={sw2}, sigma_b2={sb2}: "
            f"q grows without bound (q = {qv:.3g} after {it} layers, slope V'(q) = {slope:.4g})",
            last=qv, hint="lower sigma_w2 (the q-map must have slope < 1 at large q)")

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
    raise ConvergenceError(f"no fixed point of the q-map found at sigma_w2={sw2}, sigma_b2={sb2}",
                           last=qv, hint="try another starting point q0")


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
        Where the float64 iteration starts.
    two_input : bool
        Also find the correlation fixed point ``c*`` with ``chi_c(c*)``, ``xi_c`` and
        the phase (:func:`neurodyn.numerics.criticality.correlation_fixed_point`).

    Raises
    ------
    ConvergenceError
        No finite fixed point (e.g. ReLU with sigma_w2 > 2 and sigma_b2 > 0), or
        the requested digits could not be confirmed.
    """
    dps = check_dps(dps)
    check_variances(sigma_w2, sigma_b2)
    q_float, iterations = _float_start(f, sigma_w2, sigma_b2, q0)
    names = [n for n in ("q_map", "chi_par", "chi_1", "chi_2") if n in f.names()]

    def evaluate(which, qv, digits):
        return f.evaluate(which, qv, sigma_w2, sigma_b2, dps=digits)

    qv, error, vals, steps = polish_fixed_point(evaluate, q_float, dps, "q_map", "chi_par", names, "q*")
    with mpmath.workdps(dps + 2 * GUARD_DIGITS):
        slope = vals["chi_par"].value
        sens = _sensitivities(lambda x_: f.evaluate(names, x_, sigma_w2, sigma_b2), float(qv))
        out = {n: Estimate(vals[n].value, vals[n].error + abs(sens[n]) * error, dps) for n in names}
        marginal = abs(1 - slope) <= vals["chi_par"].error * 10
        stable = bool(abs(slope) < 1 and not marginal)
        xi = depth_scale(out["chi_par"]) if not marginal else None
    notes = {}
    for name in ("chi_1", "chi_2"):
        if name not in out:
            notes[name] = f.laws[name].note
    if xi is None:
        notes["xi_q"] = ("V'(q*) = 1: marginal, the approach to q* is algebraic, not exponential"
                         if marginal else "|V'(q*)| >= 1 or V'(q*) = 0: no exponential depth scale")
    result = FixedPoint(
        value=qv, error=error, slope=out["chi_par"], stable=bool(stable), iterations=iterations + steps,
        dps=dps, method="float64 iteration, mpmath Newton with exact derivative, higher-precision check",
        marginal=bool(marginal), activation=f.activation.name, sigma_w2=str(sigma_w2), sigma_b2=str(sigma_b2),
        chi_1=out.get("chi_1"), chi_2=out.get("chi_2"), xi_q=xi, notes=notes)
    if two_input:
        from .criticality import correlation_fixed_point
        result = correlation_fixed_point(f, result)
    return result


def depth_scale(slope: Estimate) -> Estimate | None:
    """``xi = -1/ln|slope|`` with its error, or None when ``|slope|`` is 0 or >= 1."""
    s = abs(slope.value)
    if not 0 < s < 1:
        return None
    xi = -1 / mpmath.log(s)
    return Estimate(xi, slope.error * xi**2 / s, slope.dps)


def polish_fixed_point(evaluate, x_float, dps, map_name, slope_name, check_names, what):
    """Newton polish of ``x = M(x)`` from a float64 start, then the higher-precision check.

    ``evaluate(names, x, digits)`` returns Estimates of the named laws at ``x``;
    ``map_name`` is ``M`` and ``slope_name`` its exact derivative. Precision
    doubles with the digits up to ``dps + 5``; the check reevaluates ``M`` (and
    ``check_names``) with ``GUARD_DIGITS`` more digits and bounds the error by
    ``(|M(x) - x| + err M)/|1 - M'(x)|``. Returns (x, error, check values, steps).
    """
    work = dps + 5
    xv = mpmath.mpf(x_float)
    digits, steps = 15, 0
    while True:
        digits = min(2 * digits, work)
        with mpmath.workdps(digits + GUARD_DIGITS):
            vals = evaluate([map_name, slope_name], xv, digits)
            g = vals[map_name].value - xv
            d = vals[slope_name].value - 1
            if g == 0:
                break                        # an exact fixed point (e.g. every q for ReLU at (2, 0))
            if d == 0:
                raise ConvergenceError(f"the slope is 1 at {what}: Newton's method cannot polish it",
                                       last=xv, dps=digits)
            new = xv - g / d
            steps += 1
            moved = abs(new - xv)
            xv = new
        # quadratic convergence: once a full-precision step moved by less than
        # sqrt(10^-work), the iterate is good to ~work digits (the check confirms it)
        if digits >= work and moved <= mpmath.mpf(10) ** (-(work // 2) + 2) * max(abs(xv), 1):
            break
        if steps > 60:
            raise ConvergenceError("Newton's method did not converge", last=xv, residual=g, dps=digits)
    check = dps + GUARD_DIGITS
    with mpmath.workdps(check + GUARD_DIGITS):
        vals = evaluate(check_names, xv, check)
        residual = vals[map_name].value - xv
        gap = abs(1 - vals[slope_name].value)
        if abs(residual) <= vals[map_name].error:
            error = vals[map_name].error     # exact fixed point: only the evaluation error
        elif gap <= 10 * vals[slope_name].error:
            raise ConvergenceError(f"the slope is 1 at {what}: the fixed point is marginal and cannot be bounded",
                                   last=xv, residual=residual, dps=check)
        else:
            error = (abs(residual) + vals[map_name].error) / gap
        if error > mpmath.mpf(10) ** (-dps) * max(abs(xv), mpmath.mpf(10) ** -dps) / 10:
            raise ConvergenceError(
                f"{what} could not be confirmed to {dps} digits (error bound {mpmath.nstr(error, 3)})",
                last=xv, residual=residual, dps=check,
                hint="the map may be too flat here (slope near 1); try a lower dps")
        return +xv, +error, vals, steps


def _sensitivities(evaluate_np, xv, lower=0.0):
    """|d law / dx| at x, by a float64 central difference (only scales the error of x)."""
    h = 1e-5 * max(abs(xv), 1e-3)
    lo, hi = max(xv - h, lower), xv + h
    a = evaluate_np(np.array([lo, hi]))
    return {n: float((v[1] - v[0]) / (hi - lo)) if np.all(np.isfinite(v)) else 1e3 for n, v in a.items()}
