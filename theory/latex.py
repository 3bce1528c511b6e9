r"""LaTeX of laws: one law, all laws in an ``align*`` environment, long displays broken.

Symbols print as the papers write them (``\sigma_w^2``, ``q^*``, ``\chi_1``,
``\mathbb{E}_{z}``):

>>> from neurodyn.theory import catalog
>>> from neurodyn.theory import derive
>>> print(law_latex(derive(catalog.get("sin")).chi_1))
\chi_1(q) = \sigma_w^2 \left(\frac{1}{2} + \frac{e^{- 2 q}}{2}\right)

A display too wide for a page is broken at the outermost level that makes it
fit: between the terms of a sum, else between the factors of a product (the new
line starts with ``\cdot``), and inside a bracket only when it alone is wider
than a line; exact rationals too long to read are rounded for display
(:func:`expr_latex`):

>>> from neurodyn.theory.symbols import q
>>> print(display_latex("V(q)", sum(q**k / (k + 1) for k in range(8)), width=28))
\begin{align*}
V(q) &= \frac{q^{7}}{8} + \frac{q^{6}}{7} + \frac{q^{5}}{6} + \frac{q^{4}}{5} \\
&\quad + \frac{q^{3}}{4} + \frac{q^{2}}{3} + \frac{q}{2} + 1
\end{align*}
>>> print(display_latex("V(q)", sympy.exp(q) * (1 + q**2) * sum(q**k / (k + 1) for k in range(8)), width=30))
\begin{align*}
V(q) &= e^{q} \left(q^{2} + 1\right) \\
&\quad \quad \cdot \Bigl(\frac{q^{7}}{8} + \frac{q^{6}}{7} + \frac{q^{5}}{6} \\
&\quad \quad \quad + \frac{q^{4}}{5} + \frac{q^{3}}{4} + \frac{q^{2}}{3} \\
&\quad \quad \quad + \frac{q}{2} + 1\Bigr)
\end{align*}

Plain text is escaped for LaTeX text mode, and a sentence written in LaTeX
(a derivation step) is read back as plain text:

>>> print(text_latex("chi_1 = sigma_w^2 E[phi'^2] at 100% {ok}"))
chi\_1 = sigma\_w\textasciicircum{}2 E[phi'\textasciicircum{}2] at 100\% \{ok\}
>>> print(plain_text(r"$\chi_1 = \sigma_w^2\,\mathbb{E}_z[\phi'(\sqrt{q}\,z)^2]$ at 100\%"))
chi_1 = sigma_w^2 E_z[phi'(sqrt(q) z)^2] at 100%
"""

from __future__ import annotations

import re

import sympy
from sympy.printing.latex import LatexPrinter

from .notation import notation_of

__all__ = ["law_latex", "laws_latex", "law_symbol", "display_latex", "expr_latex", "text_latex",
           "plain_text"]

#: Width left for the brackets and signs around a nested piece, in characters.
_NESTING = 6
#: A factor of a broken product at most this wide stays in its leading fraction.
_SHORT_FACTOR = 8
#: An exact rational with more digits (numerator and denominator) is displayed rounded ...
LONGEST_RATIONAL = 20
#: ... to this many significant digits, followed by ``\\ldots``.
ROUNDED_DIGITS = 12
#: Width of one displayed line, in printed characters (an 11pt article's text width).
LINE_WIDTH = 56


def law_symbol(name: str) -> str:
    r"""The left-hand side of the law ``name`` in LaTeX.

    Registered laws have their notation (:mod:`neurodyn.theory.notation`); any
    other name is printed as a SymPy symbol of that name (greek letters, subscripts).

    >>> law_symbol("chi_1"), law_symbol("kappa_2")
    ('\\chi_1(q)', '\\kappa_{2}')
    """
    notation = notation_of(name)
    if notation is not None:
        return notation.tex
    return sympy.latex(sympy.Symbol(name))


def law_latex(law) -> str:
    """``lhs = rhs`` for one law (``\\text{not defined}`` when it is undefined)."""
    lhs = law_symbol(law.name)
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


_TEXT_ESCAPES = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
    "%": r"\%", "_": r"\_", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
}


def text_latex(text: str) -> str:
    """``text`` escaped for LaTeX text mode: every ASCII character prints as itself, any
    other as its code point (``<U+03C6>``), which every LaTeX installation can print."""
    return "".join(_TEXT_ESCAPES.get(ch, ch) if ch.isascii() else _TEXT_ESCAPES["<"] + f"U+{ord(ch):04X}"
                   + _TEXT_ESCAPES[">"] for ch in str(text))


