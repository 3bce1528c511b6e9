r"""The signal manifold pushed through the layers, one layer at a time (docs/theory.md §§4-6).

:func:`iterate` follows the whole state layer by layer: the length ``q``, the
metric factor, the curvatures ``Hsq`` (``|H|^2``), ``trHsq`` (``|tr H|^2``) and
``Rbar``, and for a pair of inputs the correlation ``c``, the distance ``d`` and
(optionally) the NTK entry ``Theta``. Every step is an evaluation of the
registered laws (:mod:`neurodyn.theory.geometry`, ``q_map``, ``cov_map``,
``ntk_map``) through :class:`~neurodyn.numerics.compile.CompiledLaws`:

* with ``dps=N`` at N digits (mpmath): each value an :class:`Estimate` whose error
  is the evaluation error of the law plus the errors of its inputs carried
  through the law's partial derivatives (float64 slopes, only scaling errors);
* without ``dps`` in float64 (numpy), vectorised over arrays of ``q0``, ``c0``,
  ``sigma_w2``, ``sigma_b2`` (broadcast together).

State 0 (the README's conventions): ``q = q0``, ``metric = q0``, ``Hsq = m/q0``,
``trHsq = m^2/q0``, ``Rbar = m(m-1)/q0``, ``c = c0``, ``d = 2 q0 (1 - c0)``,
``Theta = c0 q0`` (the first layer's covariance, the NTK of one layer).

Depth is cheap: every map is affine in its own state variable, so once ``q^l``
has converged to working precision (or when the laws do not depend on ``q`` at
all, as for ReLU and other positively homogeneous activations, whose ``q`` then
follows its affine map exactly) the coefficients are evaluated once and reused;
likewise the correlation once ``c^l`` has converged. The result's ``notes`` say
from which layer on this happened.

>>> from neurodyn.theory import catalog, derive
>>> from neurodyn.numerics.compile import compile_laws
>>> f = compile_laws(derive(catalog.get("erf")))
>>> t = iterate(f, "2", "0.05", q0="1", layers=3, dps=20)
>>> [str(row["q"]) for row in t.rows]
['1.0000000000000000000', '0.97911810879507995702', '0.97110181080077316980', '0.96797613206082535122']
>>> str(t.rows[0]["Hsq"]), str(t.rows[0]["Rbar"])
('1.0000000000000000000', '0')
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mpmath
import numpy as np
import sympy

from .compile import CompiledLaws, check_dps, check_variances, to_mpf
from .quadrature import GUARD_DIGITS
from .results import Estimate, ParameterError

__all__ = ["iterate", "Trajectory", "QUANTITIES", "check_state", "estimate_seconds", "LAYER_SECONDS"]

#: The quantities of a row, in the order they are printed.
QUANTITIES = ("q", "chi_1", "metric", "Hsq", "trHsq", "Rbar", "c", "d", "Theta")
#: quantity -> (law, the law's state variable)
_STATE = {"metric": ("metric_map", "g"), "Hsq": ("Hsq_map", "Hsq"), "trHsq": ("trHsq_map", "trHsq"),
          "Rbar": ("Rbar_map", "Rbar")}
#: Rough cost of one layer, seconds: (1-D laws by quadrature at 30 digits, 2-D laws at 30 digits, a reused
#: affine step, a float64 layer, a float64 two-input layer); used by :func:`estimate_seconds` only.
LAYER_SECONDS = (0.03, 0.6, 1e-4, 1e-3, 0.05)


def check_state(q0, c0, dim, layers, every=1):
    """Validate the starting state and the depth (ParameterError naming the argument)."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
        raise ParameterError(f"dim must be an integer >= 1, got {dim!r}")
    if isinstance(layers, bool) or not isinstance(layers, (int, np.integer)) or layers < 1:
        raise ParameterError(f"layers must be an integer >= 1, got {layers!r}")
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise ParameterError(f"every must be an integer >= 1, got {every!r}")
    for name, value, ok, need in (("q0", q0, lambda v: v > 0, "> 0"), ("c0", c0, lambda v: (-1 <= v) & (v <= 1),
                                                                       "in [-1, 1]")):
        if value is None:
            if name == "q0":
                raise ParameterError("q0 is required")
            continue
        try:
            arr = np.asarray(value, dtype=float) if not isinstance(value, (str, mpmath.mpf)) else \
                np.asarray(float(to_mpf(value)))
        except (TypeError, ValueError, ArithmeticError):
            raise ParameterError(f"{name} must be a number, got {value!r}") from None
        if not np.all(np.isfinite(arr)) or not np.all(ok(arr)):
            raise ParameterError(f"{name} must be a finite number {need}, got {value}")


