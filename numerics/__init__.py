"""neurodyn.numerics: numbers from theory objects (mpmath at any precision, numpy float64).

The public names are loaded on first use (PEP 562): importing one module
(``neurodyn.numerics.fixedpoint``) does not import the others.
"""

from __future__ import annotations

import importlib
import sys
import types

__all__ = ["compile_laws", "CompiledLaws", "fixed_point", "critical_point", "critical_line", "phase_diagram",
           "correlation_fixed_points", "Estimate", "FixedPoint", "CriticalPoint", "PhaseDiagram", "iterate",
           "Trajectory", "geometry", "Geometry"]

#: Where each public name lives.
_HOME = {
    "compile_laws": "compile", "CompiledLaws": "compile",
    "CriticalPoint": "criticality", "PhaseDiagram": "criticality", "correlation_fixed_points": "criticality",
    "critical_line": "criticality", "critical_point": "criticality", "phase_diagram": "criticality",
    "fixed_point": "fixedpoint", "Geometry": "geometry", "geometry": "geometry",
    "Trajectory": "iterate", "iterate": "iterate", "Estimate": "results", "FixedPoint": "results",
}


class _Package(types.ModuleType):
    """This package: ``numerics.geometry`` and ``numerics.iterate`` stay the functions of the API even
    after their submodules are imported (the import system would set the attribute to the module)."""

    def __setattr__(self, name, value):
        if isinstance(value, types.ModuleType) and _HOME.get(name) == name:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name):
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
