r"""LaTeX of laws (one law, or all laws in an ``align`` environment).

>>> from neurodyn.theory import catalog
>>> from neurodyn.theory.laws import derive
>>> print(law_latex(derive(catalog.get("sin")).chi_1))
\chi_1(q) = \sigma_w^2 \left(\frac{1}{2} + \frac{e^{- 2 q}}{2}\right)
"""

from __future__ import annotations

import sympy

__all__ = ["law_latex", "laws_latex"]


def law_latex(law) -> str:
    """``lhs = rhs`` for one law (``\\text{not defined}`` when it is undefined)."""
    from .laws import LAW_SYMBOLS

    lhs = LAW_SYMBOLS.get(law.name, (law.name, law.name))[1]
    if not law.defined:
        return lhs + r" \quad \text{not defined}"
    return lhs + " = " + sympy.latex(law.expr)


def laws_latex(laws, names=None) -> str:
    """All (or the named) laws as an ``align*`` environment."""
    rows = []
    for law in laws:
        if names and law.name not in names:
            continue
        rows.append(law_latex(law).replace(" = ", " &= ", 1) if law.defined
                    else law_latex(law).replace(r" \quad", r" &\quad", 1))
    return "\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}"