def estimate_seconds(layers: int, dps, two_input: bool) -> float:
    """A pessimistic estimate of :func:`iterate`'s time: quadrature at every layer until convergence
    (at most ``3 dps`` layers for the length, 200 for the correlation), affine steps after."""
    if dps is None:
        return layers * (LAYER_SECONDS[3] + (LAYER_SECONDS[4] if two_input else 0))
    scale = (max(dps, 15) / 30) ** 2
    seconds = min(layers, 3 * max(dps, 15)) * LAYER_SECONDS[0] * scale + layers * LAYER_SECONDS[2]
    if two_input:
        seconds += min(layers, 200) * LAYER_SECONDS[1] * scale
    return seconds


@dataclass
class Trajectory:
    """The state at each layer: ``rows`` (dicts ``{"l": l, "q": ..., ...}``; Estimates with ``dps``,
    float64 numbers or arrays without; None where undefined), ``notes`` (how it was computed) and
    ``row_notes`` (quantity -> why it is undefined)."""

    activation: str
    sigma_w2: str
    sigma_b2: str
    dps: int | None
    dim: int
    columns: tuple
    rows: list
    notes: list = field(default_factory=list)
    row_notes: dict = field(default_factory=dict)

    def column(self, name):
        """The values of one quantity, one per row (float64 array, or a list of Estimates)."""
        values = [row[name] for row in self.rows]
        return values if self.dps is not None else np.array(values, dtype=float)

    def _cell(self, value, name):
        if value is None:
            return None
        if isinstance(value, Estimate):
            return value.to_json()
        arr = np.asarray(value, dtype=float)
        if not np.all(np.isfinite(arr)):
            return None
        return {"value": arr.tolist(), "error": None}

    def to_json(self) -> dict:
        """JSON-ready: no inf or nan (an undefined or overflowing value is null with ``<name>_note``)."""
        out = {"activation": self.activation, "sigma_w2": self.sigma_w2, "sigma_b2": self.sigma_b2,
               "dps": self.dps, "dim": self.dim, "columns": list(self.columns), "notes": list(self.notes)}
        if self.dps is None:
            out["precision"] = "float64: no error estimate (give dps for digits with errors)"
        rows = []
        for row in self.rows:
            item = {"l": row["l"]}
            for name in self.columns[1:]:
                cell = self._cell(row[name], name)
                item[name] = cell
                if cell is None:
                    item[f"{name}_note"] = self.row_notes.get(name) or "not finite in float64 (overflow)"
            rows.append(item)
        out["layers"] = rows
        return out

    def to_csv(self):
        """``(header, rows)`` for a CSV table: value and error columns (float64: values only); empty = undefined."""
        header = ["l"]
        for name in self.columns[1:]:
            header += [name] if self.dps is None else [name, f"{name}_error"]
        rows = []
        for row in self.rows:
            line = [row["l"]]
            for name in self.columns[1:]:
                cell = self._cell(row[name], name)
                if self.dps is None:
                    line.append(None if cell is None else repr(float(np.asarray(row[name]).ravel()[0]))
                                if np.ndim(row[name]) == 0 else None)
                else:
                    line += [None, None] if cell is None else [cell["value"], cell["error"]]
            rows.append(line)
        return header, rows

    def __str__(self) -> str:
        lines = [f"{self.activation} at sigma_w2 = {self.sigma_w2}, sigma_b2 = {self.sigma_b2}, dim = {self.dim} "
                 f"({'float64' if self.dps is None else f'{self.dps} digits'})", "\t".join(self.columns)]
        for row in self.rows:
            cells = [str(row["l"])]
            for name in self.columns[1:]:
                v = row[name]
                cells.append("undefined" if v is None else str(v) if isinstance(v, Estimate) else f"{float(v):.12g}")
            lines.append("\t".join(cells))
        lines += [f"note: {n}" for n in self.notes]
        lines += [f"{k}: undefined ({why})" for k, why in self.row_notes.items()]
        return "\n".join(lines)