_TEXT_UNESCAPES = sorted(((tex, ch) for ch, tex in _TEXT_ESCAPES.items()), key=lambda p: -len(p[0]))

#: LaTeX commands read back as plain text (anything else loses its backslash).
_PLAIN_COMMANDS = {
    r"\mathbb{E}": "E", r"\mathcal{N}": "N", r"\parallel": "par", r"\partial": "d", r"\cdot": "*",
    r"\ldots": "...", r"\dots": "...", r"\quad": "  ", r"\qquad": "    ", r"\,": " ", r"\;": " ",
    r"\!": "", r"\sim": "~", r"\infty": "oo",
}
_PLAIN_DROPPED = re.compile(r"\\(left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|displaystyle)(?![a-zA-Z])")
_PLAIN_FRAC = re.compile(r"\\frac\{([^{}]*)\}\{([^{}]*)\}|\\frac(\d)(\d)")
_PLAIN_SQRT = re.compile(r"\\sqrt\{([^{}]*)\}")
_PLAIN_MATRIX = re.compile(r"\\begin\{smallmatrix\}(.*?)\\end\{smallmatrix\}")


def _plain_math(tex: str) -> str:
    for command, text in _PLAIN_COMMANDS.items():
        tex = tex.replace(command, text)
    tex = _PLAIN_DROPPED.sub("", tex)
    tex = _PLAIN_MATRIX.sub(lambda m: "[" + ", ".join(
        "[" + ", ".join(cell.strip() for cell in row.split("&")) + "]"
        for row in m.group(1).split("\\\\")) + "]", tex)
    for _ in range(3):                                     # innermost first, then the next level
        tex = _PLAIN_SQRT.sub(lambda m: f"sqrt({m.group(1)})", tex)
        tex = _PLAIN_FRAC.sub(lambda m: _fraction(*(m.group(1, 2) if m.group(1) is not None
                                                     else m.group(3, 4))), tex)
    tex = re.sub(r"\^\{\*\}", "*", tex).replace("^*", "*")
    tex = re.sub(r"([\^_])\{([^{}]*)\}", lambda m: m.group(1) + (
        m.group(2) if re.fullmatch(r"[\w*'()]+", m.group(2)) else "(" + m.group(2) + ")"), tex)
    tex = re.sub(r"\\([a-zA-Z]+)", r"\1", tex)
    return tex.replace("{", "").replace("}", "")


def _fraction(num: str, den: str) -> str:
    def wrap(part):
        return part if re.fullmatch(r"[\w.^*']*(\([^()]*\))?", part) else f"({part})"
    return wrap(num) + "/" + wrap(den)


def plain_text(source: str) -> str:
    r"""A sentence written in LaTeX (text mode, mathematics in ``$...$``) as plain text.

    The inverse of :func:`text_latex` on the text, and a readable ASCII form of
    the mathematics (``\sigma_w^2`` as ``sigma_w^2``, ``\frac{a}{b}`` as ``a/b``).
    """
    out = []
    for i, part in enumerate(source.split("$")):
        if i % 2:
            out.append(_plain_math(part))
        else:
            for tex, ch in _TEXT_UNESCAPES:
                part = part.replace(tex, ch)
            out.append(part)
    return "".join(out)


# ----------------------------------------------------------------------------------------
# Long displays: break at sums and products, inside brackets that may span lines
# ----------------------------------------------------------------------------------------
_TOKEN = re.compile(r"\\[a-zA-Z]+|\\.|[^\s]")
_DELIMITERS = {r"\left", r"\right", r"\bigl", r"\bigr", r"\Bigl", r"\Bigr", r"\biggl", r"\biggr"}
_ONE_ARGUMENT = {r"\operatorname", r"\mathbb", r"\mathrm", r"\text", r"\mathcal"}
_OPENERS = {"{", "(", "[", "^", "_", "&", r"\left", r"\Bigl", r"\bigl"}
_NAMED = {"sin", "cos", "tan", "sinh", "cosh", "tanh", "log", "ln", "exp", "max", "min", "arg", "det"}


