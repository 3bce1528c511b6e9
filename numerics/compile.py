r"""``compile_laws(laws)``: numeric callables from derived laws, both back ends.

Each law ``L(q; sigma_w2, sigma_b2)`` becomes a method of :class:`CompiledLaws`:

* with ``dps=N``: an mpmath evaluation at N digits returning an
  :class:`~neurodyn.numerics.results.Estimate` (value and error bound);
* without ``dps``: float64, vectorized over an array of ``q``.

An unevaluated Gaussian expectation inside a law compiles to its integrand
plus quadrature (:mod:`neurodyn.numerics.quadrature`); all expectations a
call needs are computed in one sweep over the nodes.

>>> from neurodyn.theory import catalog, derive
>>> f = compile_laws(derive(catalog.get("tanh")))
>>> f.q_map("0.7", sigma_w2="2.25", sigma_b2="0.05", dps=25)
Estimate(0.7936672987663635813303468, error=..., dps=25)
>>> f.chi_1([0.5, 1.0], sigma_w2=2.25, sigma_b2=0.05).round(12)
array([1.33295804, 1.04490653])
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import numpy as np
import sympy

from neurodyn.theory.errors import NotDefinedError
from neurodyn.theory.gaussian import GaussianExpectation
from neurodyn.theory.laws import Laws
from neurodyn.theory.parse import parse_number
from neurodyn.theory.symbols import q, sigma_b2, sigma_w2

from .quadrature import GUARD_DIGITS, NUMPY_FUNCTIONS, IntegrandBundle, expect_mp, expect_np
from .results import Estimate

__all__ = ["compile_laws", "CompiledLaws", "to_mpf", "MAX_DPS"]

#: Largest precision accepted (digits).
MAX_DPS = 1000


def to_mpf(value) -> mpmath.mpf:
    """An exact-as-possible mpf at the current precision (decimal strings stay decimal)."""
    if isinstance(value, mpmath.mpf):
        return +value
    if isinstance(value, str):
        r = parse_number(value)
        return mpmath.mpf(r.p) / r.q
    if isinstance(value, sympy.Basic):
        return mpmath.mpf(sympy.N(value, mpmath.mp.dps + 5))
    return mpmath.mpf(value)


def check_dps(dps) -> int:
    """Validate a requested precision (1 to MAX_DPS digits)."""
    if isinstance(dps, bool) or not isinstance(dps, (int, np.integer)):
        raise ValueError(f"dps must be an integer number of digits, got {dps!r}")
    if not 1 <= dps <= MAX_DPS:
        raise ValueError(f"dps must be between 1 and {MAX_DPS}, got {dps}")
    return int(dps)


def check_variances(sw2, sb2):
    """Validate sigma_w2 > 0 and sigma_b2 >= 0 (finite numbers); returns them as given."""
    for name, val, strict in (("sigma_w2", sw2, True), ("sigma_b2", sb2, False)):
        try:
            num = to_mpf(val) if not isinstance(val, np.ndarray) else None
        except (ValueError, TypeError, ArithmeticError):
            raise ValueError(f"{name} must be a number, got {val!r}") from None
        if num is None:
            continue
        if not mpmath.isfinite(num) or num < 0 or (strict and num == 0):
            raise ValueError(f"{name} must be a finite number {'> 0' if strict else '>= 0'}, got {val}")
    return sw2, sb2


@dataclass
class _CompiledLaw:
    name: str
    expr: sympy.Expr
    nodes: tuple            # GaussianExpectation nodes, in bundle order
    mp_outer: object
    np_outer: object
    mp_grad: object         # d outer / d node value (for error propagation)


class CompiledLaws:
    """Numeric callables for every defined law of a :class:`~neurodyn.theory.laws.Laws`."""

    def __init__(self, laws: Laws):
        self.laws = laws
        self.activation = laws.activation
        nodes = []
        for law in laws:
            if law.defined:
                for node in sorted(law.expr.atoms(GaussianExpectation), key=sympy.default_sort_key):
                    if node not in nodes:
                        nodes.append(node)
        for node in nodes:
            if node.variance != q:
                raise NotImplementedError(f"expectation with variance {node.variance} (expected q)")
        self.nodes = tuple(nodes)
        self.bundle = IntegrandBundle([n.integrand for n in nodes]) if nodes else None
        self._laws = {}
        for law in laws:
            if not law.defined:
                continue
            mine = tuple(n for n in nodes if law.expr.has(n))
            holders = [sympy.Dummy(f"E{i}") for i in range(len(mine))]
            outer = law.expr.xreplace(dict(zip(mine, holders)))
            args = (q, sigma_w2, sigma_b2, *holders)
            # lambdify sees engine-built expressions only (never user text)
            mp_outer = sympy.lambdify(args, outer, "mpmath")
            np_outer = sympy.lambdify(args, outer, [NUMPY_FUNCTIONS, "numpy"])
            grad = sympy.lambdify(args, [sympy.diff(outer, h) for h in holders], "mpmath") if holders else None
            self._laws[law.name] = _CompiledLaw(law.name, law.expr, mine, mp_outer, np_outer, grad)

    # ----------------------------------------------------------------------------
    def names(self):
        return tuple(self._laws)

    def _law(self, name) -> _CompiledLaw:
        if name in self._laws:
            return self._laws[name]
        law = self.laws[name]
        raise NotDefinedError(f"{name} is not defined for {self.activation.name}: {law.note}")

    def evaluate(self, names, q_value, sigma_w2, sigma_b2, dps: int | None = None):
        """Several laws at once (one quadrature sweep): dict name -> Estimate or ndarray."""
        check_variances(sigma_w2, sigma_b2)
        compiled = [self._law(n) for n in names]
        if dps is None:
            return self._evaluate_np(compiled, q_value, sigma_w2, sigma_b2)
        return self._evaluate_mp(compiled, q_value, sigma_w2, sigma_b2, check_dps(dps))

    def _evaluate_mp(self, compiled, q_value, sw2, sb2, dps):
        out = {}
        with mpmath.workdps(dps + GUARD_DIGITS):
            qv, w, b = to_mpf(q_value), to_mpf(sw2), to_mpf(sb2)
            if qv < 0:
                raise ValueError(f"q must be >= 0, got {q_value}")
            needed = [n for n in self.nodes if any(n in c.nodes for c in compiled)]
            values, errors = {}, {}
            if needed:
                vals, errs = expect_mp(self.bundle, qv, dps)
                for n, val, err in zip(self.nodes, vals, errs):
                    values[n], errors[n] = val, err
            for c in compiled:
                ev = [values[n] for n in c.nodes]
                val = c.mp_outer(qv, w, b, *ev)
                if c.nodes:
                    grads = c.mp_grad(qv, w, b, *ev)
                    err = sum(abs(g) * errors[n] for g, n in zip(grads, c.nodes))
                else:
                    with mpmath.workdps(dps + 2 * GUARD_DIGITS):
                        val2 = c.mp_outer(to_mpf(q_value), to_mpf(sw2), to_mpf(sb2))
                    err = abs(val2 - val)
                err += abs(val) * mpmath.mpf(10) ** (-(dps + GUARD_DIGITS - 1))
                out[c.name] = Estimate(+val, +err, dps)
        return out

    def _evaluate_np(self, compiled, q_value, sw2, sb2):
        qa = np.asarray(q_value, dtype=float)
        if np.any(qa < 0):
            raise ValueError("q must be >= 0")
        w, b = float(to_mpf(sw2)), float(to_mpf(sb2))
        needed = any(c.nodes for c in compiled)
        vals = expect_np(self.bundle, qa)[0] if needed else None
        index = {n: i for i, n in enumerate(self.nodes)}
        out = {}
        for c in compiled:
            ev = [vals[index[n]] for n in c.nodes]
            with np.errstate(all="ignore"):
                res = c.np_outer(qa, w, b, *ev)
            out[c.name] = np.broadcast_to(np.asarray(res, dtype=float), qa.shape).copy() if qa.ndim else float(res)
        return out

    def _one(self, name, q_value, sigma_w2, sigma_b2, dps):
        return self.evaluate([name], q_value, sigma_w2, sigma_b2, dps)[name]

    def q_map(self, q_value, sigma_w2, sigma_b2, dps=None):
        """V(q) = sigma_w2 E[phi(sqrt(q) z)^2] + sigma_b2."""
        return self._one("q_map", q_value, sigma_w2, sigma_b2, dps)

    def chi_par(self, q_value, sigma_w2, sigma_b2, dps=None):
        """V'(q), the slope of the q-map."""
        return self._one("chi_par", q_value, sigma_w2, sigma_b2, dps)

    def chi_1(self, q_value, sigma_w2, sigma_b2=0, dps=None):
        """chi_1(q) = sigma_w2 E[phi'(sqrt(q) z)^2]."""
        return self._one("chi_1", q_value, sigma_w2, sigma_b2, dps)

    def chi_2(self, q_value, sigma_w2, sigma_b2=0, dps=None):
        """chi_2(q) = sigma_w2 E[phi''(sqrt(q) z)^2]."""
        return self._one("chi_2", q_value, sigma_w2, sigma_b2, dps)


def compile_laws(laws: Laws) -> CompiledLaws:
    """Numeric callables (mpmath at any dps; numpy float64) for ``laws``."""
    return CompiledLaws(laws)