# ----------------------------------------------------------------------------------------
def _affine_in_q(f: CompiledLaws) -> bool:
    """Whether the q-map is ``alpha q + beta`` in closed form (positively homogeneous activations)."""
    law = f.laws["q_map"]
    if not law.closed:
        return False
    qs = [s for s in law.expr.free_symbols if s.name == "q"]
    return not qs or sympy.diff(law.expr, qs[0], 2) == 0


def _slopes(f, names, point, var, h):
    """float64 d(law)/d(var) at ``point`` (central difference; exact for the affine state variables)."""
    pt = {k: float(v) if v is not None else None for k, v in point.items()}
    x0 = pt[var]
    lo, hi = (x0 - h if var not in ("q", "q11", "q22") else max(x0 - h, x0 / 2)), x0 + h
    if var == "q12":                # stay inside |q12| <= sqrt(q11 q22) (one-sided at c = +-1)
        bound = (pt["q11"] * pt["q22"]) ** 0.5
        lo, hi = max(lo, -bound), min(hi, bound)
    pt[var] = np.array([lo, hi])
    with np.errstate(all="ignore"):
        vals = f.evaluate_at(names, pt)
    out = {}
    for n in names:
        v = np.asarray(vals[n], float)
        s = (v[1] - v[0]) / (hi - lo)
        out[n] = abs(float(s)) if np.isfinite(s) else 1e3
    return out


class _Val:
    """A value with an absolute error (mpmath), for the high-precision path."""

    __slots__ = ("v", "e")

    def __init__(self, v, e):
        self.v, self.e = v, e


def iterate(f: CompiledLaws, sigma_w2, sigma_b2, *, q0, c0=None, dim: int = 1, layers: int, dps: int | None = None,
            ntk: bool = False, every: int = 1) -> Trajectory:
    """The state at layers ``0, every, 2 every, ..., layers`` (see the module's docstring).

    Parameters
    ----------
    f : CompiledLaws
        The compiled laws of the activation (the geometry laws included).
    sigma_w2, sigma_b2 : number or decimal string
    q0 : number, decimal string, or (float64) array
        The input sphere's per-neuron squared radius, > 0.
    c0 : number in [-1, 1], optional
        The correlation of a pair of inputs on it; without it ``c``, ``d`` (and ``Theta``) are not computed.
    dim : int
        The manifold's dimension m >= 1 (a great circle for 1).
    layers : int
        How many layers to push through (>= 1).
    dps : int, optional
        Digits (mpmath, every value with its error); float64 (vectorised) when omitted.
    ntk : bool
        Also the NTK entry ``Theta`` of the pair (needs ``c0``; ``Theta^0 = c0 q0``).
    every : int
        Keep every ``every``-th row (and the last).
    """
    check_state(q0, c0, dim, layers, every)
    check_variances(sigma_w2, sigma_b2)
    if ntk and c0 is None:
        raise ParameterError("the NTK Theta needs a pair of inputs: give c0")
    columns = ("l", "q", "chi_1", "metric", "Hsq", "trHsq", "Rbar") + (("c", "d") if c0 is not None else ()) \
        + (("Theta",) if ntk else ())
    defined = set(f.names())
    row_notes = {}
    for name, (law, _) in _STATE.items():
        if law not in defined:
            row_notes[name] = f"{law} is not defined: {f.laws[law].note} (defined at layer 0 only)"
    if "chi_1" not in defined:
        row_notes["chi_1"] = f"chi_1 is not defined: {f.laws['chi_1'].note}"
    if ntk and "ntk_map" not in defined:
        row_notes["Theta"] = f"ntk_map is not defined: {f.laws['ntk_map'].note} (defined at layer 0 only)"
    traj = Trajectory(f.activation.name, str(sigma_w2), str(sigma_b2), dps, int(dim), columns, [], [], row_notes)
    if dps is None:
        _iterate_np(f, traj, sigma_w2, sigma_b2, q0, c0, int(dim), int(layers), ntk, int(every))
    else:
        _iterate_mp(f, traj, sigma_w2, sigma_b2, q0, c0, int(dim), int(layers), check_dps(dps), ntk, int(every))
    return traj


