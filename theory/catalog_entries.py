"""The catalogue's data: each built-in activation as a formula in ``x`` and its parameter defaults.

Pure data, imported by the parser (catalogue names may be called inside expressions)
and by :mod:`neurodyn.theory.catalog` (which builds the activations).

>>> ENTRIES["sigmoid"].formula
'1/(1 + exp(-x))'
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Entry", "ENTRIES"]


@dataclass(frozen=True)
class Entry:
    """A catalogue entry: an expression in ``x`` and the defaults of its parameters."""

    formula: str
    defaults: tuple = ()
    summary: str = ""
    reference: str = ""


# SELU constants (Klambauer et al. 2017), to 32 digits, as exact rationals.
_SELU_ALPHA = "1.6732632423543772848170429916717"
_SELU_LAMBDA = "1.0507009873554804934193349852946"

ENTRIES: dict[str, Entry] = {
    "linear": Entry("x", summary="identity"),
    "relu": Entry("max(0, x)", summary="rectified linear unit"),
    "leaky_relu": Entry("max(alpha*x, x)", (("alpha", "0.1"),), "leaky ReLU (0 <= alpha <= 1)"),
    "abs": Entry("abs(x)", summary="absolute value"),
    "elu": Entry("where(x > 0, x, alpha*(exp(x) - 1))", (("alpha", "1"),), "exponential linear unit",
                 "Clevert et al. 2016"),
    "selu": Entry("lam*where(x > 0, x, alpha*(exp(x) - 1))",
                  (("alpha", _SELU_ALPHA), ("lam", _SELU_LAMBDA)), "scaled ELU", "Klambauer et al. 2017"),
    "gelu": Entry("x*(1 + erf(x/sqrt(2)))/2", summary="Gaussian error linear unit x*Phi(x)",
                  reference="Hendrycks & Gimpel 2016"),
    "silu": Entry("x/(1 + exp(-beta*x))", (("beta", "1"),), "sigmoid-weighted linear unit (swish)",
                  "Ramachandran et al. 2017"),
    "swish": Entry("x/(1 + exp(-beta*x))", (("beta", "1"),), "alias of silu"),
    "mish": Entry("x*tanh(log(1 + exp(x)))", summary="x*tanh(softplus(x))", reference="Misra 2019"),
    "softplus": Entry("log(1 + exp(x))", summary="smooth ReLU"),
    "tanh": Entry("tanh(x)", summary="hyperbolic tangent"),
    "erf": Entry("erf(x)", summary="error function"),
    "sigmoid": Entry("1/(1 + exp(-x))", summary="logistic sigmoid"),
    "hard_tanh": Entry("max(-1, min(1, x))", summary="tanh clipped to [-1, 1]"),
    "softsign": Entry("x/(1 + abs(x))", summary="x/(1+|x|)"),
    "sin": Entry("sin(x)", summary="sine"),
    "cos": Entry("cos(x)", summary="cosine"),
    "gaussian": Entry("exp(-x^2)", summary="Gaussian bump exp(-x^2)"),
}
