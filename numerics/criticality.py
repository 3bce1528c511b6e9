r"""Two inputs at the length fixed point: c*, its slope, depth scales, phases, critical line.

* :func:`correlation_fixed_point` - the stable fixed point ``c*`` of the
  c-map in ``[-1, 1]`` (``c* = 1`` in the ordered phase), ``chi_c(c*)``,
  ``xi_c = -1/ln chi_c(c*)`` and the phase; :func:`correlation_fixed_points`
  lists every fixed point.
* :func:`critical_point` - ``sigma_w2`` on ``chi_1 = 1`` at a given
  ``sigma_b2``, at any precision, parametrised by ``q*`` (reference/theory.md
  section 3.2): ``sigma_w2(q) = 1/E[phi'^2]``, ``sigma_b2(q) = q - E[phi^2]/E[phi'^2]``.
* :func:`phase_diagram` - ``chi_1(q*)`` and the phase on a float64 grid.

>>> from neurodyn.theory import catalog, derive
>>> from neurodyn.numerics import compile_laws
>>> cp = critical_point(compile_laws(derive(catalog.get("erf"))), "0.05", dps=15)
>>> str(cp.sigma_w2), str(cp.q_star)
('1.37583900734668', '0.517176837980564')
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass

import mpmath
import numpy as np

from neurodyn.theory.errors import ConvergenceError, NotDefinedError

from .compile import CompiledLaws, check_dps, check_variances, to_mpf
from .fixedpoint import _sensitivities, depth_scale, fixed_point, polish_fixed_point
from .quadrature import GUARD_DIGITS
from .results import Estimate, FixedPoint

__all__ = ["correlation_fixed_point", "correlation_fixed_points", "critical_point", "critical_line", "CriticalPoint",
           "phase_diagram", "PhaseDiagram", "phase_of"]


def phase_of(chi_1: Estimate) -> str:
    """``ordered`` (chi_1 < 1), ``chaotic`` (> 1) or ``critical`` (1 within its error)."""
    gap = chi_1.value - 1
    if abs(gap) <= 10 * chi_1.error:
        return "critical"
    return "ordered" if gap < 0 else "chaotic"


def _c_point(fp: FixedPoint, c_value):
    return dict(c=c_value, q_star=fp.value, sigma_w2=fp.sigma_w2, sigma_b2=fp.sigma_b2)


def _c_evaluator(f: CompiledLaws, fp: FixedPoint):
    """``evaluate(names, c, digits)`` for :func:`polish_fixed_point` on the c-map at ``fp``."""
    def evaluate(which, cv, digits):
        return f.evaluate_at(which, _c_point(fp, cv), dps=digits)
    return evaluate


def _float_c_start(f: CompiledLaws, fp: FixedPoint, c0=0.0):
    """Float64 iteration of the c-map from c0 (then Newton when slow)."""
    point = _c_point(fp, None)
    cv = float(c0)
    history = []
    for it in range(1, 3001):
        new = float(f.evaluate_at(["c_map"], {**point, "c": cv})["c_map"])
        step = new - cv
        cv = min(max(new, -1.0), 1.0)
        if abs(step) <= 1e-14:
            return cv, it
        history.append(abs(step))
        if it >= 30 and 0.5 * history[-2] < history[-1] < history[-2]:
            break
    for extra in range(60):
        vals = f.evaluate_at(["c_map", "chi_c"], {**point, "c": cv})
        new = cv - (float(vals["c_map"]) - cv) / (float(vals["chi_c"]) - 1)
        new = min(max(new, -1.0), 1.0)
        if abs(new - cv) <= 1e-14:
            return new, it + extra
        cv = new
    return cv, it + 60


def correlation_fixed_point(f: CompiledLaws, fp: FixedPoint) -> FixedPoint:
    """``fp`` (a q* fixed point) completed with c*, chi_c(c*), xi_c and the phase.

    Ordered phase: ``c* = 1`` and ``chi_c(c*) = chi_1``. Chaotic phase: the c-map
    is iterated from ``c = 0`` in float64, then polished by Newton's method with
    the exact slope ``chi_c`` and checked at higher precision, like ``q*``.
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
            notes["xi_c"] = "chi_1 = 1: xi_c diverges on the critical line (algebraic approach to c* = 1)"
        return dataclasses.replace(fp, c_star=c_star, chi_c_star=chi_c, xi_c=xi_c, phase=phase, notes=notes)
    if "c_map" not in f.names() or "chi_c" not in f.names():
        raise NotDefinedError(f"the c-map of {f.activation.name} is not defined")
    c_float, _ = _float_c_start(f, fp)
    names = ["c_map", "chi_c"]
    cv, error, vals, _ = polish_fixed_point(_c_evaluator(f, fp), c_float, dps, "c_map", "chi_c", names, "c*")
    with mpmath.workdps(dps + 2 * GUARD_DIGITS):
        # the error of q* moves c* by (dC/dq*) dq*/(1 - chi_c)
        qf = float(fp.value)
        sens_q = _sensitivities(lambda qa: f.evaluate_at(["c_map"], {**_c_point(fp, float(cv)), "q_star": qa}), qf)
        gap = abs(1 - vals["chi_c"].value)
        error += abs(sens_q["c_map"]) * fp.error / gap
        sens_c = _sensitivities(lambda ca: f.evaluate_at(["chi_c"], _c_point(fp, ca)), float(cv), lower=-1.0)
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
            cv, err, v, _ = polish_fixed_point(_c_evaluator(f, fp), c0, fp.dps, "c_map", "chi_c",
                                               ["c_map", "chi_c"], "c*")
        except ConvergenceError:
            if c0 != 1.0:
                raise
            cv, err = mpmath.mpf(1), mpmath.mpf(0)
            v = {"chi_c": fp.chi_1}
        slope = v["chi_c"]
        out.append((Estimate(cv, err, fp.dps), Estimate(slope.value, slope.error, fp.dps),
                    bool(abs(slope.value) < 1)))
    return out


