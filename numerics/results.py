"""Result types: every number carries its error estimate (docs/theory.md §4 conventions).

An :class:`Estimate` prints only the digits its error supports (at most
``dps``), and the error it reports in JSON covers the printed value: the
internal error estimate plus the rounding of the printed digits, rounded up.
``str(estimate)`` (or ``f"{estimate}"``) is the documented way to print one;
``estimate.value`` is an mpf for arithmetic, which also prints its ``dps``
digits (not mpmath's global 15).

>>> import mpmath
>>> with mpmath.workdps(40):
...     e = Estimate(mpmath.mpf(2) / 3, mpmath.mpf("1e-32"), 30)
>>> str(e)
'0.666666666666666666666666666667'
>>> e.to_json()
{'value': '0.666666666666666666666666666667', 'error': '3.5e-31'}
>>> print(e.value)
0.666666666666666666666666666667
>>> str(Estimate(mpmath.mpf("0.123456789"), mpmath.mpf("1e-4"), 30))
'0.1235'
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mpmath

from neurodyn.theory.errors import NeurodynError

__all__ = ["Estimate", "FixedPoint", "format_number", "ParameterError", "printed"]


class ParameterError(NeurodynError, ValueError):
    """A numeric argument is out of its domain (a grid, a variance, a precision)."""


def format_number(value, dps: int) -> str:
    """``value`` as a decimal string with ``dps`` significant digits (exact zero as ``0``)."""
    if value == 0:
        return "0"
    if value == mpmath.inf:
        return "inf"
    with mpmath.workdps(dps + 5):
        return mpmath.nstr(mpmath.mpf(value), dps, strip_zeros=False, min_fixed=-6, max_fixed=dps + 1)


def _round_up(err, digits=2) -> str:
    """``err`` with ``digits`` significant digits, rounded up (so the text still covers ``err``)."""
    if err == 0:
        return "0"
    with mpmath.workdps(30):
        k = int(mpmath.floor(mpmath.log10(err))) - (digits - 1)
        unit = mpmath.mpf(10) ** k
        m = int(mpmath.ceil(err / unit * (1 - mpmath.mpf(10) ** -20)))
        if m >= 10 ** digits:
            m, k = m // 10 + (m % 10 > 0), k + 1
        text = mpmath.nstr(mpmath.mpf(m) * mpmath.mpf(10) ** k, digits, min_fixed=1, max_fixed=0)
        if mpmath.mpf(text) < err:       # nstr's own rounding: step up one unit
            text = mpmath.nstr((m + 1) * mpmath.mpf(10) ** k, digits, min_fixed=1, max_fixed=0)
        return text


def printed(value, error, dps: int):
    """``(text, error of text)``: ``value`` with the significant digits ``error`` supports (at most
    ``dps``) and an error that covers ``|text - true value|`` (``error`` plus the rounding)."""
    if value == mpmath.inf:
        return "inf", mpmath.mpf(error)
    with mpmath.workdps(dps + 20):
        value, error = mpmath.mpf(value), abs(mpmath.mpf(error))
        if value == 0:
            return "0", error
        if error >= abs(value):
            return "0", error + abs(value)      # not even the sign is supported
        digits = dps
        if error > 0:
            lead = int(mpmath.floor(mpmath.log10(abs(value))))
            digits = max(1, min(dps, lead - int(mpmath.floor(mpmath.log10(error))) + 1))
        text = format_number(value, digits)
        return text, error + abs(mpmath.mpf(text) - value)


class _Digits(mpmath.mpf):
    """An mpf that prints with its own number of digits (arithmetic gives plain mpf)."""

    def __str__(self):
        return format_number(self, self.digits)


def _as_digits(value, dps: int):
    if not isinstance(value, mpmath.mpf):
        return value
    out = mpmath.mpf.__new__(_Digits)
    out._mpf_ = value._mpf_
    out.digits = dps
    return out


@dataclass(frozen=True)
class Estimate:
    """``value`` with an absolute error estimate ``error``, computed for ``dps`` digits.

    ``str()`` prints the digits the error supports; ``to_json()`` gives that text
    with an error that covers it (internal error plus rounding, rounded up).
    """

    value: mpmath.mpf
    error: mpmath.mpf
    dps: int

    def __post_init__(self):
        object.__setattr__(self, "value", _as_digits(self.value, self.dps))

    def printed(self):
        """``(text, error of text)``; see :func:`printed`."""
        return printed(self.value, self.error, self.dps)

    def __str__(self) -> str:
        return self.printed()[0]

    def __format__(self, spec) -> str:
        return format(str(self), spec)

    def __repr__(self) -> str:
        return f"Estimate({self}, error={mpmath.nstr(self.error, 2)}, dps={self.dps})"

    def __float__(self) -> float:
        return float(self.value)

    def to_json(self) -> dict:
        text, err = self.printed()
        return {"value": text, "error": _round_up(err)}


@dataclass(frozen=True)
class FixedPoint:
    """The fixed point ``q*`` of the q-map with the quantities evaluated there.

    ``value``/``error`` are ``q*``; ``slope`` is ``chi_par = V'(q*)``;
    ``stable`` is ``|V'(q*)| < 1``; ``attractors`` lists every stable fixed point
    found (more than one: the answer depends on the start ``q0``, see ``notes``). ``chi_1``, ``chi_2`` and ``xi_q`` are
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
    attractors: tuple = ()      # every stable q* found in (0, 1e6) (Estimates), this one included

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
        if self.attractors:
            out["stable_q_stars"] = [a.to_json() for a in self.attractors]
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