def _pair_np(f, names, point, shape):
    """float64 two-input laws, one point at a time: the vectorised 2-D quadrature loses digits (to ~1e-6)
    when the lengths differ across the array, the scalar one (Mehler series) does not."""
    if not shape:
        with np.errstate(all="ignore"):
            return f.evaluate_at(names, point)
    out = {n: np.empty(shape) for n in names}
    arrays = {k: np.broadcast_to(np.asarray(v, float), shape) for k, v in point.items()}
    for index in np.ndindex(*shape):
        with np.errstate(all="ignore"):
            vals = f.evaluate_at(names, {k: float(v[index]) for k, v in arrays.items()})
        for n in names:
            out[n][index] = vals[n]
    return out


def _keep(l, layers, every):
    return l % every == 0 or l == layers


# ----------------------------------------------------------------------------------------
# high precision
# ----------------------------------------------------------------------------------------
def _iterate_mp(f, traj, sw2, sb2, q0, c0, dim, layers, dps, ntk, every):
    defined = set(f.names())
    work = dps + GUARD_DIGITS
    ulp = mpmath.mpf(10) ** (-(work - 1))
    state_names = [n for n in _STATE if _STATE[n][0] in defined]
    single = ["q_map", "chi_par"] + (["chi_1"] if "chi_1" in defined else []) + [_STATE[n][0] for n in state_names]
    pair = ["cov_map"] + (["ntk_map"] if ntk and "ntk_map" in defined else [])
    with mpmath.workdps(work + GUARD_DIGITS):
        qv = _Val(to_mpf(q0), abs(to_mpf(q0)) * ulp)           # the decimal q0 rounded to binary
        mdim = mpmath.mpf(dim)
        # m/q0 etc.: the relative error of q0 plus the rounding of the division
        state = {"metric": _Val(qv.v, qv.e), "Hsq": _Val(mdim / qv.v, abs(mdim / qv.v) * 2 * ulp),
                 "trHsq": _Val(mdim**2 / qv.v, mdim**2 / qv.v * 2 * ulp),
                 "Rbar": _Val(mdim * (mdim - 1) / qv.v, mdim * (mdim - 1) / qv.v * 2 * ulp)}
        cv = None
        if c0 is not None:       # c0 = 1 (identical inputs) is exact and stays 1
            cv = _Val(to_mpf(c0), mpmath.mpf(0) if to_mpf(c0) == 1 else abs(to_mpf(c0)) * ulp)
        theta = _Val(cv.v * qv.v, abs(cv.v * qv.v) * 3 * ulp) if ntk else None
        base = {"sigma_w2": sw2, "sigma_b2": sb2, **_dimension(f, single, dim)}
        q_const = not any(_has_q(f, n) for n in single if n not in ("q_map", "chi_par"))
        q_affine = _affine_in_q(f)
        frozen = None            # (q, {law: (a, b)}, chi_1) once q has converged (or never moves the laws)
        c_frozen = False
        ab_pair = None
        if q_const:
            frozen = _freeze(f, base, qv, state_names, single, dps, exact_q=True)
            traj.notes.append("the single-input laws do not depend on q (a positively homogeneous activation): "
                              "their coefficients were evaluated once, and q follows its affine map exactly"
                              if q_affine else "the geometry laws do not depend on q: evaluated once")
        q_map_affine = _q_affine_coefficients(f, base, dps) if q_affine else None
        for l in range(layers + 1):
            last = l == layers
            # --- single input: chi_1 at q^l and the state at l + 1
            if frozen is not None:
                chi1 = frozen[2]
                new = {}
                for n in state_names:
                    a, b = frozen[1][_STATE[n][0]]
                    x = state[n]
                    val = a.v * x.v + b.v
                    new[n] = _Val(val, abs(a.v) * x.e + a.e * abs(x.v) + b.e + abs(val) * ulp)
                if q_map_affine is not None:
                    alpha, beta = q_map_affine
                    qn = alpha.v * qv.v + beta.v
                    q_new = _Val(qn, abs(alpha.v) * qv.e + alpha.e * qv.v + beta.e + qn * ulp)
                elif q_const:            # laws free of q, but a q-map that is not affine: q by its law
                    v = f.evaluate_at(["q_map", "chi_par"], dict(base, q=qv.v), dps)
                    q_new = _Val(v["q_map"].value, v["q_map"].error + abs(v["chi_par"].value) * qv.e)
                else:
                    q_new = frozen[0]
            else:
                point = dict(base, q=qv.v, **{_STATE[n][1]: state[n].v for n in state_names})
                vals = f.evaluate_at(single, point, dps)
                dq = _slopes(f, single, point, "q", 1e-5 * max(float(qv.v), 1e-3))
                dx = _slopes_state(f, state_names, point)
                chi1 = _Val(vals["chi_1"].value, vals["chi_1"].error + dq["chi_1"] * qv.e) \
                    if "chi_1" in vals else None
                new = {}
                for n in state_names:
                    law = _STATE[n][0]
                    new[n] = _Val(vals[law].value, vals[law].error + dq[law] * qv.e + dx[law] * state[n].e)
                q_new = _Val(vals["q_map"].value, vals["q_map"].error + dq["q_map"] * qv.e)
                # converged to working precision: the rest of the way at the fixed point
                slope = abs(vals["chi_par"].value)
                step = abs(q_new.v - qv.v)
                if slope < 1 and step <= max(q_new.e, abs(q_new.v) * ulp):
                    q_star = _Val(q_new.v, q_new.e + step * slope / (1 - slope))
                    frozen = _freeze(f, base, q_star, state_names, single, dps)
                    traj.notes.append(f"q converged to working precision at layer {l + 1} (|q^{l + 1} - q^{l}| "
                                      f"within its error): from there on q = q*, and chi_1, chi_2 and the maps' "
                                      f"coefficients at q* were evaluated once and reused")
                    q_new = q_star
            # --- two inputs: c and Theta at l + 1
            c_new = theta_new = None
            if cv is not None:
                if c_frozen:
                    c_new = cv
                    if theta is not None and ab_pair is not None:
                        a, b = ab_pair
                        val = a.v * theta.v + b.v
                        theta_new = _Val(val, abs(a.v) * theta.e + a.e * abs(theta.v) + b.e + abs(val) * ulp)
                else:
                    c_new, theta_new = _pair_step(f, base, qv, cv, theta, q_new, pair, dps)
                    if frozen is not None and q_new.v == qv.v:
                        if abs(c_new.v - cv.v) <= max(c_new.e, ulp):
                            c_frozen = True
                            c_new = _Val(c_new.v, c_new.e + abs(c_new.v - cv.v))
                            if theta is not None:
                                ab_pair = _theta_affine(f, base, q_new, c_new, dps)
                            traj.notes.append(f"c converged to working precision at layer {l + 1}: from there on "
                                              f"c = c* (and the NTK map's coefficients at c* were evaluated once)")
            if _keep(l, layers, every):
                traj.rows.append(_row_mp(l, qv, chi1, state, cv, theta, dps, traj, l == 0))
            if last:
                break
            qv, state, cv, theta = q_new, new, (c_new if cv is not None else None), theta_new