def _width(tex: str) -> float:
    """Printed width of ``tex`` in characters, roughly: fractions as wide as their wider part,
    scripts smaller, operator names as long as their names, binary operators with their
    spaces, markup nothing (about 5.6 pt a character in an 11pt article, 360 pt a line)."""
    tokens = _TOKEN.findall(tex)
    position = 0

    def atom() -> float:
        nonlocal position
        if position >= len(tokens):
            return 0.0
        tok = tokens[position]
        position += 1
        if tok == "{":
            return sequence()
        if tok in ("^", "_"):
            return 0.7 * atom()
        if tok == r"\frac":
            return max(atom(), atom())
        if tok == r"\sqrt":
            if position < len(tokens) and tokens[position] == "[":
                while position < len(tokens) and tokens[position] != "]":
                    position += 1
                position += 1
            return 1 + atom()
        if tok in _DELIMITERS:                     # the delimiter that follows counts once
            position += 1
            return 0.0 if tokens[position - 1:position] == ["."] else 1.0
        if tok in _ONE_ARGUMENT:
            return atom()
        if tok in (r"\begin", r"\end"):
            atom()
            return 0.0
        if tok in ("&", "}", r"\\", r"\,", r"\;", r"\!", r"\:"):
            return 0.0
        if tok == r"\quad":
            return 2.0
        if tok in "+-=" and position > 1 and tokens[position - 2] not in _OPENERS:
            return 3.0                             # a binary operator and its spaces
        if tok[0] == "\\":
            return float(len(tok) - 1) if tok[1:] in _NAMED else 1.0
        return 1.0

    def sequence() -> float:
        nonlocal position
        total = 0.0
        while position < len(tokens) and tokens[position] != "}":
            total += atom()
        position += 1
        return total

    total = 0.0
    while position < len(tokens):
        total += atom()
    return total


def _splittable(expr) -> bool:
    return (expr.is_Add or expr.is_Mul or hasattr(expr, "in_z") or hasattr(expr, "integrand")
            or (expr.is_Pow and expr.base.is_Add and expr.exp.is_Integer and expr.exp > 1))


def _expectation_parts(expr, printer: LatexPrinter):
    r"""An expectation printed as ``\mathbb{E}...\left[inner\right]``: its opening and inner expression.

    Works for every expectation class whose ``in_z()`` or ``integrand`` (method or
    property) prints as what stands in its brackets; None for anything else.
    """
    tex = printer.doprint(expr)
    start = tex.find(r"\left[")
    if start < 0 or not tex.endswith(r"\right]"):
        return None
    inside = tex[start + len(r"\left["):-len(r"\right]")]
    for name in ("in_z", "integrand"):
        inner = getattr(expr, name, None)
        inner = inner() if callable(inner) else inner
        if isinstance(inner, sympy.Basic) and printer.doprint(inner) == inside:
            return tex[:start] + r"\Bigl[", inner
    return None


# A broken display is a list of lines ``(sep, tex, depth)``: ``sep`` joins the line to the one
# before it ("" on the first line, "+" or "-" between terms, ``\cdot`` between factors) and
# ``depth`` is how deeply the line is nested (its indentation).
def _single(expr, printer: LatexPrinter, width: float, depth: int) -> list:
    return [("", printer.doprint(expr), depth)]


def _bracketed(opening: str, lines: list, closing: str) -> list:
    """``lines`` inside ``opening`` ... ``closing`` (delimiters that may stand on different lines)."""
    (sep, first, depth), *rest = lines
    lines = [(sep, opening + first, depth), *rest]
    sep, last, depth = lines[-1]
    return lines[:-1] + [(sep, last + closing, depth)]


def _pack(chunks: list, width: float, first_width: float, joiner) -> list:
    """Lines from chunks (each a list of lines): chunks share a line while it has room (the first
    line of a chunk of several lines too); what follows a chunk of several lines starts a new line."""
    lines, open_ = [], False
    for chunk in chunks:
        (sep, tex, depth), *rest = chunk
        if lines and open_:
            room = first_width if len(lines) == 1 else width
            _, last, last_depth = lines[-1]
            joined = last + joiner(sep) + tex
            if _width(joined) <= room:
                lines[-1] = (lines[-1][0], joined, last_depth)
                lines += rest
                open_ = not rest
                continue
        if not lines and sep:                      # the first line keeps a leading minus sign
            chunk = [("", ("- " if sep == "-" else "") + tex, depth), *rest]
        lines += chunk
        open_ = not rest
    return lines


