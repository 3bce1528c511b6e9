"""neurodyn.numerics: numbers from theory objects (mpmath at any precision, numpy float64)."""

from .compile import CompiledLaws, compile_laws
from .criticality import (CriticalPoint, PhaseDiagram, correlation_fixed_points, critical_line, critical_point,
                          phase_diagram)
from .fixedpoint import fixed_point
from .geometry import Geometry, geometry
from .iterate import Trajectory, iterate
from .results import Estimate, FixedPoint

__all__ = ["compile_laws", "CompiledLaws", "fixed_point", "critical_point", "critical_line", "phase_diagram",
           "correlation_fixed_points", "Estimate", "FixedPoint", "CriticalPoint", "PhaseDiagram", "iterate",
           "Trajectory", "geometry", "Geometry"]
