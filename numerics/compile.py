r"""``compile_laws(laws)``: numeric callables from derived laws, both back ends.

Every registered law (:data:`neurodyn.theory.laws.LAWS`) becomes a method of
:class:`CompiledLaws`, ``f.NAME(*variables, sigma_w2, sigma_b2=0, *at, dps=None)``
(``f.q_map(q, sigma_w2, sigma_b2)``, ``f.c_map(c, sigma_w2, sigma_b2, q_star)``):

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

A :class:`CompiledLaws` pickles (its numeric callables are rebuilt from the laws):

>>> import pickle
>>> pickle.loads(pickle.dumps(f)).chi_1(0.5, 2.25)
1.3329580...
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import mpmath
import numpy as np
import sympy

from neurodyn.theory.checks import NUMPY_FUNCTIONS
from neurodyn.theory.errors import NotDefinedError
from neurodyn.theory.expectation import BivariateGaussianExpectation, GaussianExpectation
from neurodyn.theory.laws import LAWS, Laws
from neurodyn.theory.parse import parse_number
from neurodyn.theory.symbols import Theta, c, d, q, q11, q12, q22, q_star, sigma_b2, sigma_w2

from .quadrature import GUARD_DIGITS, IntegrandBundle, expect_mp, expect_np
from .quadrature2d import BivariateBundle, expect2_mp, expect2_np
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


#: The symbols a law may depend on, by the names used in ``evaluate``'s point (a registered
#: law with other symbols adds them, by name, for its compiled laws).
ARGUMENTS = {s.name: s for s in (q, q_star, c, q11, q12, q22, d, Theta, sigma_w2, sigma_b2)}
_ARG_SYMBOLS = tuple(ARGUMENTS.values())


@dataclass
class _Group:
    """Expectations that share one quadrature sweep (same covariance expressions)."""

    key: tuple                      # (variance,) or (v11, v12, v22)
    nodes: list
    bundle: object = None
    mp_cov: object = None
    np_cov: object = None


@dataclass
class _CompiledLaw:
    name: str
    expr: sympy.Expr
    needs: tuple            # argument names the law depends on
    nodes: tuple            # expectation nodes it holds
    mp_outer: object
    np_outer: object
    mp_grad: object         # d outer / d node value (for error propagation)


def _key(node):
    if isinstance(node, GaussianExpectation):
        return (node.variance,)
    return (node.v11, node.v12, node.v22)


class CompiledLaws:
    """Numeric callables for every defined law of a :class:`~neurodyn.theory.laws.Laws`."""

    def __init__(self, laws: Laws):
        self.laws = laws
        self.activation = laws.activation
        self._build()

    def __getstate__(self):
        return {"laws": self.laws}          # the numeric callables are rebuilt on unpickling

    def __setstate__(self, state):
        self.laws = state["laws"]
        self.activation = self.laws.activation       # the callables are built on first use

    def _build(self):
        laws = self.laws
        # the standard arguments, then any other symbol a registered law depends on
        extra = {s for law in laws if law.defined for s in law.expr.free_symbols if s.name not in ARGUMENTS}
        self._args = _ARG_SYMBOLS + tuple(sorted(extra, key=lambda s: s.name))
        groups: dict = {}
        for law in laws:
            if not law.defined:
                continue
            atoms = law.expr.atoms(GaussianExpectation, BivariateGaussianExpectation)
            for node in sorted(atoms, key=sympy.default_sort_key):
                group = groups.setdefault(_key(node), _Group(_key(node), []))
                if node not in group.nodes:
                    group.nodes.append(node)
        for group in groups.values():
            if len(group.key) == 1:
                group.bundle = IntegrandBundle([n.integrand for n in group.nodes])
            else:
                group.bundle = BivariateBundle([(n.f, n.g) for n in group.nodes])
            # lambdify sees engine-built expressions only (never user text)
            group.mp_cov = sympy.lambdify(self._args, list(group.key), "mpmath")
            group.np_cov = sympy.lambdify(self._args, list(group.key), [NUMPY_FUNCTIONS, "numpy"])
        self._groups = list(groups.values())
        self._laws = {}
        for law in laws:
            if not law.defined:
                continue
            mine = tuple(n for g in self._groups for n in g.nodes if law.expr.has(n))
            holders = [sympy.Dummy(f"E{i}") for i in range(len(mine))]
            outer = law.expr.xreplace(dict(zip(mine, holders)))
            args = (*self._args, *holders)
            needs = {s.name for s in law.expr.free_symbols if s in self._args}
            mp_outer = sympy.lambdify(args, outer, "mpmath")
            np_outer = sympy.lambdify(args, outer, [NUMPY_FUNCTIONS, "numpy"])
            grad = sympy.lambdify(args, [sympy.diff(outer, h) for h in holders], "mpmath") if holders else None
            self._laws[law.name] = _CompiledLaw(law.name, law.expr, tuple(sorted(needs)), mine,
                                                mp_outer, np_outer, grad)

    # ----------------------------------------------------------------------------
    def names(self):
        return tuple(self._laws)

    def needs(self, name) -> tuple:
        """The arguments (names) the law ``name`` depends on."""
        return self._law(name).needs

    def _law(self, name) -> _CompiledLaw:
        if name in self._laws:
            return self._laws[name]
        law = self.laws[name]
        raise NotDefinedError(f"{name} is not defined for {self.activation.name}: {law.note}")

    def evaluate(self, names, q_value, sigma_w2, sigma_b2, dps: int | None = None):
        """Single-input laws at ``q`` (one quadrature sweep): dict name -> Estimate or ndarray."""
        return self.evaluate_at(names, dict(q=q_value, sigma_w2=sigma_w2, sigma_b2=sigma_b2), dps)

    def evaluate_at(self, names, point: dict, dps: int | None = None):
        """Laws at a point given by argument name (``q``, ``q_star``, ``c``, ``q11``, ...).

        With ``dps`` each value is an :class:`Estimate`; without, float64 (arrays broadcast).
        """
        known = [s.name for s in self._args]
        unknown = set(point) - set(known)
        if unknown:
            raise ValueError(f"unknown argument(s) {', '.join(sorted(unknown))}; known: {', '.join(known)}")
        compiled = [self._law(n) for n in names]
        for c_ in compiled:
            missing = [a for a in c_.needs if point.get(a) is None]
            if missing:
                raise ValueError(f"{c_.name} needs {', '.join(missing)}")
        check_variances(point.get("sigma_w2", 1), point.get("sigma_b2", 0))
        if dps is None:
            return self._evaluate_np(compiled, point)
        return self._evaluate_mp(compiled, point, check_dps(dps))

    def _needed_groups(self, compiled):
        wanted = {n for c_ in compiled for n in c_.nodes}
        return [g for g in self._groups if any(n in wanted for n in g.nodes)]

    def _evaluate_mp(self, compiled, point, dps):
        out = {}
        with mpmath.workdps(dps + GUARD_DIGITS):
            args = [to_mpf(point[s.name]) if point.get(s.name) is not None else mpmath.mpf(0)
                    for s in self._args]
            values, errors = {}, {}
            for group in self._needed_groups(compiled):
                cov = group.mp_cov(*args)
                if len(cov) == 1:
                    if cov[0] < 0:
                        raise ValueError(f"variance must be >= 0, got {mpmath.nstr(cov[0], 8)}")
                    vals, errs = expect_mp(group.bundle, cov[0], dps)
                else:
                    vals, errs = expect2_mp(group.bundle, *cov, dps)
                for n, val, err in zip(group.nodes, vals, errs):
                    values[n], errors[n] = val, err
            for c_ in compiled:
                ev = [values[n] for n in c_.nodes]
                val = c_.mp_outer(*args, *ev)
                if c_.nodes:
                    grads = c_.mp_grad(*args, *ev)
                    err = sum(abs(g) * errors[n] for g, n in zip(grads, c_.nodes))
                else:
                    with mpmath.workdps(dps + 2 * GUARD_DIGITS):
                        args2 = [to_mpf(point[s.name]) if point.get(s.name) is not None else mpmath.mpf(0)
                                 for s in self._args]
                        val2 = c_.mp_outer(*args2)
                    err = abs(val2 - val)
                err += abs(val) * mpmath.mpf(10) ** (-(dps + GUARD_DIGITS - 1))
                out[c_.name] = Estimate(+val, +err, dps)
        return out

    def _evaluate_np(self, compiled, point):
        arrays = {k: np.asarray(float(to_mpf(v)) if isinstance(v, (str, mpmath.mpf)) else v, dtype=float)
                  for k, v in point.items() if v is not None}
        shape = np.broadcast(*arrays.values()).shape if arrays else ()
        args = [arrays.get(s.name, np.zeros(())) for s in self._args]
        values = {}
        for group in self._needed_groups(compiled):
            with np.errstate(all="ignore"):
                cov = [np.asarray(v, dtype=float) for v in group.np_cov(*args)]
            if len(cov) == 1:
                if np.any(cov[0] < 0):
                    raise ValueError("variance must be >= 0")
                vals = expect_np(group.bundle, cov[0])[0]
            else:
                vals = expect2_np(group.bundle, *cov)[0]
            for n, val in zip(group.nodes, vals):
                values[n] = val
        out = {}
        for c_ in compiled:
            with np.errstate(all="ignore"):
                res = c_.np_outer(*args, *[values[n] for n in c_.nodes])
            res = np.broadcast_to(np.asarray(res, dtype=float), shape)
            out[c_.name] = res.copy() if shape else float(res)
        return out

    # ----------------------------------------------------------------------------
    def __getattr__(self, name):
        if name in _BUILT and "laws" in self.__dict__:      # unpickled: build the callables now
            self._build()
            return self.__dict__[name]
        if name.startswith("_") or name not in LAWS:
            raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")
        return self.method(name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(LAWS))

    def method(self, name: str):
        """The law ``name`` as a function ``(*variables, sigma_w2, sigma_b2=0, *at, dps=None)``.

        Every law has the same defaults: ``sigma_b2 = 0``; the point ``at``
        (e.g. ``q_star``) must be given.

        The variables and the point ``at`` are the law's, as registered
        (:class:`~neurodyn.theory.laws.LawSpec`); ``f.method("c_map")`` is ``f.c_map``.
        A correlation ``c`` must lie in [-1, 1].
        """
        spec = LAWS[name]
        order = (*spec.variables, "sigma_w2", "sigma_b2", *spec.at)
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        defaults = {"sigma_b2": 0, **{a: None for a in spec.at}}     # a missing point is an error below
        signature = inspect.Signature(
            [inspect.Parameter(a, kind, default=defaults.get(a, inspect.Parameter.empty)) for a in order]
            + [inspect.Parameter("dps", inspect.Parameter.KEYWORD_ONLY, default=None)])

        def law_method(*args, dps=None, **kwargs):
            bound = signature.bind(*args, dps=dps, **kwargs)
            bound.apply_defaults()
            point = dict(bound.arguments)
            dps = point.pop("dps")
            if "c" in point:
                _check_correlation(point["c"])
            return self.evaluate_at([name], point, dps)[name]

        law_method.__name__ = name
        law_method.__signature__ = signature
        law_method.__doc__ = f"{spec.notation.text}: {spec.title} (see neurodyn.theory.laws)."
        return law_method


#: The attributes that :meth:`CompiledLaws._build` makes.
_BUILT = ("_args", "_groups", "_laws")


def _check_correlation(c_value):
    arr = np.asarray(float(to_mpf(c_value)) if isinstance(c_value, (str, mpmath.mpf)) else c_value, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(np.abs(arr) > 1):
        raise ValueError(f"the correlation c must lie in [-1, 1], got {c_value}")


def compile_laws(laws: Laws) -> CompiledLaws:
    """Numeric callables (mpmath at any dps; numpy float64) for ``laws``."""
    return CompiledLaws(laws)
