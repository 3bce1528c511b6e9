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

import hashlib
import re
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import mpmath
import numpy as np

from neurodyn.theory.errors import NotDefinedError

from . import codegen
from .quadrature import GUARD_DIGITS, IntegrandBundle, StoredBundle, expect_mp, expect_np
from .results import Estimate

__all__ = ["compile_laws", "CompiledLaws", "to_mpf", "MAX_DPS", "load_stored", "store_program", "PROGRAM_FORMAT",
           "program_checks"]

#: Largest precision accepted (digits).
MAX_DPS = 1000

_DECIMAL = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def to_mpf(value) -> mpmath.mpf:
    """An exact-as-possible mpf at the current precision (decimal strings stay decimal)."""
    if isinstance(value, mpmath.mpf):
        return +value
    if isinstance(value, str):
        if _DECIMAL.fullmatch(value):            # the same p/q as parse_number, without SymPy
            r = Fraction(value.strip())
            return mpmath.mpf(r.numerator) / r.denominator
        from neurodyn.theory.parse import parse_number
        r = parse_number(value)
        return mpmath.mpf(r.p) / r.q
    sympy = sys.modules.get("sympy")            # a SymPy number exists only if SymPy is loaded
    if sympy is not None and isinstance(value, sympy.Basic):
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


#: The names of the symbols a law may depend on, in the order of the compiled functions'
#: arguments (a registered law with other symbols adds them, by name, for its compiled laws).
ARGUMENT_NAMES = ("q", "q_star", "c", "q11", "q12", "q22", "d", "Theta", "sigma_w2", "sigma_b2")

#: The version of the stored programs (see :func:`store_program`).
PROGRAM_FORMAT = 1


def _arguments() -> dict:
    from neurodyn.theory import symbols
    return {name: getattr(symbols, name) for name in ARGUMENT_NAMES}


@dataclass
class _Group:
    """Expectations that share one quadrature sweep (same covariance expressions)."""

    size: int                       # 1 (a variance) or 3 (v11, v12, v22)
    bundle: object
    mp_cov: object
    np_cov: object


@dataclass
class _CompiledLaw:
    name: str
    needs: tuple            # argument names the law depends on
    nodes: tuple            # (group index, position in the group) of the expectations it holds
    mp_outer: object
    np_outer: object
    mp_grad: object         # d outer / d node value (for error propagation)


def _lambdify(args, exprs, backend):
    from neurodyn.theory.checks import NUMPY_FUNCTIONS
    modules = "mpmath" if backend == "mpmath" else [NUMPY_FUNCTIONS, "numpy"]
    # lambdify sees engine-built expressions only (never user text)
    return codegen.generate(args, exprs, modules)


class _Deferred:
    """A stored function, loaded (its source compiled) on its first call."""

    __slots__ = ("code", "fn")

    def __init__(self, code: dict):
        self.code, self.fn = code, None

    def __call__(self, *args):
        if self.fn is None:
            self.fn = codegen.load(self.code)
        return self.fn(*args)


class _CatalogueActivation:
    """A catalogue activation known by its name; the SymPy object is built on first other use."""

    def __init__(self, name: str):
        self.name = name

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        if "_real" not in self.__dict__:
            from neurodyn.theory import catalog
            self._real = catalog.get(self.name)
        return getattr(self._real, attr)

    def __repr__(self):
        return f"<catalogue activation {self.name}>"