# ------------------------------------------------------------------------------------
# the critical line
# ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CriticalPoint:
    """A point of the critical line chi_1(q*) = 1 at a given sigma_b2."""

    activation: str
    sigma_b2: str
    sigma_w2: Estimate
    q_star: Estimate
    chi_2: Estimate | None
    dps: int
    others: tuple = ()          # further solutions (float64 values of sigma_w2), if any
    note: str = ""

    def to_json(self) -> dict:
        out = {"activation": self.activation, "sigma_b2": {"value": self.sigma_b2, "error": "0"},
               "dps": self.dps, "sigma_w2": self.sigma_w2.to_json(), "q_star": self.q_star.to_json(),
               "chi_2": None if self.chi_2 is None else self.chi_2.to_json(), "chi_1": {"value": "1", "error": "0"}}
        if self.others:
            out["other_sigma_w2"] = [repr(o) for o in self.others]
        if self.note:
            out["note"] = self.note
        return out

    def __str__(self) -> str:
        rows = [f"sigma_w2 = {self.sigma_w2}  (+- {self.sigma_w2.to_json()['error']})",
                f"q_star   = {self.q_star}",
                f"chi_2    = {self.chi_2 if self.chi_2 is not None else 'undefined'}"]
        if self.note:
            rows.append(self.note)
        return "\n".join(rows)


def critical_line(f: CompiledLaws, q_star):
    """The critical line chi_1 = 1 as float64 arrays ``(sigma_w2, sigma_b2)``, parametrised by ``q*``.

    ``sigma_w2(q) = 1/E[phi'^2]``, ``sigma_b2(q) = q - sigma_w2 E[phi^2]`` (X18's
    parametrisation, reference/theory.md section 3.2); points with ``sigma_b2 < 0``
    are not realisable networks.

    >>> from neurodyn.theory import catalog, derive
    >>> from neurodyn.numerics import compile_laws
    >>> sw2, sb2 = critical_line(compile_laws(derive(catalog.get("erf"))), [0.517176837981])
    >>> round(float(sw2[0]), 9), round(float(sb2[0]), 9)
    (1.375839007, 0.05)
    """
    return _line_np(f, np.asarray(q_star, dtype=float))


def _line_np(f, qs):
    """float64 (sigma_w2(q), sigma_b2(q)) on the chi_1 = 1 line."""
    vals = f.evaluate(["q_map", "chi_1"], qs, 1.0, 0.0)
    a, b = vals["q_map"], vals["chi_1"]          # E[phi^2], E[phi'^2]
    with np.errstate(all="ignore"):
        return 1 / b, qs - a / b