def _term_lines(expr, printer: LatexPrinter, width: float, first_width: float, depth: int,
                shallow: bool = False) -> list:
    """A sum: its terms, a line break only between them (the sign starts the new line);
    ``shallow``: every term whole."""
    chunks = []
    for i, term in enumerate(printer._as_ordered_terms(expr)):
        sign = "" if i == 0 else "+"
        if i and term.could_extract_minus_sign():
            sign, term = "-", -term
        if shallow:
            lines = _single(term, printer, width, depth)
        else:
            lines = _lines(term, printer, width, (first_width if i == 0 else width) - 2, depth)
        chunks.append([(sign, lines[0][1], lines[0][2]), *lines[1:]])
    return _pack(chunks, width, first_width, lambda sep: f" {sep} " if sep else " ")


def _factors(expr, printer: LatexPrinter, width: float):
    """A product as ``(scale, factors)``: numbers, short factors and the denominator in the
    leading fraction ``scale``, the long factors after it (a denominator too wide for the
    fraction leaves its long factors as ``1/factor``)."""
    numerator, denominator = [], []
    for factor in expr.as_ordered_factors():
        if factor.is_Pow and factor.exp.is_Rational and factor.exp.is_negative:
            denominator.append(factor.base ** -factor.exp)
        elif factor.is_Rational:
            numerator.append(sympy.Integer(factor.p))
            denominator.append(sympy.Integer(factor.q))
        else:
            numerator.append(factor)

    def short(f):
        return f.is_number or (not _splittable(f) and _width(printer.doprint(f)) <= _SHORT_FACTOR)

    lead = [f for f in numerator if short(f)]
    factors = [f for f in numerator if not short(f)]
    scale = sympy.Mul(*lead) / sympy.Mul(*denominator)
    if _width(printer.doprint(scale)) > width / 2:
        factors = [1 / f for f in denominator if not short(f)] + factors
        scale = sympy.Mul(*lead) / sympy.Mul(*[f for f in denominator if short(f)])
    return scale, factors


def _factor_lines(expr, printer: LatexPrinter, width: float, first_width: float, depth: int,
                  shallow: bool = False) -> list:
    r"""A product too wide for a line: a line break only between its factors (``\cdot`` starts the
    new line); a factor is broken inside only when it alone is wider than a whole line (never
    when ``shallow``)."""
    scale, factors = _factors(expr, printer, width)
    if not factors:
        return _single(expr, printer, width, depth)
    opening = {-1: "- ", 1: ""}.get(scale, None)
    if opening is None:
        opening = printer.doprint(scale) + " "
    chunks = []
    for i, factor in enumerate(factors):
        brackets = printer._needs_mul_brackets(factor, first=not opening and i == 0, last=i == len(factors) - 1)
        tex = printer.doprint(factor)
        if brackets:
            tex = r"\left(" + tex + r"\right)"
        room = (first_width - _width(opening)) if i == 0 else width
        if shallow or _width(tex) <= width or not _splittable(factor):
            lines = [("", tex, depth + (i > 0))]
        else:
            lines = _lines(factor, printer, width - _NESTING, room - _NESTING, depth + 1 + (i > 0))
            if brackets:
                lines = _bracketed(r"\Bigl(", lines, r"\Bigr)")
        chunks.append([("" if i == 0 else r"\cdot", lines[0][1], depth + (i > 0)), *lines[1:]])
    chunks[0] = _bracketed(opening, chunks[0], "")
    return _pack(chunks, width, first_width, lambda sep: " ")


def _lines(expr, printer: LatexPrinter, width: float, first_width: float, depth: int = 0) -> list:
    """LaTeX of ``expr`` as lines of about ``width`` characters (``first_width`` left on the first),
    broken only when it is wider than a whole line, at the outermost level: the terms of a sum,
    else the factors of a product, and inside a factor (a sum in brackets, an expectation's
    integrand) only when that factor alone is wider than a line. What cannot be broken stays whole."""
    tex = printer.doprint(expr)
    if _width(tex) <= first_width or not _splittable(expr):
        return _single(expr, printer, width, depth)
    if _width(tex) <= width:
        # it fits a line of its own but not what is left of this one: break at its top level only
        if expr.is_Add:
            return _term_lines(expr, printer, width, first_width, depth, shallow=True)
        if expr.is_Mul:
            return _factor_lines(expr, printer, width, first_width, depth, shallow=True)
        return _single(expr, printer, width, depth)
    if expr.is_Add:
        return _term_lines(expr, printer, width, first_width, depth)
    if expr.is_Mul:
        return _factor_lines(expr, printer, width, first_width, depth)
    if expr.is_Pow:
        inner = _lines(expr.base, printer, width - _NESTING, first_width - _NESTING, depth + 1)
        return _bracketed(r"\Bigl(", inner, r"\Bigr)^{" + printer.doprint(expr.exp) + "}")
    parts = _expectation_parts(expr, printer)
    if parts is None:
        return _single(expr, printer, width, depth)
    opening, inner = parts
    nest = max(_NESTING, _width(opening) + 2)
    return _bracketed(opening, _lines(inner, printer, width - _NESTING, first_width - nest, depth + 1), r"\Bigr]")


