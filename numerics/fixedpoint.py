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
    """A float64 fixed point by iteration (+ Newton when slow); returns (q, iterations)."""
    qv = float(q0)
    w, b = float(to_mpf(sw2)), float(to_mpf(sb2))
    history = []
    zero_is_fixed = f.q_map(0.0, w, b) == 0
    for it in range(1, _FLOAT_ITERATIONS + 1):
        if zero_is_fixed and qv < 1e-10:
            return 0.0, it               # q* = 0 exactly (phi(0) = 0, sigma_b2 = 0)
        new = f.q_map(qv, w, b)
        if not math.isfinite(new) or new > _Q_HUGE:
            slope = f.chi_par(min(qv, _Q_HUGE), w, b)
            raise ConvergenceError(
                f"the q-map has no finite fixed point at sigma_w2={sw2}, sigma_b2={sb2}: "
                f"q grows without bound (q = {qv:.3g} after {it} layers, slope V'(q) = {slope:.4g})",
                last=qv, hint="lower sigma_w2 (the q-map must have slope < 1 at large q)")
        step = new - qv
        qv = new
        if abs(step) <= 1e-13 * (1 + qv):
            return qv, it
        history.append(abs(step))
        if it >= 50 and 0.5 * history[-2] < history[-1] < history[-2] and not zero_is_fixed:
            break                      # converging slowly (slope near 1): finish with Newton
    if zero_is_fixed and f.chi_par(0.0, w, b) <= 1 + 1e-12 and f.q_map(qv, w, b) < qv:
        return 0.0, it                   # q -> 0 algebraically: q* = 0 is marginal
    for extra in range(100):
        g = f.q_map(qv, w, b) - qv
        d = f.chi_par(qv, w, b) - 1
        if d == 0 or not math.isfinite(d):
            break
        new = qv - g / d
        if new < 0:
            raise ConvergenceError(f"no fixed point q* >= 0 of the q-map at sigma_w2={sw2}, "
                                   f"sigma_b2={sb2}", last=qv, hint="try another starting point q0")
        if abs(new - qv) <= 1e-14 * (1 + qv):
            return new, it + extra + 1
        qv = new
    raise ConvergenceError(f"no fixed point of the q-map found at sigma_w2={sw2}, sigma_b2={sb2}",
                           last=qv, hint="try another starting point q0")


def fixed_point(f: CompiledLaws, sigma_w2, sigma_b2, dps: int = 30, q0=1.0) -> FixedPoint:
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

    Raises
    ------
    ConvergenceError
        No finite fixed point (e.g. ReLU with sigma_w2 > 2 and sigma_b2 > 0), or
        the requested digits could not be confirmed.
    """
    dps = check_dps(dps)
    check_variances(sigma_w2, sigma_b2)
    q_float, iterations = _float_start(f, sigma_w2, sigma_b2, q0)
    work = dps + 5                   # Newton's target; the check runs GUARD_DIGITS beyond dps
    wanted = ["q_map", "chi_par"]

    # Newton in mpmath, precision doubling from the ~15 float64 digits
    qv = mpmath.mpf(q_float)
    digits, steps = 15, 0
    if q_float != 0:
        while True:
            digits = min(2 * digits, work)
            with mpmath.workdps(digits + GUARD_DIGITS):
                vals = f.evaluate(wanted, qv, sigma_w2, sigma_b2, dps=digits)
                g = vals["q_map"].value - qv
                d = vals["chi_par"].value - 1
                if g == 0:
                    break                    # an exact fixed point (e.g. every q for ReLU at (2, 0))
                if d == 0:
                    raise ConvergenceError("V'(q) = 1 at the fixed point: Newton's method cannot polish it",
                                           last=qv, dps=digits)
                new = qv - g / d
                steps += 1
                moved = abs(new - qv)
                qv = new
            # quadratic convergence: once a full-precision step moved by less than
            # sqrt(10^-work), the new iterate is good to ~work digits (the check confirms it)
            if digits >= work and moved <= mpmath.mpf(10) ** (-(work // 2) + 2) * abs(qv):
                break
            if steps > 60:
                raise ConvergenceError("Newton's method did not converge", last=qv, residual=g, dps=digits)

    # the check: residual and all quantities once more at higher precision
    check = dps + GUARD_DIGITS
    names = [n for n in ("q_map", "chi_par", "chi_1", "chi_2") if n in f.names()]
    with mpmath.workdps(check + GUARD_DIGITS):
        vals = f.evaluate(names, qv, sigma_w2, sigma_b2, dps=check)
        residual = vals["q_map"].value - qv
        slope = vals["chi_par"].value
        gap = abs(1 - slope)
        if abs(residual) <= vals["q_map"].error:
            error = vals["q_map"].error      # exact fixed point: only the evaluation error
        elif gap <= 10 * vals["chi_par"].error:
            raise ConvergenceError("V'(q*) = 1: the fixed point is marginal and cannot be bounded",
                                   last=qv, residual=residual, dps=check)
        else:
            error = (abs(residual) + vals["q_map"].error) / gap
        if error > mpmath.mpf(10) ** (-dps) * max(abs(qv), mpmath.mpf(10) ** -dps) / 10:
            raise ConvergenceError(
                f"q* could not be confirmed to {dps} digits (error bound {mpmath.nstr(error, 3)})",
                last=qv, residual=residual, dps=check,
                hint="the q-map may be too flat here (V'(q*) near 1); try a lower dps")
        sens = _sensitivities(f, names, float(qv), sigma_w2, sigma_b2)
        out = {}
        for name in names:
            est = vals[name]
            out[name] = Estimate(+est.value, est.error + abs(sens[name]) * error, dps)
        marginal = abs(gap) <= vals["chi_par"].error * 10
        stable = bool(abs(slope) < 1 and not marginal)
        q_star = +qv
        xi = None
        if 0 < abs(slope) < 1:
            xi_val = -1 / mpmath.log(abs(slope))
            xi_err = out["chi_par"].error * xi_val**2 / abs(slope)
            xi = Estimate(xi_val, xi_err, dps)
    notes = {}
    for name in ("chi_1", "chi_2"):
        if name not in out:
            notes[name] = f.laws[name].note
    if xi is None:
        notes["xi_q"] = ("V'(q*) = 1: marginal, the approach to q* is algebraic, not exponential"
                         if marginal else "|V'(q*)| >= 1 or V'(q*) = 0: no exponential depth scale")
    return FixedPoint(
        value=q_star, error=error, slope=out["chi_par"], stable=bool(stable), iterations=iterations + steps,
        dps=dps, method="float64 iteration, mpmath Newton with exact derivative, higher-precision check",
        marginal=bool(marginal), activation=f.activation.name, sigma_w2=str(sigma_w2), sigma_b2=str(sigma_b2),
        chi_1=out.get("chi_1"), chi_2=out.get("chi_2"), xi_q=xi, notes=notes)


def _sensitivities(f, names, qv, sw2, sb2):
    """|d law / dq| at q*, by a float64 central difference (only scales the q* error)."""
    h = 1e-5 * max(qv, 1e-3)
    lo, hi = max(qv - h, 0.0), qv + h
    a = f.evaluate(names, np.array([lo, hi]), sw2, sb2)
    return {n: float((a[n][1] - a[n][0]) / (hi - lo)) if np.all(np.isfinite(a[n])) else 1e3 for n in names}
