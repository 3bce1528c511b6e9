"""Every SymPy symbol of the engine, with its assumptions and the way papers print it.

The symbols print as plain identifiers in text (``sigma_w2``) and as the papers
write them in LaTeX (``\\sigma_w^2``):

>>> import sympy
>>> sympy.latex(sigma_w2 * q_star + sigma_b2)
'q^{*} \\\\sigma_w^2 + \\\\sigma_b^2'
"""

from __future__ import annotations

import sympy

__all__ = [
    "PaperSymbol", "x", "z", "z1", "z2", "q", "q_star", "q11", "q22", "q12", "c",
    "sigma_w2", "sigma_b2", "d", "Theta", "LATEX_NAMES",
    "g", "Hsq", "trHsq", "Rbar", "m", "chi1", "chi2", "layer",
]

#: How each named symbol is printed in LaTeX.
LATEX_NAMES = {
    "x": "x",
    "z": "z",
    "z1": "z_1",
    "z2": "z_2",
    "q": "q",
    "q_star": "q^{*}",
    "q11": "q_{11}",
    "q22": "q_{22}",
    "q12": "q_{12}",
    "c": "c",
    "sigma_w2": r"\sigma_w^2",
    "d": "d",
    "Theta": r"\Theta",
    "sigma_b2": r"\sigma_b^2",
    "g": "g",
    "Hsq": r"\lvert H\rvert^{2}",
    "trHsq": r"\lvert \operatorname{tr} H\rvert^{2}",
    "Rbar": r"\bar{R}",
    "m": "m",
    "chi1": r"\chi_1",
    "chi2": r"\chi_2",
    "l": "l",
}


class PaperSymbol(sympy.Symbol):
    """A SymPy symbol that prints in LaTeX as the papers write it."""

    def _latex(self, printer):
        return LATEX_NAMES.get(self.name, printer._print_Symbol(self))


#: The activation's argument (a real number).
x = PaperSymbol("x", real=True)
#: Standard Gaussian integration variables.
z = PaperSymbol("z", real=True)
z1 = PaperSymbol("z1", real=True)
z2 = PaperSymbol("z2", real=True)
#: Pre-activation length (variance) and its fixed point.
q = PaperSymbol("q", positive=True)
q_star = PaperSymbol("q_star", positive=True)
#: Two-input covariance entries and the correlation.
q11 = PaperSymbol("q11", positive=True)
q22 = PaperSymbol("q22", positive=True)
q12 = PaperSymbol("q12", real=True)
c = PaperSymbol("c", real=True)
#: Weight and bias variances (the parameters are variances, not standard deviations).
sigma_w2 = PaperSymbol("sigma_w2", positive=True)
sigma_b2 = PaperSymbol("sigma_b2", nonnegative=True)
#: Squared distance between two inputs, d = q11 + q22 - 2 q12, and the NTK entry.
d = PaperSymbol("d", nonnegative=True)
Theta = PaperSymbol("Theta", real=True)
#: The signal manifold's geometry (docs/theory.md §§4-5): pulled-back metric factor, squared
#: Euler-Schouten curvature |H|^2, |tr H|^2, scalar curvature Rbar = |tr H|^2 - |H|^2, dimension m.
g = PaperSymbol("g", positive=True)
Hsq = PaperSymbol("Hsq", nonnegative=True)
trHsq = PaperSymbol("trHsq", nonnegative=True)
Rbar = PaperSymbol("Rbar", real=True)
m = PaperSymbol("m", positive=True, integer=True)
#: chi_1 and chi_2 as plain numbers (closed forms of the geometry's fates), and the layer index.
chi1 = PaperSymbol("chi1", positive=True)
chi2 = PaperSymbol("chi2", nonnegative=True)
layer = PaperSymbol("l", nonnegative=True, integer=True)
