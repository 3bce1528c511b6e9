r"""Generic fixed-point machinery shared by ``q*`` and ``c*``: Newton polish, check, depth scale.

Nothing here knows what the map is: a caller passes ``evaluate(names, x, digits)``
returning :class:`~neurodyn.numerics.results.Estimate` values of the map ``M`` and
of its exact derivative ``M'`` (both Gaussian expectations in this project).

* :func:`newton_polish` - Newton's method on ``x = M(x)`` from a float64 start,
  the precision doubling with the digits, then a check at higher precision that
  bounds the error of ``x`` by ``(|M(x) - x| + err M)/(|1 - M'(x)| - err M')``.
* :func:`depth_scale` - ``xi = -1/ln|slope|``, evaluated at the slope's own precision.
* :func:`sensitivities` - float64 ``|d law/dx|``, used only to carry the error of
  ``x`` into the quantities evaluated at ``x``.

The kernels take an mpmath context ``ctx`` (default :data:`mpmath.mp`), as
mpmath's own algorithms do, so that another context can be used later.

>>> import mpmath
>>> from neurodyn.numerics.results import Estimate
>>> def evaluate(names, x, digits):     # M(x) = cos(x): the Dottie number
...     with mpmath.workdps(digits + 10):
...         tiny = mpmath.mpf(10) ** (-(digits + 8))
...         return {"M": Estimate(mpmath.cos(x), tiny, digits), "dM": Estimate(-mpmath.sin(x), tiny, digits)}
>>> sol = newton_polish(evaluate, 0.739, 30, "M", "dM", ["M", "dM"], "x*")
>>> str(Estimate(sol.value, sol.error, 30))
'0.739085133215160641655312087674'
>>> with mpmath.workdps(40):
...     slope = Estimate(mpmath.mpf("0.8"), mpmath.mpf(0), 25)
>>> str(depth_scale(slope))      # -1/ln 0.8 to 25 digits, whatever mpmath's global precision
'4.481420117724549786893047'
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import numpy as np

from neurodyn.theory.errors import ConvergenceError

from .quadrature import GUARD_DIGITS
from .results import Estimate

__all__ = ["newton_polish", "Polished", "depth_scale", "sensitivities", "MAX_NEWTON_STEPS", "MAX_STEPS_PER_PRECISION"]

#: Newton steps allowed at all precisions together before giving up.
MAX_NEWTON_STEPS = 60
#: Newton (or secant) steps allowed at one precision: from a start good to the previous precision,
#: a converging iteration needs 1-3 steps (2 for Newton, ~3 for the secant); 8 means it is not converging.
MAX_STEPS_PER_PRECISION = 8


@dataclass(frozen=True)
class Polished:
    """Result of :func:`newton_polish`: ``value`` with the error ``error`` (an estimate),
    the check's evaluations ``checked`` (name -> Estimate at ``value``) and the Newton ``steps``."""

    value: mpmath.mpf
    error: mpmath.mpf
    checked: dict
    steps: int


