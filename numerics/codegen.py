"""Generated numeric code that can be stored and loaded again without SymPy.

``sympy.lambdify`` writes Python source and executes it in a namespace of
mpmath's or numpy's functions. :func:`generate` keeps that source together
with where each global name of it comes from (``"mpmath:tanh"``,
``"scipy.special:erf"``, ``"numpy"`` for a module); :func:`load` executes the
same source in a namespace rebuilt from those references, which needs neither
SymPy nor any module the code does not use. The function loaded is the same
code over the same objects, so it computes the same numbers, bit for bit.

>>> import sympy
>>> t = sympy.Symbol("t")
>>> fn, code = generate([t], sympy.tanh(t) ** 2 + sympy.Rational(1, 3), "mpmath")
>>> sorted(code["names"].items())
[('mpf', 'mpmath:mpf'), ('tanh', 'mpmath:tanh')]
>>> load(code)(0.5) == fn(0.5)
True
"""

from __future__ import annotations

import importlib
import linecache
import sys
import types

__all__ = ["generate", "describe", "load", "CANDIDATE_MODULES"]

#: Modules in which the objects of a generated namespace are looked up (in this order).
CANDIDATE_MODULES = ("mpmath", "numpy", "scipy.special", "math")


def generate(args, exprs, modules, cse: bool = False):
    """``sympy.lambdify(args, exprs, modules, cse=cse)`` and its storable description (or None).

    Only engine-built expressions reach here (user text never does: see theory.parse).
    """
    import sympy

    fn = sympy.lambdify(args, exprs, modules=modules, cse=cse)
    return fn, describe(fn)


def _names(code: types.CodeType):
    for name in code.co_names:
        yield name
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _names(const)


def _reference(name: str, value) -> str | None:
    if isinstance(value, types.ModuleType):
        return value.__name__
    for module_name in CANDIDATE_MODULES:
        module = sys.modules.get(module_name)
        if module is None:
            continue
        if getattr(module, name, None) is value:
            return f"{module_name}:{name}"
        for attr, obj in vars(module).items():
            if obj is value and not attr.startswith("_"):
                return f"{module_name}:{attr}"
    return None


def describe(fn) -> dict | None:
    """The source of a lambdify-generated ``fn`` and the references of its global names.

    None when some global object cannot be named (such code is not stored).
    """
    source = "".join(linecache.getlines(fn.__code__.co_filename))
    if not source:
        return None
    names = {}
    for name in dict.fromkeys(_names(fn.__code__)):
        if name not in fn.__globals__:        # a builtin, or an attribute name (``numpy.tanh``)
            continue
        ref = _reference(name, fn.__globals__[name])
        if ref is None:
            return None
        names[name] = ref
    return {"source": source, "function": fn.__name__, "names": names}


def _resolve(ref: str, ctx=None):
    module_name, _, attr = ref.partition(":")
    if ctx is not None and module_name == "mpmath":          # mpmath's functions are its global context's
        if not attr:
            return ctx
        if hasattr(ctx, attr):
            return getattr(ctx, attr)
    module = importlib.import_module(module_name)
    return getattr(module, attr) if attr else module


def load(code: dict, ctx=None):
    """The function described by ``code`` (from :func:`describe`), built without SymPy.

    With an mpmath context ``ctx``, mpmath's names are taken from it (``ctx.tanh``,
    ``ctx.mpf``, ...): the function computes in that context, at its precision.
    """
    namespace = {name: _resolve(ref, ctx) for name, ref in code["names"].items()}
    exec(compile(code["source"], "<neurodyn-generated>", "exec"), namespace)   # noqa: S102 - our own stored code
    return namespace[code["function"]]
