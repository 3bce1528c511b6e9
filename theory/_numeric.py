"""Float64 evaluation of engine-built SymPy expressions (shared by theory's checks and numerics).

``lambdify`` is only ever applied to expressions the engine built (user text is
parsed by :mod:`neurodyn.theory.parse`, never evaluated). numpy lacks ``erf``;
it is supplied here, vectorized from :func:`math.erf`.
"""

from __future__ import annotations

import math

import numpy as np
import sympy

from .symbols import x

__all__ = ["NUMPY_FUNCTIONS", "numpy_function"]

_erf = np.frompyfunc(math.erf, 1, 1)
_erfc = np.frompyfunc(math.erfc, 1, 1)


def _np_erf(a):
    return np.asarray(_erf(a), dtype=float)


def _np_erfc(a):
    return np.asarray(_erfc(a), dtype=float)


#: Functions numpy lacks, supplied to ``lambdify`` for float64 evaluation.
NUMPY_FUNCTIONS = {"erf": _np_erf, "erfc": _np_erfc}


def numpy_function(expr, args=(x,)):
    """A float64, broadcasting callable of ``expr`` (an engine-built expression)."""
    fn = sympy.lambdify(args, expr, modules=[NUMPY_FUNCTIONS, "numpy"])

    def call(*values):
        with np.errstate(all="ignore"):
            out = fn(*values)
        return np.broadcast_to(np.asarray(out, dtype=float), np.broadcast(*values).shape)

    return call