def newton_polish(evaluate, x_float, dps, map_name, slope_name, check_names, what, *, scale=0,
                  ctx=mpmath.mp) -> Polished:
    """Newton polish of ``x = M(x)`` from a float64 start, then the higher-precision check.

    ``evaluate(names, x, digits)`` returns Estimates of the named laws at ``x``;
    ``map_name`` is ``M`` and ``slope_name`` its exact derivative; both are
    evaluated together, once per Newton step. The precision doubles from 30
    digits (the float64 start is good to ~15) up to ``dps + 5``; there Newton
    runs until a step moves ``x`` by less than ``10**-(dps+5)`` of its scale, or
    stops shrinking (the evaluation noise is reached). The check reevaluates
    ``check_names`` with ``GUARD_DIGITS`` more digits. When the evaluated slope
    disagrees with the secant through the last two iterates, the secant is used
    (an inaccurate derivative would make Newton converge only linearly).

    ``x`` is confirmed when the error is at most ``10**-dps * max(|x|, scale)``:
    ``scale = 0`` asks for ``dps`` significant digits, ``scale = 1`` for ``dps``
    digits after the point of a quantity of order one (a correlation, whose
    fixed point can be 0). ``what`` names the quantity in every error message.

    Raises ConvergenceError (naming ``what``) when Newton does not converge, the
    slope is 1 (marginal), or the error cannot be confirmed.
    """
    work = dps + 5
    xv = ctx.mpf(x_float)
    scale = ctx.mpf(scale)
    digits, steps, previous, g = 15, 0, None, None
    last = None                              # (digits, x, g) of the previous evaluation, for the secant
    level_digits, level_steps, moved = None, 0, ctx.mpf(0)
    while True:
        digits = min(2 * digits, work)
        with ctx.workdps(digits + GUARD_DIGITS):
            vals = evaluate([map_name, slope_name], xv, digits)
            g = vals[map_name].value - xv
            d = vals[slope_name].value - 1
            if g == 0:
                break                        # an exact fixed point (e.g. every q for ReLU at (2, 0))
            if last is not None and last[0] == digits and last[1] != xv:
                # the secant slope from the last two evaluations (same precision) needs no derivative;
                # when the evaluated slope M' disagrees with it by more than 1%, M' is less accurate
                # than M (kinked activations near c = 1) and Newton would converge only linearly
                secant = (g - last[2]) / (xv - last[1])
                if abs(secant - d) > abs(d) / 100:
                    d = secant
            last = (digits, xv, g)
            if d == 0:
                raise ConvergenceError(f"the slope of the map is 1 at {what}: Newton's method cannot polish {what}",
                                       last=xv, dps=digits)
            new = xv - g / d
            steps += 1
            moved = abs(new - xv)
            xv = new
            if digits >= work:
                # quadratic convergence: the error left after a step of size m is ~ K m**2, with
                # K ~ m / m_previous**2 estimated from the last two steps (at least 1); the check
                # below confirms the result and takes further steps if the estimate was optimistic
                # the check asks for 10**-dps; stopping a factor 10 below it leaves room for K being
                # underestimated by up to 10 (a wrong guess costs one more step in the check, not a failure)
                tol = ctx.mpf(10) ** (-dps) * max(abs(xv), scale) / 10
                k_est = 1 if previous is None or previous == 0 else max(1, moved / previous**2)
                if moved <= tol or k_est * moved**2 <= tol or (previous is not None and moved > previous / 10):
                    break                    # converged, or at the noise floor of the evaluation
            previous = moved
        level_steps = level_steps + 1 if digits == level_digits else 1
        level_digits = digits
        if steps > MAX_NEWTON_STEPS or level_steps > MAX_STEPS_PER_PRECISION:
            raise ConvergenceError(
                f"Newton's method for {what} did not converge ({level_steps} steps at {digits} digits, "
                f"last step {ctx.nstr(moved, 3)}, residual {ctx.nstr(g, 3)}): the evaluation of the map or of its "
                f"slope is not accurate enough here", last=xv, residual=g, dps=digits)
    check = dps + GUARD_DIGITS
    for attempt in range(3):
        with ctx.workdps(check + GUARD_DIGITS):
            vals = evaluate(check_names, xv, check)
            residual = vals[map_name].value - xv
            gap = abs(1 - vals[slope_name].value) - vals[slope_name].error
            if abs(residual) <= vals[map_name].error:
                error = vals[map_name].error     # exact to the evaluation: only the evaluation error
                if gap > 0:
                    error = 2 * error / gap      # |x - x*| <= (|r| + err)/gap with |r| <= err
            elif gap <= 0:
                raise ConvergenceError(f"the slope of the map is 1 within its error at {what}: "
                                       f"{what} is marginal and its error cannot be bounded",
                                       last=xv, residual=residual, dps=check)
            else:
                error = (abs(residual) + vals[map_name].error) / gap
            if error <= ctx.mpf(10) ** (-dps) * max(abs(xv), scale):
                return Polished(+xv, +error, vals, steps + attempt)
            if attempt < 2:
                xv = xv - residual / (vals[slope_name].value - 1)    # one more step at the check precision
    raise ConvergenceError(
        f"{what} could not be confirmed to {dps} digits (error estimate {ctx.nstr(error, 3)} "
        f"for {what} = {ctx.nstr(xv, 8)} after two extra Newton steps at {check} digits)",
        last=xv, residual=residual, dps=check,
        hint="the map may be too flat here (slope near 1); try a lower dps")


def depth_scale(slope: Estimate, ctx=mpmath.mp) -> Estimate | None:
    """``xi = -1/ln|slope|`` with its error, or None when ``|slope|`` is 0 or >= 1.

    Evaluated at the slope's own precision (``slope.dps`` plus guard digits),
    whatever the caller's precision. The error is ``err(slope) xi**2/|slope|``
    (first order) plus the rounding of the evaluation.
    """
    with ctx.workdps(slope.dps + 2 * GUARD_DIGITS):
        s = abs(slope.value)
        if not 0 < s < 1:
            return None
        xi = -1 / ctx.log(s)
        error = slope.error * xi**2 / s + abs(xi) * ctx.mpf(10) ** (-(slope.dps + GUARD_DIGITS))
        return Estimate(+xi, +error, slope.dps)


def sensitivities(evaluate_np, xv, lower=0.0):
    """``|d law / dx|`` at ``x`` by a float64 central difference: ``{name: float}``.

    Only scales the error of ``x`` into the error of the laws evaluated there;
    a law that is not finite next to ``x`` gets the deliberately large value 1e3.
    """
    h = 1e-5 * max(abs(xv), 1e-3)
    lo, hi = max(xv - h, lower), xv + h
    a = evaluate_np(np.array([lo, hi]))
    return {n: float((v[1] - v[0]) / (hi - lo)) if np.all(np.isfinite(v)) else 1e3 for n, v in a.items()}