def _dimension(f, names, dim) -> dict:
    """``{"m": dim}`` when one of the laws ``names`` depends on the dimension m, else ``{}``."""
    return {"m": dim} if any("m" in f.needs(n) for n in names) else {}


def _has_q(f, name) -> bool:
    return any(s.name == "q" for s in f.laws[name].expr.free_symbols)


def _slopes_state(f, state_names, point):
    """|d law / d state| for each state law (each law depends on its own state variable only; exact: affine)."""
    if not state_names:
        return {}
    pt = {k: float(v) if v is not None else None for k, v in point.items()}
    for n in state_names:
        var = _STATE[n][1]
        pt[var] = np.array([pt[var], pt[var] + 1.0])
    laws = [_STATE[n][0] for n in state_names]
    with np.errstate(all="ignore"):
        vals = f.evaluate_at(laws, pt)
    out = {}
    for law in laws:
        v = np.asarray(vals[law], float)
        s = v[1] - v[0]
        out[law] = abs(float(s)) if np.isfinite(s) else 1e3
    return out


def _freeze(f, base, qv, state_names, single, dps, exact_q=False):
    """(q*, {state law: (a, b)}, chi_1) at ``qv``: each state map as ``a X + b``, evaluated once."""
    names = [n for n in single if n not in ("q_map", "chi_par")]
    point0 = dict(base, q=qv.v, **{_STATE[n][1]: 0 for n in state_names})
    point1 = dict(base, q=qv.v, **{_STATE[n][1]: 1 for n in state_names})
    v0 = f.evaluate_at(names, point0, dps) if names else {}
    v1 = f.evaluate_at(names, point1, dps) if names else {}
    dq0 = _slopes(f, names, point0, "q", 1e-5 * max(float(qv.v), 1e-3)) if names and not exact_q else \
        {n: 0.0 for n in names}
    dq1 = _slopes(f, names, point1, "q", 1e-5 * max(float(qv.v), 1e-3)) if names and not exact_q else \
        {n: 0.0 for n in names}
    coeffs = {}
    for n in state_names:
        law = _STATE[n][0]
        b = _Val(v0[law].value, v0[law].error + dq0[law] * qv.e)
        a = _Val(v1[law].value - v0[law].value, v1[law].error + v0[law].error + (dq1[law] + dq0[law]) * qv.e)
        coeffs[law] = (a, b)
    chi1 = _Val(v0["chi_1"].value, v0["chi_1"].error + dq0["chi_1"] * qv.e) if "chi_1" in v0 else None
    return qv, coeffs, chi1


