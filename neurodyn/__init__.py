"""neurodyn: the mean-field laws of deep random networks - derived, exported, computed.

Three layers, each importing only the ones before it::

    neurodyn.theory    pure SymPy: activations, Gaussian expectations, tactics, the laws
    neurodyn.numerics  numbers from the laws: mpmath at any precision, numpy float64
    neurodyn           this package: the public API below, the command line (neurodyn.cli)
                       and what it writes (neurodyn.reports: documents, gallery, plots)

The public API is importable from here (loaded on first use, so that
``import neurodyn`` stays cheap):

>>> import neurodyn
>>> laws = neurodyn.derive(neurodyn.catalog.get("erf"))
>>> str(laws.chi_1.expr)
'4*sigma_w2/(pi*sqrt(4*q + 1))'
>>> fp = neurodyn.fixed_point(neurodyn.compile_laws(laws), "2", "0.05", dps=20)
>>> str(fp.q_star)
'0.96595481259284880387'
>>> isinstance(neurodyn.__version__, str)
True
"""

from __future__ import annotations

import importlib

__all__ = [
    # theory
    "Activation", "catalog", "derive", "Laws",
    # numerics
    "compile_laws", "CompiledLaws", "fixed_point", "critical_point", "critical_line", "phase_diagram",
    "correlation_fixed_points", "Estimate", "FixedPoint", "CriticalPoint", "PhaseDiagram",
    "iterate", "Trajectory", "geometry", "Geometry", "rate", "Rate", "finite_width", "kernel_chain",
    # errors
    "NeurodynError", "ActivationError", "NotDefinedError", "ConvergenceError", "BudgetExceeded",
    "__version__",
]

#: Where each public name lives.
_HOME = {name: "neurodyn.theory" for name in (
    "Activation", "catalog", "derive", "Laws",
    "NeurodynError", "ActivationError", "NotDefinedError", "ConvergenceError", "BudgetExceeded")}
_HOME.update({name: "neurodyn.numerics" for name in (
    "compile_laws", "CompiledLaws", "fixed_point", "critical_point", "critical_line", "phase_diagram",
    "correlation_fixed_points", "Estimate", "FixedPoint", "CriticalPoint", "PhaseDiagram",
    "iterate", "Trajectory", "geometry", "Geometry")})
_HOME.update({name: "neurodyn.numerics.rates" for name in ("rate", "Rate")})
_HOME["finite_width"] = "neurodyn.numerics.finite_width"
_HOME["kernel_chain"] = "neurodyn.numerics.montecarlo"


def _version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version
        return version("neurodyn")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree that is not installed
        return "0+unknown"


def __getattr__(name):
    if name == "__version__":                  # read on first use (importlib.metadata is slow to import)
        value = globals()["__version__"] = _version()
        return value
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'neurodyn' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