def critical_point(f: CompiledLaws, sigma_b2, dps: int = 30, q_range=(1e-8, 1e6)) -> CriticalPoint:
    """``sigma_w2`` with ``chi_1(q*) = 1`` at ``sigma_b2``, and ``q*``, ``chi_2`` there.

    Scans ``sigma_b2(q)`` on a logarithmic grid of ``q*`` for a crossing of the
    requested value (no loop can run away), refines it by the Anderson-Bjorck
    bracketing method at working precision, and checks it at higher precision.
    Raises ConvergenceError, saying which range ``sigma_b2(q)`` covers, when the
    critical line does not reach ``sigma_b2``.
    """
    dps = check_dps(dps)
    check_variances(1, sigma_b2)
    for name in ("q_map", "chi_1"):
        if name not in f.names():
            raise NotDefinedError(f"{name} is not defined for {f.activation.name}: the critical line needs it")
    target = float(to_mpf(sigma_b2))
    qs = np.geomspace(*q_range, 1401)
    sw2s, sb2s = _line_np(f, qs)
    ok = np.isfinite(sb2s) & np.isfinite(sw2s) & (sw2s > 0)
    g = np.where(ok, sb2s - target, np.nan)
    brackets = [i for i in range(len(qs) - 1)
                if ok[i] and ok[i + 1] and (g[i] == 0 or g[i] * g[i + 1] < 0)]
    zero_fixed = abs(float(f.evaluate(["q_map"], 0.0, 1.0, 0.0)["q_map"])) == 0
    if target == 0 and zero_fixed and float(f.evaluate(["chi_1"], 0.0, 1.0, 0.0)["chi_1"]) > 0:
        # phi(0) = 0 and no bias: q* = 0 is a fixed point, critical at sigma_w2 = 1/phi'(0)^2
        with mpmath.workdps(dps + GUARD_DIGITS):
            b0 = f.evaluate(["chi_1"], 0, 1, 0, dps=dps)["chi_1"]
            sw2 = 1 / b0.value
            return CriticalPoint(f.activation.name, str(sigma_b2), Estimate(sw2, b0.error * sw2**2, dps),
                                 Estimate(mpmath.mpf(0), mpmath.mpf(0), dps), None, dps,
                                 others=tuple(float(sw2s[j]) for j in brackets),
                                 note="q* = 0: the critical point is marginal (phi(0) = 0, sigma_b2 = 0)")
    if not brackets:
        span = sb2s[ok]
        lo, hi = (float(np.min(span)), float(np.max(span))) if span.size else (float("nan"),) * 2
        raise ConvergenceError(
            f"no critical point of {f.activation.name} at sigma_b2 = {sigma_b2}: on the chi_1 = 1 line "
            f"sigma_b2(q*) only covers [{lo:.6g}, {hi:.6g}] for q* in [{q_range[0]:g}, {q_range[1]:g}]",
            hint="choose sigma_b2 in that range")
    i = brackets[0]
    others = tuple(float(sw2s[j]) for j in brackets[1:])
    with mpmath.workdps(dps + 2 * GUARD_DIGITS):
        tgt = to_mpf(sigma_b2)

        def sb2_of(qv, digits):
            vals = f.evaluate(["q_map", "chi_1"], qv, 1, 0, dps=digits)
            a, b = vals["q_map"], vals["chi_1"]
            value = qv - a.value / b.value - tgt
            err = a.error / b.value + abs(a.value) * b.error / b.value**2
            return value, err, 1 / b.value, b

        work = dps + 5
        with mpmath.workdps(work + GUARD_DIGITS):
            qstar = mpmath.findroot(lambda qv: sb2_of(qv, work)[0],
                                    (mpmath.mpf(qs[i]), mpmath.mpf(qs[i + 1])), solver="anderson",
                                    tol=mpmath.mpf(10) ** (-2 * work), verify=False)
        check = dps + GUARD_DIGITS
        with mpmath.workdps(check + GUARD_DIGITS):
            res, res_err, sw2, b = sb2_of(qstar, check)
            h = mpmath.mpf(10) ** (-(check // 2)) * max(qstar, 1)
            slope = (sb2_of(qstar + h, check)[0] - sb2_of(qstar - h, check)[0]) / (2 * h)
            if slope == 0:
                raise ConvergenceError("the critical line is flat in q* here; cannot bound q*")
            q_err = (abs(res) + res_err) / abs(slope)
            if q_err > mpmath.mpf(10) ** (-dps) * abs(qstar):
                raise ConvergenceError(f"the critical point could not be confirmed to {dps} digits",
                                       last=qstar, residual=res, dps=check)
            dsw = _sensitivities(lambda qa: {"sw2": 1 / f.evaluate(["chi_1"], qa, 1, 0)["chi_1"]}, float(qstar))
            sw2_est = Estimate(sw2, b.error * sw2**2 + abs(dsw["sw2"]) * q_err, dps)
            chi_2 = None
            if "chi_2" in f.names():
                c2 = f.evaluate(["chi_2"], qstar, sw2, 0, dps=check)["chi_2"]
                dc2 = _sensitivities(lambda qa: f.evaluate(["chi_2"], qa, float(sw2), 0), float(qstar))
                chi_2 = Estimate(c2.value, c2.error + abs(dc2["chi_2"]) * q_err + abs(c2.value / sw2) * sw2_est.error, dps)
            return CriticalPoint(f.activation.name, str(sigma_b2), sw2_est, Estimate(qstar, q_err, dps), chi_2, dps,
                                 others=others,
                                 note=(f"the chi_1 = 1 line crosses sigma_b2 = {sigma_b2} {len(others)} more time(s)"
                                       if others else ""))


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

    def plot(self, path):
        """A PNG of log chi_1 with the chi_1 = 1 line (needs matplotlib: pip install neurodyn[plot])."""
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError("the plot needs matplotlib: pip install 'neurodyn[plot]'") from None
        fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=120)
        with np.errstate(all="ignore"):
            logc = np.log(self.chi_1)
        lim = np.nanmax(np.abs(logc)) if np.any(np.isfinite(logc)) else 1.0
        mesh = ax.pcolormesh(self.sigma_w2, self.sigma_b2, logc, cmap="RdBu_r", vmin=-lim, vmax=lim, shading="auto")
        fig.colorbar(mesh, ax=ax, label=r"$\ln \chi_1$")
        if np.any(np.isfinite(logc)) and np.nanmin(logc) < 0 < np.nanmax(logc):
            ax.contour(self.sigma_w2, self.sigma_b2, logc, levels=[0.0], colors="k", linewidths=1.5)
        if len(self.critical_line):
            ax.plot(self.critical_line[:, 0], self.critical_line[:, 1], "k--", lw=1, label=r"$\chi_1 = 1$")
            ax.legend(loc="upper left")
        for label, sel in (("ordered", self.chi_1 < 1), ("chaotic", self.chi_1 > 1)):
            if np.any(sel):
                iy, ix = np.argwhere(sel)[len(np.argwhere(sel)) // 2]
                ax.text(self.sigma_w2[ix], self.sigma_b2[iy], label, ha="center", va="center",
                        fontsize=11, bbox=dict(facecolor="white", alpha=0.7, edgecolor="none"))
        ax.set_xlabel(r"$\sigma_w^2$")
        ax.set_ylabel(r"$\sigma_b^2$")
        ax.set_title(f"{self.activation}: order-to-chaos phase diagram")
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)


def phase_diagram(f: CompiledLaws, sigma_w2, sigma_b2, progress=None) -> PhaseDiagram:
    """chi_1(q*) on the grid ``sigma_w2`` x ``sigma_b2`` (1-D arrays), float64.

    ``progress`` is a callable taking a fraction in [0, 1] (e.g. a progress bar).
    """
    sw = np.asarray(sigma_w2, dtype=float)
    sb = np.asarray(sigma_b2, dtype=float)
    if sw.ndim != 1 or sb.ndim != 1 or not sw.size or not sb.size:
        raise ValueError("sigma_w2 and sigma_b2 must be non-empty 1-D grids")
    if sw.size * sb.size > MAX_GRID_POINTS:
        need = sw.size * sb.size * 8 * 6 / 2**20
        raise ValueError(f"grid of {sw.size} x {sb.size} = {sw.size * sb.size} points (about {need:.0f} MiB) "
                         f"is larger than the limit of {MAX_GRID_POINTS} points")
    if np.any(sw <= 0) or np.any(sb < 0) or not (np.all(np.isfinite(sw)) and np.all(np.isfinite(sb))):
        raise ValueError("sigma_w2 must be > 0 and sigma_b2 >= 0 on the whole grid")
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
    inside = (line_w >= sw.min()) & (line_w <= sw.max()) & (line_b >= sb.min()) & (line_b <= sb.max())
    line = np.column_stack([line_w[inside], line_b[inside]])
    # spot checks of the interpolation against direct float64 evaluation
    rng = np.random.default_rng(0)
    worst = 0.0
    flat = np.flatnonzero(np.isfinite(qv))
    for k in rng.choice(flat, size=min(12, flat.size), replace=False) if flat.size else []:
        iy, ix = np.unravel_index(k, qv.shape)
        try:
            exact = fixed_point(f, float(sw[ix]), float(sb[iy]), dps=15)
        except (ConvergenceError, ValueError):
            continue
        worst = max(worst, abs(float(exact.chi_1.value) - chi_1[iy, ix]))
    report(1.0)
    return PhaseDiagram(f.activation.name, sw, sb, qv, chi_1, line, worst)


def text_progress(stream=sys.stderr):
    """A minimal progress bar on a terminal (silent when the stream is not a TTY)."""
    if not getattr(stream, "isatty", lambda: False)():
        return None

    def show(frac):
        bar = "#" * int(30 * frac)
        stream.write(f"\r[{bar:<30s}] {100 * frac:5.1f}%")
        if frac >= 1:
            stream.write("\n")
        stream.flush()

    return show