class CompiledLaws:
    """Numeric callables for every defined law of a :class:`~neurodyn.theory.laws.Laws`.

    Built from SymPy (``compile_laws(laws)``), or for a catalogue activation from its
    stored program (:func:`load_stored`), which needs no SymPy: the laws the program
    does not hold (two-input ones) are compiled from the derived laws on first use.
    """

    def __init__(self, laws):
        self.laws = laws
        self.activation = laws.activation
        self._build()

    def __getstate__(self):
        return {"laws": self.laws}          # the numeric callables are rebuilt on unpickling

    def __setstate__(self, state):
        self.laws = state["laws"]
        self.activation = self.laws.activation       # the callables are built on first use

    def _build(self):
        import sympy
        from neurodyn.theory.expectation import BivariateGaussianExpectation, GaussianExpectation
        from .quadrature2d import BivariateBundle

        laws = self.laws
        standard = _arguments()
        # the standard arguments, then any other symbol a registered law depends on
        extra = {s for law in laws if law.defined for s in law.expr.free_symbols if s.name not in standard}
        self._args = tuple(standard.values()) + tuple(sorted(extra, key=lambda s: s.name))
        keys: dict = {}                                   # covariance expressions -> expectation nodes
        for law in laws:
            if not law.defined:
                continue
            atoms = law.expr.atoms(GaussianExpectation, BivariateGaussianExpectation)
            for node in sorted(atoms, key=sympy.default_sort_key):
                key = (node.variance,) if isinstance(node, GaussianExpectation) else (node.v11, node.v12, node.v22)
                nodes = keys.setdefault(key, [])
                if node not in nodes:
                    nodes.append(node)
        self._groups, self._code, where = [], {"groups": [], "laws": {}}, {}
        for index, (key, nodes) in enumerate(keys.items()):
            if len(key) == 1:
                bundle = IntegrandBundle([n.integrand for n in nodes])
            else:
                bundle = BivariateBundle([(n.f, n.g) for n in nodes])
            mp_cov, mp_code = _lambdify(self._args, list(key), "mpmath")
            np_cov, np_code = _lambdify(self._args, list(key), "numpy")
            self._groups.append(_Group(len(key), bundle, mp_cov, np_cov))
            self._code["groups"].append({"size": len(key), "mp_cov": mp_code, "np_cov": np_code})
            where.update({node: (index, i) for i, node in enumerate(nodes)})
        self._laws = {}
        for law in laws:
            if not law.defined:
                continue
            mine = tuple(node for node in where if law.expr.has(node))
            holders = [sympy.Symbol(f"expectation_{i}") for i in range(len(mine))]
            outer = law.expr.xreplace(dict(zip(mine, holders)))
            args = (*self._args, *holders)
            needs = tuple(sorted({s.name for s in law.expr.free_symbols if s in self._args}))
            mp_outer, mp_code = _lambdify(args, outer, "mpmath")
            np_outer, np_code = _lambdify(args, outer, "numpy")
            grad, grad_code = (_lambdify(args, [sympy.diff(outer, h) for h in holders], "mpmath")
                               if holders else (None, None))
            nodes = tuple(where[n] for n in mine)
            self._laws[law.name] = _CompiledLaw(law.name, needs, nodes, mp_outer, np_outer, grad)
            if mp_code and np_code and (grad_code or not holders):
                variables, at, doc = self._spec(law.name)
                self._code["laws"][law.name] = {"needs": list(needs), "nodes": [list(n) for n in nodes],
                                                "mp_outer": mp_code, "np_outer": np_code, "mp_grad": grad_code,
                                                "variables": list(variables), "at": list(at), "doc": doc}

    def program(self) -> dict:
        """The compiled laws as data (generated source), for :func:`load_stored`.

        Holds every law whose expectations are one-input with dyadic kinks (two-input
        laws are compiled from SymPy on first use); ``defined`` lists all defined laws.
        """
        if "_code" not in self.__dict__:
            self._build()
        groups = []
        for group, code in zip(self._groups, self._code["groups"]):
            spec = group.bundle.spec() if group.size == 1 and code["mp_cov"] and code["np_cov"] else None
            groups.append(None if spec is None else dict(code, bundle=spec))
        kept = {name: law for name, law in self._code["laws"].items()
                if all(groups[g] is not None for g, _ in law["nodes"])}
        used = sorted({g for law in kept.values() for g, _ in law["nodes"]})
        renumber = {g: i for i, g in enumerate(used)}
        laws = {name: dict(law, nodes=[[renumber[g], i] for g, i in law["nodes"]]) for name, law in kept.items()}
        return {"arguments": [s.name for s in self._args], "groups": [groups[g] for g in used],
                "laws": laws, "defined": list(self._laws)}

    @classmethod
    def _from_program(cls, program: dict, name: str):
        self = cls.__new__(cls)
        self.activation = _CatalogueActivation(name)
        self._stored = True
        self._defined = tuple(program["defined"])
        self._args = tuple(program["arguments"])
        self._groups = [_Group(g["size"], StoredBundle(g["bundle"]), _Deferred(g["mp_cov"]), _Deferred(g["np_cov"]))
                        for g in program["groups"]]
        self._laws = {law_name: _CompiledLaw(law_name, tuple(law["needs"]), tuple(map(tuple, law["nodes"])),
                                             _Deferred(law["mp_outer"]), _Deferred(law["np_outer"]),
                                             None if law["mp_grad"] is None else _Deferred(law["mp_grad"]))
                      for law_name, law in program["laws"].items()}
        self._specs = {law_name: (tuple(law["variables"]), tuple(law["at"]), law["doc"])
                       for law_name, law in program["laws"].items()}
        return self

    def _complete(self):
        """A stored program lacks a law: compile every law from SymPy (the same numbers)."""
        self.__dict__.pop("_stored", None)
        self._build()

    # ----------------------------------------------------------------------------
    def names(self):
        """The names of the defined laws."""
        return self.__dict__.get("_defined") if self.__dict__.get("_stored") else tuple(self._laws)

    def needs(self, name) -> tuple:
        """The arguments (names) the law ``name`` depends on."""
        return self._law(name).needs

    def _law(self, name) -> _CompiledLaw:
        if name in self._laws:
            return self._laws[name]
        if self.__dict__.get("_stored"):
            self._complete()
            return self._law(name)
        law = self.laws[name]
        raise NotDefinedError(f"{name} is not defined for {self.activation.name}: {law.note}")

    def evaluate(self, names, q_value, sigma_w2, sigma_b2, dps: int | None = None):
        """Single-input laws at ``q`` (one quadrature sweep): dict name -> Estimate or ndarray."""
        return self.evaluate_at(names, dict(q=q_value, sigma_w2=sigma_w2, sigma_b2=sigma_b2), dps)

    def evaluate_at(self, names, point: dict, dps: int | None = None):
        """Laws at a point given by argument name (``q``, ``q_star``, ``c``, ``q11``, ...).

        With ``dps`` each value is an :class:`Estimate`; without, float64 (arrays broadcast).
        """
        known = self._argument_names()
        unknown = set(point) - set(known)
        if unknown:
            raise ValueError(f"unknown argument(s) {', '.join(sorted(unknown))}; known: {', '.join(known)}")
        if self.__dict__.get("_stored") and any(n not in self._laws for n in names):
            self._complete()                # before any law is looked up: the groups are renumbered
        compiled = [self._law(n) for n in names]
        for c_ in compiled:
            missing = [a for a in c_.needs if point.get(a) is None]
            if missing:
                raise ValueError(f"{c_.name} needs {', '.join(missing)}")
        check_variances(point.get("sigma_w2", 1), point.get("sigma_b2", 0))
        if dps is None:
            return self._evaluate_np(compiled, point)
        return self._evaluate_mp(compiled, point, check_dps(dps))

    def _argument_names(self):
        return [a if isinstance(a, str) else a.name for a in self._args]

    def _needed_groups(self, compiled):
        wanted = sorted({g for c_ in compiled for g, _ in c_.nodes})
        return [(g, self._groups[g]) for g in wanted]

    def _evaluate_mp(self, compiled, point, dps):
        out = {}
        with mpmath.workdps(dps + GUARD_DIGITS):
            names = self._argument_names()
            args = [to_mpf(point[a]) if point.get(a) is not None else mpmath.mpf(0) for a in names]
            values, errors = {}, {}
            for index, group in self._needed_groups(compiled):
                cov = group.mp_cov(*args)
                if len(cov) == 1:
                    if cov[0] < 0:
                        raise ValueError(f"variance must be >= 0, got {mpmath.nstr(cov[0], 8)}")
                    vals, errs = expect_mp(group.bundle, cov[0], dps)
                else:
                    from .quadrature2d import expect2_mp
                    vals, errs = expect2_mp(group.bundle, *cov, dps)
                for i, (val, err) in enumerate(zip(vals, errs)):
                    values[index, i], errors[index, i] = val, err
            for c_ in compiled:
                ev = [values[n] for n in c_.nodes]
                val = c_.mp_outer(*args, *ev)
                if c_.nodes:
                    grads = c_.mp_grad(*args, *ev)
                    err = sum(abs(g) * errors[n] for g, n in zip(grads, c_.nodes))
                else:
                    with mpmath.workdps(dps + 2 * GUARD_DIGITS):
                        args2 = [to_mpf(point[a]) if point.get(a) is not None else mpmath.mpf(0)
                                 for a in names]
                        val2 = c_.mp_outer(*args2)
                    err = abs(val2 - val)
                err += abs(val) * mpmath.mpf(10) ** (-(dps + GUARD_DIGITS - 1))
                out[c_.name] = Estimate(+val, +err, dps)
        return out

    def _evaluate_np(self, compiled, point):
        arrays = {k: np.asarray(float(to_mpf(v)) if isinstance(v, (str, mpmath.mpf)) else v, dtype=float)
                  for k, v in point.items() if v is not None}
        shape = np.broadcast(*arrays.values()).shape if arrays else ()
        args = [arrays.get(a, np.zeros(())) for a in self._argument_names()]
        values = {}
        for index, group in self._needed_groups(compiled):
            with np.errstate(all="ignore"):
                cov = [np.asarray(v, dtype=float) for v in group.np_cov(*args)]
            if len(cov) == 1:
                if np.any(cov[0] < 0):
                    raise ValueError("variance must be >= 0")
                vals = expect_np(group.bundle, cov[0])[0]
            else:
                from .quadrature2d import expect2_np
                vals = expect2_np(group.bundle, *cov)[0]
            for i, val in enumerate(vals):
                values[index, i] = val
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
        if name == "laws" and "activation" in self.__dict__:      # a stored program's laws: derive them
            from neurodyn.theory import catalog, derive
            self.laws = derive(catalog.get(self.activation.name))
            return self.laws
        if name.startswith("_") or self._spec(name) is None:
            raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")
        method = self.__dict__[name] = self.method(name)     # built once (its signature is not free)
        return method

    def __dir__(self):
        from neurodyn.theory.laws import LAWS
        return sorted(set(super().__dir__()) | set(LAWS))

    def _spec(self, name: str):
        """(variables, at, docstring) of the registered law ``name``, or None."""
        stored = self.__dict__.get("_specs", {})
        if name in stored:
            return stored[name]
        from neurodyn.theory.laws import LAWS
        if name not in LAWS:
            return None
        spec = LAWS[name]
        return (tuple(spec.variables), tuple(spec.at), f"{spec.notation.text}: {spec.title} (see neurodyn.theory.laws).")

    def method(self, name: str):
        """The law ``name`` as a function ``(*variables, sigma_w2, sigma_b2=0, *at, dps=None)``.

        Every law has the same defaults: ``sigma_b2 = 0``; the point ``at``
        (e.g. ``q_star``) must be given.

        The variables and the point ``at`` are the law's, as registered
        (:class:`~neurodyn.theory.laws.LawSpec`); ``f.method("c_map")`` is ``f.c_map``.
        A correlation ``c`` must lie in [-1, 1].
        """
        import inspect

        spec = self._spec(name)
        if spec is None:
            from neurodyn.theory.laws import LAWS
            raise KeyError(f"no law {name!r} (registered: {', '.join(LAWS)})")
        variables, at, doc = spec
        order = (*variables, "sigma_w2", "sigma_b2", *at)
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        defaults = {"sigma_b2": 0, **{a: None for a in at}}     # a missing point is an error below
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
        law_method.__doc__ = doc
        return law_method