def _q_affine_coefficients(f, base, dps):
    v0 = f.evaluate_at(["q_map"], dict(base, q=0), dps)["q_map"]
    v1 = f.evaluate_at(["q_map"], dict(base, q=1), dps)["q_map"]
    return _Val(v1.value - v0.value, v1.error + v0.error), _Val(v0.value, v0.error)


def _pair_step(f, base, qv, cv, theta, q_new, pair, dps):
    """c and Theta at the next layer from the covariance map at (q, c q, q)."""
    if cv.v == 1 and cv.e == 0:
        c_new = _Val(mpmath.mpf(1), mpmath.mpf(0))        # identical inputs stay identical
        if theta is None or "ntk_map" not in pair:
            return c_new, None
    q12 = cv.v * qv.v
    point = dict(base, q11=qv.v, q22=qv.v, q12=q12, **({"Theta": theta.v} if theta is not None else {}))
    names = pair if theta is not None else ["cov_map"]
    vals = f.evaluate_at(names, point, dps)
    fpt = {k: float(v) for k, v in point.items()}
    d12 = _slopes(f, names, fpt, "q12", 1e-6 * max(float(qv.v), 1e-6))
    dqq = _slopes_diag(f, names, fpt, 1e-6 * max(float(qv.v), 1e-6))
    q12e = abs(qv.v) * cv.e + abs(cv.v) * qv.e
    cov = _Val(vals["cov_map"].value, vals["cov_map"].error + d12["cov_map"] * q12e + dqq["cov_map"] * qv.e)
    if not (cv.v == 1 and cv.e == 0):
        val = cov.v / q_new.v
        c_new = _Val(val, cov.e / q_new.v + abs(cov.v) * q_new.e / q_new.v**2)
        if c_new.v > 1:                                    # rounding just above 1
            c_new = _Val(mpmath.mpf(1), c_new.e + (c_new.v - 1))
    theta_new = None
    if theta is not None and "ntk_map" in vals:
        dth = _slopes(f, ["ntk_map"], fpt, "Theta", 1.0)["ntk_map"]
        theta_new = _Val(vals["ntk_map"].value, vals["ntk_map"].error + d12["ntk_map"] * q12e
                         + dqq["ntk_map"] * qv.e + dth * theta.e)
    return c_new, theta_new