class AbbreviatedRational(sympy.Symbol):
    """A long exact rational in a display, printed to ``ROUNDED_DIGITS`` digits and ``\\ldots``."""

    def __new__(cls, value: sympy.Rational):
        # the name keeps the exact value (so different numbers never merge); name and class
        # name sort before every engine symbol, so the number leads its product
        return super().__new__(cls, f"0_{value.p}_{value.q}", positive=True)

    def _latex(self, printer):
        _, p, q = self.name.split("_")
        value = sympy.Rational(int(p), int(q))
        longer = sympy.N(value, ROUNDED_DIGITS + 2)
        exact = sympy.Rational(str(longer)) == value       # a terminating decimal, short enough
        mantissa, _, exponent = str(longer if exact else sympy.N(value, ROUNDED_DIGITS)).partition("e")
        if exact and "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        return (mantissa + ("" if exact else r"\ldots")
                + (r" \times 10^{" + str(int(exponent)) + "}" if exponent else ""))


def _long(number) -> bool:
    return number.is_Rational and len(str(abs(number.p))) + len(str(number.q)) > LONGEST_RATIONAL


def _shorten(expr):
    """Long exact rationals replaced by their rounded display (display only)."""
    return expr.replace(_long, lambda r: (-1 if r < 0 else 1) * AbbreviatedRational(abs(r)))


def expr_latex(expr) -> str:
    r"""LaTeX of ``expr`` for a document: as :func:`sympy.latex`, long rationals rounded.

    >>> print(expr_latex(sympy.Rational(10**30 + 1, 3 * 10**29) * sympy.Symbol("y")))
    3.33333333333\ldots y
    """
    return LatexPrinter().doprint(_shorten(sympy.sympify(expr)))


def display_latex(lhs: str, expr, width: float = LINE_WIDTH, order: str | None = None) -> str:
    r"""``lhs = expr`` as an ``align*`` environment, broken into lines of about ``width`` characters.

    With an empty ``lhs`` the expression alone is shown. A display breaks at the
    outermost level that makes it fit: between the terms of the sum (the sign
    starts the new line), else between the top-level factors of a product (the
    new line starts with ``\cdot``); a factor is broken inside (a sum in
    ``\Bigl( ... \Bigr)``, an expectation's integrand) only when it alone is wider
    than a line, and what cannot be broken (a short factor, a bracket that fits,
    a function's argument) is never broken. Continuation lines are indented by
    their depth. A long ``lhs`` stands at the left margin and the continuation
    lines use the whole width. ``order`` is SymPy's term order (``"rev-lex"`` lists
    a series in increasing powers).

    >>> y = sympy.Symbol("y")
    >>> print(display_latex("y'", y - 2*y**2 + sympy.Rational(17, 3)*y**3, order="rev-lex"))
    \begin{align*}
    y' &= y - 2 y^{2} + \frac{17 y^{3}}{3}
    \end{align*}
    """
    printer = LatexPrinter({"order": order} if order else None)
    expr = _shorten(sympy.sympify(expr))
    lhs_width = _width(lhs) + 3 if lhs else 0
    rest = width - lhs_width - 2
    if lhs_width > width / 4 and _width(printer.doprint(expr)) > rest:
        # a long left-hand side stands alone on the first line; the lines below have the whole width
        lines = _lines(expr, printer, width - 4, width - 4)
        body = ["&" + lhs + " ="] + ["&" + r"\quad " * (depth + 1) + (sep + " " if sep else "") + tex
                                      for sep, tex, depth in lines]
    else:
        lines = _lines(expr, printer, rest, rest)
        body = [(lhs + " &= " if lhs else "&") + lines[0][1]]
        body += ["&" + r"\quad " * (depth + 1) + (sep + " " if sep else "") + tex for sep, tex, depth in lines[1:]]
    return "\\begin{align*}\n" + " \\\\\n".join(body) + "\n\\end{align*}"