#: The attributes that :meth:`CompiledLaws._build` makes.
_BUILT = ("_args", "_groups", "_laws", "_code")


def _check_correlation(c_value):
    arr = np.asarray(float(to_mpf(c_value)) if isinstance(c_value, (str, mpmath.mpf)) else c_value, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(np.abs(arr) > 1):
        raise ValueError(f"the correlation c must lie in [-1, 1], got {c_value}")


def compile_laws(laws: Laws) -> CompiledLaws:
    """Numeric callables (mpmath at any dps; numpy float64) for ``laws``."""
    return CompiledLaws(laws)


# ----------------------------------------------------------------------------------------
# stored programs of the catalogue (no SymPy needed to load them)
# ----------------------------------------------------------------------------------------
_NUMERICS = Path(__file__).resolve().parent
#: The sources that decide what a stored program means (its generator and its reader).
PROGRAM_SOURCES = ("codegen.py", "compile.py", "quadrature.py")


def program_checks() -> dict:
    """The numeric side's checks of a stored program: its format and a digest of :data:`PROGRAM_SOURCES`."""
    h = hashlib.sha256()
    for name in PROGRAM_SOURCES:
        h.update(name.encode() + b"\0" + (_NUMERICS / name).read_bytes() + b"\0")
    return {"format": PROGRAM_FORMAT, "numerics": h.hexdigest()}


def store_program(name: str, compiled: CompiledLaws | None = None, *, user: bool = False):
    """Write the stored program of the catalogue entry ``name`` (default parameters); the file or None.

    Into the package folder next to the committed derivation cache, or with ``user=True``
    into the user cache. Written only when the entry's laws are cached (see
    :func:`neurodyn.theory.cache.write_program`). ``compiled`` (of those laws) saves
    compiling them again.
    """
    from neurodyn.theory import cache, catalog, derive

    f = compiled if compiled is not None else compile_laws(derive(catalog.get(name)))
    return cache.write_program(name, f.program(), program_checks(), user=user)


def load_stored(name: str) -> CompiledLaws | None:
    """The compiled laws of the catalogue entry ``name`` from its stored program, or None (a miss).

    Needs no SymPy. The program is used only when it belongs to the current cache
    key of the entry and was written by the current numeric code; otherwise None,
    and the caller compiles from SymPy (``compile_laws(derive(...))``): a stale
    program is never used. Results are the same, digit for digit.
    """
    from neurodyn.theory import cache

    program = cache.read_program(name, program_checks())
    return None if program is None else CompiledLaws._from_program(program, name)