def _slopes_diag(f, names, fpt, h):
    """|d law/dq11 + d law/dq22| (both lengths move together) by a float64 central difference."""
    pt = dict(fpt)
    for k in ("q11", "q22"):        # forward difference: growing lengths keep the covariance valid at c = 1
        pt[k] = np.array([fpt[k], fpt[k] + h])
    pt["q12"] = np.array([fpt["q12"], fpt["q12"]])
    with np.errstate(all="ignore"):
        vals = f.evaluate_at(names, pt)
    out = {}
    for n in names:
        v = np.asarray(vals[n], float)
        s = (v[1] - v[0]) / h
        out[n] = abs(float(s)) if np.isfinite(s) else 1e3
    return out


def _theta_affine(f, base, qv, cv, dps):
    point = dict(base, q11=qv.v, q22=qv.v, q12=cv.v * qv.v)
    v0 = f.evaluate_at(["ntk_map"], dict(point, Theta=0), dps)["ntk_map"]
    v1 = f.evaluate_at(["ntk_map"], dict(point, Theta=1), dps)["ntk_map"]
    fpt = {k: float(v) for k, v in dict(point, Theta=0).items()}
    d12 = _slopes(f, ["ntk_map"], fpt, "q12", 1e-6 * max(float(qv.v), 1e-6))["ntk_map"]
    dqq = _slopes_diag(f, ["ntk_map"], fpt, 1e-6 * max(float(qv.v), 1e-6))["ntk_map"]
    shift = d12 * (abs(qv.v) * cv.e + abs(cv.v) * qv.e) + dqq * qv.e
    return (_Val(v1.value - v0.value, v1.error + v0.error + 2 * shift), _Val(v0.value, v0.error + shift))


def _row_mp(l, qv, chi1, state, cv, theta, dps, traj, first):
    def est(x):
        return None if x is None else Estimate(+x.v, +x.e, dps)

    row = {"l": l, "q": est(qv), "chi_1": est(chi1) if "chi_1" not in traj.row_notes else None}
    for n in ("metric", "Hsq", "trHsq", "Rbar"):
        row[n] = est(state.get(n)) if (first or n not in traj.row_notes) else None
    if cv is not None:
        row["c"] = est(cv)
        d = 2 * qv.v * (1 - cv.v)
        row["d"] = Estimate(d, 2 * abs(1 - cv.v) * qv.e + 2 * qv.v * cv.e, dps)
    if "Theta" in traj.columns:
        row["Theta"] = est(theta) if (first or "Theta" not in traj.row_notes) else None
    return row


