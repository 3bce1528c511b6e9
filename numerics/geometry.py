r"""The fate of the signal manifold's geometry with depth, at the fixed point (docs/theory.md §§4-6).

:func:`geometry` finds ``q*`` and ``c*`` (:func:`~neurodyn.numerics.fixedpoint.fixed_point`),
decides the phase from ``chi_1`` (``critical`` when ``|chi_1 - 1|`` is within its
error) and evaluates the closed forms of :func:`neurodyn.theory.geometry.fates`
(in ``chi_1``, ``chi_2``, ``q*``, ``m``) with their errors: the input sphere
has squared radius ``q*`` and the lengths are those of a great circle on it.

>>> from neurodyn.theory import catalog, derive
>>> from neurodyn.numerics.compile import compile_laws
>>> geo = geometry(compile_laws(derive(catalog.get("tanh"))), "2.25", "0.05", dps=15)
>>> str(geo.values["Hsq_star"]), geo.fates["metric"]["kind"]
('20.5317188709751', 'exponential')
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mpmath
import sympy

from neurodyn.theory.geometry import fates as closed_fates
from neurodyn.theory.symbols import chi1, chi2, q_star

from .compile import CompiledLaws, check_dps, check_variances
from .fixedpoint import fixed_point
from .quadrature import GUARD_DIGITS
from .results import Estimate, ParameterError

__all__ = ["geometry", "Geometry", "FATE_NAMES"]

#: The quantities whose fate is reported, in order.
FATE_NAMES = ("Hsq", "trHsq", "Rbar", "metric", "length", "grassmann_length", "c", "d")


@dataclass
class Geometry:
    """Fates at the fixed point: ``values`` (name -> Estimate or None), ``fates`` (name -> dict with
    ``kind``, ``text`` and an Estimate under ``value``/``slope``/``rate``, or None), ``notes``."""

    activation: str
    sigma_w2: str
    sigma_b2: str
    dps: int
    dim: int
    phase: str
    values: dict
    fates: dict
    notes: dict = field(default_factory=dict)

    def _fate_json(self, fate):
        if fate is None:
            return None
        return {k: (v.to_json() if isinstance(v, Estimate) else v) for k, v in fate.items()}

    def to_json(self) -> dict:
        out = {"activation": self.activation, "sigma_w2": self.sigma_w2, "sigma_b2": self.sigma_b2,
               "dps": self.dps, "dim": self.dim, "phase": self.phase}
        for name in ("q_star", "chi_1", "chi_2", "c_star", "d_star", "Hsq_star", "trHsq_star"):
            value = self.values.get(name)
            out[name] = None if value is None else value.to_json()
            if value is None:
                out[f"{name}_note"] = self.notes.get(name, "not defined")
        for name in ("Rbar", "metric", "length"):
            out[f"{name}_fate"] = self._fate_json(self.fates.get(name))
        gl = self.fates.get("grassmann_length")
        converges = gl is not None and gl["kind"] == "converges"
        out["grassmann_length_star"] = gl["value"].to_json() if converges else None
        if not converges:
            out["grassmann_length_star_note"] = (self.notes.get("grassmann_length") if gl is None
                                                 else f"does not converge: {gl['text']}")
        for name in ("Hsq", "trHsq", "grassmann_length", "c", "d"):
            out[f"{name}_fate"] = self._fate_json(self.fates.get(name))
        for name in FATE_NAMES:
            if self.fates.get(name) is None:
                out[f"{name}_fate_note"] = self.notes.get(name, "not defined")
        return out

    def __str__(self) -> str:
        lines = [f"{self.activation} at sigma_w2 = {self.sigma_w2}, sigma_b2 = {self.sigma_b2}, dim = {self.dim} "
                 f"({self.dps} digits): {self.phase}"]
        for name in ("q_star", "chi_1", "chi_2", "c_star", "d_star"):
            v = self.values.get(name)
            lines.append(f"{name:17s} = {v}" if v is not None else f"{name:17s} = undefined ({self.notes.get(name)})")
        for name in FATE_NAMES:
            fate = self.fates.get(name)
            if fate is None:
                lines.append(f"{name:17s}: undefined ({self.notes.get(name)})")
                continue
            key = {"converges": "value", "linear": "slope", "exponential": "rate"}[fate["kind"]]
            extra = f", prefactor {fate['prefactor']}" if fate.get("prefactor") is not None else ""
            lines.append(f"{name:17s}: {fate['text']}; {key} {fate[key]}{extra}")
        return "\n".join(lines)


def _evaluate(expr, known: dict, dps):
    """``expr`` (SymPy, in chi1, chi2, q_star) at Estimates, error carried by the exact partial derivatives."""
    expr = sympy.sympify(expr)
    symbols = sorted(expr.free_symbols, key=lambda s: s.name)
    for s in symbols:
        if known.get(s) is None:
            return None
    with mpmath.workdps(dps + 2 * GUARD_DIGITS):
        args = [known[s].value for s in symbols]
        value = sympy.lambdify(symbols, expr, "mpmath")(*args)
        error = abs(value) * mpmath.mpf(10) ** (-(dps + GUARD_DIGITS))
        for s in symbols:
            partial = sympy.lambdify(symbols, sympy.diff(expr, s), "mpmath")(*args)
            error += abs(partial) * known[s].error
        return Estimate(+mpmath.mpf(value), +error, dps)


def geometry(f: CompiledLaws, sigma_w2, sigma_b2, *, dim: int = 1, dps: int = 30) -> Geometry:
    """The fate of each geometric quantity at the fixed point, in closed form, to ``dps`` digits.

    ``values``: ``q_star``, ``chi_1``, ``chi_2``, ``c_star``, ``d_star``, ``Hsq_star``,
    ``trHsq_star`` (None where not defined or not converging, with a note);
    ``fates``: for ``Hsq``, ``trHsq``, ``Rbar``, ``metric``, ``length`` (Euclidean length of
    a great circle per sqrt(N)), ``grassmann_length`` (its Grassmannian length), ``c``, ``d``.
    """
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ParameterError(f"dim must be an integer >= 1, got {dim!r}")
    dps = check_dps(dps)
    check_variances(sigma_w2, sigma_b2)
    fp = fixed_point(f, sigma_w2, sigma_b2, dps=dps, two_input=True)
    notes = {k: v for k, v in fp.notes.items()}
    values = {"q_star": fp.q_star, "chi_1": fp.chi_1, "chi_2": fp.chi_2, "c_star": fp.c_star}
    if fp.chi_1 is None:
        raise ParameterError(f"chi_1 is not defined for {f.activation.name}: {notes.get('chi_1')}")
    with mpmath.workdps(dps + 2 * GUARD_DIGITS):
        gap = fp.chi_1.value - 1
        unresolved = fp.chi_1.error + mpmath.mpf(10) ** (-dps)
        phase = "critical" if abs(gap) <= unresolved else ("chaotic" if gap > 0 else "ordered")
    if phase == "critical":
        notes["phase"] = (f"|chi_1 - 1| = {mpmath.nstr(abs(gap), 3)} is not resolved from 0 at {dps} digits "
                          f"(error of chi_1 plus 1e-{dps}): the fates at chi_1 = 1 are given")
    known = {chi1: fp.chi_1, chi2: fp.chi_2, q_star: fp.q_star}
    fates = {}
    for name, fate in closed_fates(phase, dim).items():
        number = _evaluate(fate.number, known, dps)
        if fp.chi_2 is None and name in ("Hsq", "trHsq", "grassmann_length"):
            number = None        # chi_2 is infinite: the curvature is infinite after one layer
        if number is None:
            fates[name] = None
            notes[name] = (f"infinite after one layer: chi_2 is not defined ({notes.get('chi_2', '')})")
            continue
        entry = {"kind": fate.kind, fate.key: number, "text": fate.text}
        if fate.prefactor is not None:
            entry["prefactor"] = _evaluate(fate.prefactor, known, dps)
        if fate.of is not None:
            entry["of"] = fate.of
        fates[name] = entry
    for name in ("Hsq", "trHsq"):
        fate = fates.get(name)
        values[f"{name}_star"] = fate["value"] if fate is not None and fate["kind"] == "converges" else None
        if values[f"{name}_star"] is None:
            notes[f"{name}_star"] = notes.get(name) if fate is None else f"does not converge: {fate['text']}"
    # two inputs
    c_star = fp.c_star
    if phase != "chaotic":
        c_star = values["c_star"] = Estimate(mpmath.mpf(1), mpmath.mpf(0), dps)   # c* = 1 (stable or marginal)
        notes.pop("c_star", None)
    if c_star is None:
        notes.setdefault("c_star", notes.get("c_star", "c* was not found"))
        values["d_star"] = None
        notes["d_star"] = "needs c*"
        fates["c"] = fates["d"] = None
        notes["c"] = notes["d"] = notes["c_star"]
    else:
        with mpmath.workdps(dps + 2 * GUARD_DIGITS):
            d = 2 * fp.q_star.value * (1 - c_star.value)
            d_err = 2 * abs(1 - c_star.value) * fp.q_star.error + 2 * fp.q_star.value * c_star.error
            values["d_star"] = Estimate(d, d_err, dps)
        if phase == "chaotic":
            fates["c"] = {"kind": "converges", "value": c_star, "text": "every pair with c0 < 1 converges to c*"}
            fates["d"] = {"kind": "converges", "value": values["d_star"],
                          "text": "distances converge to d* = 2 q* (1 - c*): equally spaced points"}
        elif phase == "ordered":
            fates["c"] = {"kind": "converges", "value": c_star, "text": "correlations converge to 1 "
                          "(1 - c shrinks like chi_1^l)"}
            fates["d"] = {"kind": "exponential", "rate": fp.chi_1, "text": "distances shrink like chi_1^l"}
        else:
            fates["c"] = {"kind": "converges", "value": c_star, "text": "converges to 1 algebraically "
                          "(1 - c ~ 2/(q* chi_2 l) for smooth phi, docs/theory.md §7.3)"}
            fates["d"] = {"kind": "converges", "value": values["d_star"], "text": "distances shrink to 0 "
                          "algebraically (d ~ 4/(chi_2 l) for smooth phi)"}
    return Geometry(f.activation.name, str(sigma_w2), str(sigma_b2), dps, dim, phase, values, fates, notes)
