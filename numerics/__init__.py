"""neurodyn.numerics: numbers from theory objects (mpmath at any precision, numpy float64)."""

from .compile import CompiledLaws, compile_laws
from .fixedpoint import fixed_point
from .results import Estimate, FixedPoint

__all__ = ["compile_laws", "CompiledLaws", "fixed_point", "Estimate", "FixedPoint"]