# ----------------------------------------------------------------------------------------
# float64, vectorised
# ----------------------------------------------------------------------------------------
def _iterate_np(f, traj, sw2, sb2, q0, c0, dim, layers, ntk, every):
    defined = set(f.names())
    state_names = [n for n in _STATE if _STATE[n][0] in defined]
    single = ["q_map"] + (["chi_1"] if "chi_1" in defined else []) + [_STATE[n][0] for n in state_names]

    def arr(v):
        return np.asarray(float(to_mpf(v)) if isinstance(v, (str, mpmath.mpf)) else v, dtype=float)

    w, b, qv = arr(sw2), arr(sb2), arr(q0)
    cv = arr(c0) if c0 is not None else None
    shape = np.broadcast(w, b, qv, *(() if cv is None else (cv,))).shape
    w, b, qv = (np.broadcast_to(a, shape).astype(float) for a in (w, b, qv))
    if cv is not None:
        cv = np.broadcast_to(cv, shape).astype(float)
    m = float(dim)
    state = {"metric": qv.copy(), "Hsq": m / qv, "trHsq": m * m / qv, "Rbar": m * (m - 1) / qv}
    theta = cv * qv if ntk else None
    base = {"sigma_w2": w, "sigma_b2": b, **_dimension(f, single, m)}
    frozen = None
    c_frozen = False
    theta_ab = None                 # the NTK map's affine coefficients once c has converged
    tiny = 4 * np.finfo(float).eps

    def out(x):
        return x.copy() if shape else float(x)

    for l in range(layers + 1):
        if frozen is not None:
            chi1 = frozen["chi_1"]
            with np.errstate(over="ignore", invalid="ignore"):
                new = {n: frozen[n][0] * state[n] + frozen[n][1] for n in state_names}
            q_new = qv
        else:
            point = dict(base, q=qv, **{_STATE[n][1]: state[n] for n in state_names})
            with np.errstate(all="ignore"):
                vals = f.evaluate_at(single, point)
            chi1 = np.asarray(vals["chi_1"], float) if "chi_1" in vals else None
            new = {n: np.asarray(vals[_STATE[n][0]], float) for n in state_names}
            q_new = np.asarray(vals["q_map"], float)
            if np.all(np.abs(q_new - qv) <= tiny * np.abs(q_new)):
                p0 = dict(base, q=q_new, **{_STATE[n][1]: 0.0 for n in state_names})
                p1 = dict(base, q=q_new, **{_STATE[n][1]: 1.0 for n in state_names})
                with np.errstate(all="ignore"):
                    v0, v1 = f.evaluate_at(single, p0), f.evaluate_at(single, p1)
                frozen = {n: (np.asarray(v1[_STATE[n][0]]) - np.asarray(v0[_STATE[n][0]]),
                              np.asarray(v0[_STATE[n][0]], float)) for n in state_names}
                frozen["chi_1"] = np.asarray(v0["chi_1"], float) if "chi_1" in v0 else None
                traj.notes.append(f"q converged to float64 precision at layer {l + 1}: from there on the maps' "
                                  f"coefficients at q* were evaluated once and reused")
        c_new = theta_new = None
        if cv is not None:
            if c_frozen:
                c_new = cv
                with np.errstate(over="ignore", invalid="ignore"):
                    theta_new = None if theta is None or theta_ab is None else theta_ab[0] * theta + theta_ab[1]
            else:
                point = dict(base, q11=qv, q22=qv, q12=cv * qv, **({"Theta": theta} if theta is not None else {}))
                names = ["cov_map"] + (["ntk_map"] if theta is not None and "ntk_map" in defined else [])
                vals2 = _pair_np(f, names, point, shape)
                with np.errstate(all="ignore"):
                    c_new = np.where(cv == 1, 1.0, np.minimum(np.asarray(vals2["cov_map"], float) / q_new, 1.0))
                theta_new = np.asarray(vals2["ntk_map"], float) if "ntk_map" in vals2 else None
                if frozen is not None and np.all(np.abs(c_new - cv) <= tiny):
                    c_frozen = True
                    if theta is not None and "ntk_map" in defined:
                        p = dict(base, q11=q_new, q22=q_new, q12=c_new * q_new)
                        t0 = np.asarray(_pair_np(f, ["ntk_map"], dict(p, Theta=np.zeros(shape)), shape)["ntk_map"])
                        t1 = np.asarray(_pair_np(f, ["ntk_map"], dict(p, Theta=np.ones(shape)), shape)["ntk_map"])
                        theta_ab = (t1 - t0, t0)
                    traj.notes.append(f"c converged to float64 precision at layer {l + 1}: reused from there on")
        if _keep(l, layers, every):
            row = {"l": l, "q": out(qv), "chi_1": None if chi1 is None else out(np.broadcast_to(chi1, shape))}
            for n in ("metric", "Hsq", "trHsq", "Rbar"):
                row[n] = out(state[n]) if (l == 0 or n in state_names) else None
            if cv is not None:
                row["c"] = out(cv)
                row["d"] = out(2 * qv * (1 - cv))
            if ntk:
                row["Theta"] = out(theta) if theta is not None else None
            traj.rows.append(row)
        if l == layers:
            break
        qv = q_new
        state = {n: new[n] for n in state_names}
        if cv is not None:
            cv = c_new
            theta = theta_new if ntk else None
    if any(not np.all(np.isfinite(np.asarray(r[n], float))) for r in traj.rows for n in traj.columns[1:]
           if r.get(n) is not None):
        traj.notes.append("some values overflow float64 (shown as null in JSON): use dps for them")
    return traj
