"""Result types: every number carries its error (DESIGN section 4).

>>> import mpmath
>>> with mpmath.workdps(40):
...     e = Estimate(mpmath.mpf(2) / 3, mpmath.mpf("1e-32"), 30)
>>> str(e)
'0.666666666666666666666666666667'
>>> e.to_json()
{'value': '0.666666666666666666666666666667', 'error': '1.0e-32'}
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mpmath

__all__ = ["Estimate", "FixedPoint", "format_number"]


def format_number(value, dps: int) -> str:
    """``value`` as a decimal string with ``dps`` significant digits (exact zero as ``0``)."""
    if value == 0:
        return "0"
    if value == mpmath.inf:
        return "inf"
    with mpmath.workdps(dps + 5):
        return mpmath.nstr(mpmath.mpf(value), dps, strip_zeros=False, min_fixed=-6, max_fixed=dps + 1)


@dataclass(frozen=True)
class Estimate:
    """``value`` with an absolute error bound ``error``, computed for ``dps`` digits."""

    value: mpmath.mpf
    error: mpmath.mpf
    dps: int

    def __str__(self) -> str:
        return format_number(self.value, self.dps)

    def __repr__(self) -> str:
        return f"Estimate({self}, error={mpmath.nstr(self.error, 2)}, dps={self.dps})"

    def __float__(self) -> float:
        return float(self.value)

    def to_json(self) -> dict:
        err = "0" if self.error == 0 else mpmath.nstr(self.error, 2, min_fixed=1, max_fixed=0)
        return {"value": str(self), "error": err}


@dataclass(frozen=True)
class FixedPoint:
    """The fixed point ``q*`` of the q-map with the quantities evaluated there.

    ``value``/``error`` are ``q*``; ``slope`` is ``chi_par = V'(q*)``;
    ``stable`` is ``|V'(q*)| < 1``. ``chi_1``, ``chi_2`` and ``xi_q`` are
    :class:`Estimate` (``None`` where undefined, with the reason in ``notes``).
    """

    value: mpmath.mpf
    error: mpmath.mpf
    slope: Estimate
    stable: bool
    iterations: int
    dps: int
    method: str
    marginal: bool = False
    activation: str = ""
    sigma_w2: str = ""
    sigma_b2: str = ""
    chi_1: Estimate | None = None
    chi_2: Estimate | None = None
    xi_q: Estimate | None = None
    c_star: Estimate | None = None
    chi_c_star: Estimate | None = None
    xi_c: Estimate | None = None
    phase: str | None = None
    notes: dict = field(default_factory=dict)

    @property
    def q_star(self) -> Estimate:
        return Estimate(self.value, self.error, self.dps)

    @property
    def chi_par(self) -> Estimate:
        return self.slope

    def to_json(self) -> dict:
        def num(e):
            return None if e is None else e.to_json()

        out = {
            "activation": self.activation,
            "sigma_w2": {"value": self.sigma_w2, "error": "0"},
            "sigma_b2": {"value": self.sigma_b2, "error": "0"},
            "dps": self.dps,
            "q_star": num(self.q_star),
            "chi_1": num(self.chi_1),
            "chi_2": num(self.chi_2),
            "chi_par": num(self.slope),
            "xi_q": num(self.xi_q),
            "stable": self.stable,
            "marginal": self.marginal,
            "iterations": self.iterations,
            "method": self.method,
        }
        if self.phase is not None:
            out.update({"c_star": num(self.c_star), "chi_c_star": num(self.chi_c_star),
                        "xi_c": num(self.xi_c), "phase": self.phase})
        for key, why in self.notes.items():
            out[f"{key}_note"] = why
        return out

    def __str__(self) -> str:
        rows = [f"q_star  = {self.q_star}  (+- {self.q_star.to_json()['error']})"]
        for name in ("chi_1", "chi_2", "chi_par", "xi_q"):
            val = getattr(self, name)
            rows.append(f"{name:7s} = {val}" if val is not None else f"{name:7s} = undefined ({self.notes.get(name, '')})")
        rows.append(f"stable  = {self.stable}")
        if self.phase is not None:
            for name in ("c_star", "chi_c_star", "xi_c"):
                val = getattr(self, name)
                rows.append(f"{name:7s} = {val}" if val is not None
                            else f"{name:7s} = undefined ({self.notes.get(name, '')})")
            rows.append(f"phase   = {self.phase}")
        return "\n".join(rows)
