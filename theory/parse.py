"""Safe parsing of user strings into SymPy expressions in ``x``.

User text is never given to ``eval``, ``exec``, ``sympify`` or ``lambdify``.
It is parsed by Python's :mod:`ast` into a tree that is then walked against a
whitelist: numbers, the variable ``x``, declared parameters, the constants
``pi`` and ``E``, arithmetic operators, and the mathematical functions in
:data:`FUNCTIONS`. Anything else (attribute access, names with ``_``,
lambdas, subscripts, keywords, strings, comprehensions) raises
:class:`~neurodyn.theory.errors.ActivationError` and nothing is executed.

The catalogue's activations (``neurodyn list``) may be called as functions of one
argument, with their default parameters; they are expanded to their formula:

>>> parse_expression("x*sigmoid(x)")
x/(1 + exp(-x))
>>> parse_expression("hard_tanh(2*x)")
Max(-1, Min(1, 2*x))

A lone unknown name is taken for a misspelled activation:

>>> parse_expression("tahn")
Traceback (most recent call last):
...
neurodyn.theory.errors.ActivationError: unknown activation 'tahn': did you mean tanh? see `neurodyn list` (or write an expression in x)

>>> parse_expression("x*tanh(log(1+exp(x)))")
x*tanh(log(exp(x) + 1))
>>> parse_expression("max(0, x) + 0.1*x^2")
x**2/10 + Max(0, x)
>>> parse_expression("__import__('os').system('id')")
Traceback (most recent call last):
...
neurodyn.theory.errors.ActivationError: forbidden name '__import__' (names with '_' are not allowed)
"""

from __future__ import annotations

import ast
import difflib
import functools

import sympy

from .catalog_entries import ENTRIES
from .errors import ActivationError
from .symbols import x

__all__ = ["parse_expression", "parse_number", "suggest", "FUNCTIONS", "CATALOGUE_FUNCTIONS"]

MAX_LENGTH = 2000
MAX_DEPTH = 60
MAX_EXPONENT = 64


def _where(cond, a, b):
    return sympy.Piecewise((a, cond), (b, True))


#: Functions a user may call, by the name they type.
FUNCTIONS = {
    "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan,
    "sinh": sympy.sinh, "cosh": sympy.cosh, "tanh": sympy.tanh,
    "asin": sympy.asin, "acos": sympy.acos, "atan": sympy.atan,
    "asinh": sympy.asinh, "acosh": sympy.acosh, "atanh": sympy.atanh,
    "arcsin": sympy.asin, "arccos": sympy.acos, "arctan": sympy.atan,
    "arcsinh": sympy.asinh,
    "exp": sympy.exp, "log": sympy.log, "ln": sympy.log, "sqrt": sympy.sqrt,
    "erf": sympy.erf, "erfc": sympy.erfc,
    "abs": sympy.Abs, "Abs": sympy.Abs, "sign": sympy.sign,
    "max": sympy.Max, "Max": sympy.Max, "min": sympy.Min, "Min": sympy.Min,
    "Heaviside": sympy.Heaviside, "heaviside": sympy.Heaviside, "step": sympy.Heaviside,
    "where": _where,
}
_ARITY = {"max": (2, 8), "Max": (2, 8), "min": (2, 8), "Min": (2, 8), "where": (3, 3),
          "Heaviside": (1, 1), "heaviside": (1, 1), "step": (1, 1)}
_CONSTANTS = {"pi": sympy.pi, "E": sympy.E, "e": sympy.E}

#: Catalogue activations callable in an expression (one argument, default parameters),
#: besides those already in :data:`FUNCTIONS` (tanh, erf, sin, cos, abs).
CATALOGUE_FUNCTIONS = tuple(name for name in ENTRIES if name not in FUNCTIONS)


@functools.lru_cache(maxsize=None)
def _catalogue_formula(name: str) -> sympy.Expr:
    entry = ENTRIES[name]
    return parse_expression(entry.formula, {k: parse_number(v) for k, v in entry.defaults})


def suggest(name: str, candidates=None, n: int = 3) -> list[str]:
    """The closest names to a misspelled ``name`` (case-insensitive), best first.

    >>> suggest("tahn")
    ['tanh']
    >>> suggest("Sigmoid")
    ['sigmoid']
    """
    pool = list(candidates if candidates is not None else ENTRIES)
    lowered = {c.lower(): c for c in pool}
    if name.lower() in lowered:
        return [lowered[name.lower()]]
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)
    return [lowered[h] for h in hits]


def _did_you_mean(names: list[str]) -> str:
    return f"did you mean {' or '.join(names)}? " if names else ""


def parse_number(text: str) -> sympy.Rational:
    """Parse a decimal or fraction string into an exact SymPy number.

    >>> parse_number("0.1")
    1/10
    >>> parse_number("2/3")
    2/3
    """
    text = str(text).strip()
    try:
        if "/" in text:
            num, den = text.split("/")
            value = sympy.Rational(sympy.Rational(num.strip()), sympy.Rational(den.strip()))
        else:
            value = sympy.Rational(text)
    except (TypeError, ValueError, ZeroDivisionError) as exc:
        raise ActivationError(f"not a number: {text!r}") from exc
    return value


class _Builder:
    def __init__(self, names: dict[str, sympy.Expr]):
        self.names = names
        self.depth = 0

    def build(self, node):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ActivationError("expression nested too deeply")
        try:
            method = getattr(self, "_" + type(node).__name__, None)
            if method is None:
                raise ActivationError(f"forbidden construct: {type(node).__name__}")
            return method(node)
        finally:
            self.depth -= 1

    def _Expression(self, node):
        return self.build(node.body)

    def _Constant(self, node):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ActivationError(f"forbidden literal {value!r} (only numbers are allowed)")
        if isinstance(value, int):
            if abs(value) > 10**30:
                raise ActivationError("integer literal too large")
            return sympy.Integer(value)
        return sympy.Rational(repr(value))

    def _Name(self, node):
        name = node.id
        if "_" in name and name not in ENTRIES:
            raise ActivationError(f"forbidden name {name!r} (names with '_' are not allowed)")
        if name == "x":
            return x
        if name in self.names:
            return self.names[name]
        if name in _CONSTANTS:
            return _CONSTANTS[name]
        if name in FUNCTIONS or name in ENTRIES:
            raise ActivationError(f"{name!r} is a function: call it, e.g. {name}(x)")
        raise ActivationError(
            f"unknown symbol {name!r}: the variable is x; declare parameters with --param {name}=VALUE")

    def _UnaryOp(self, node):
        operand = self.build(node.operand)
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.UAdd):
            return operand
        raise ActivationError(f"forbidden operator {type(node.op).__name__}")

    def _BinOp(self, node):
        left, right = self.build(node.left), self.build(node.right)
        op = node.op
        if isinstance(op, ast.Add):
            return left + right
        if isinstance(op, ast.Sub):
            return left - right
        if isinstance(op, ast.Mult):
            return left * right
        if isinstance(op, ast.Div):
            if right == 0:
                raise ActivationError("division by zero")
            return left / right
        if isinstance(op, ast.Pow):
            if right.is_number and not right.is_finite or right.is_number and abs(sympy.N(right)) > MAX_EXPONENT:
                raise ActivationError(f"exponent {right} too large (at most {MAX_EXPONENT})")
            return left ** right
        raise ActivationError(f"forbidden operator {type(op).__name__}")

    def _Call(self, node):
        if not isinstance(node.func, ast.Name):
            raise ActivationError("forbidden call: only named mathematical functions may be called")
        name = node.func.id
        if "_" in name and name not in ENTRIES:
            raise ActivationError(f"forbidden name {name!r} (names with '_' are not allowed)")
        if name not in FUNCTIONS and name not in ENTRIES:
            hint = _did_you_mean(suggest(name, [*FUNCTIONS, *ENTRIES]))
            raise ActivationError(f"unknown function {name!r}; {hint}allowed: "
                                  f"{', '.join(sorted({*FUNCTIONS, *CATALOGUE_FUNCTIONS}))}")
        if node.keywords:
            raise ActivationError(f"{name}: keyword arguments are not allowed")
        lo, hi = _ARITY.get(name, (1, 1))
        if not lo <= len(node.args) <= hi:
            raise ActivationError(f"{name} takes {lo if lo == hi else f'{lo} to {hi}'} argument(s)")
        if name == "where":
            cond = self._condition(node.args[0])
            return _where(cond, self.build(node.args[1]), self.build(node.args[2]))
        args = [self.build(a) for a in node.args]
        if name in ("Heaviside", "heaviside", "step"):
            return sympy.Heaviside(args[0], sympy.Rational(1, 2))
        if name not in FUNCTIONS:                       # a catalogue activation: its formula at args[0]
            return _catalogue_formula(name).xreplace({x: args[0]})
        return FUNCTIONS[name](*args)

    def _condition(self, node):
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            left, right = self.build(node.left), self.build(node.comparators[0])
            ops = {ast.Gt: sympy.Gt, ast.GtE: sympy.Ge, ast.Lt: sympy.Lt, ast.LtE: sympy.Le}
            for kind, rel in ops.items():
                if isinstance(node.ops[0], kind):
                    return rel(left, right)
        raise ActivationError("where(cond, a, b) needs a single comparison such as x > 0")


def parse_expression(text: str, parameters: dict[str, object] | None = None) -> sympy.Expr:
    """Parse ``text`` into a SymPy expression in :data:`~neurodyn.theory.symbols.x`.

    ``parameters`` maps extra names (no ``_``) to values (numbers or SymPy
    expressions) substituted where the name appears. ``^`` means power.
    """
    if not isinstance(text, str):
        raise ActivationError(f"expected a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ActivationError(f"expression longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise ActivationError("empty expression")
    names = {}
    for key, value in (parameters or {}).items():
        if not key.isidentifier() or "_" in key or key in FUNCTIONS or key in ENTRIES or key == "x":
            raise ActivationError(f"bad parameter name {key!r}")
        names[key] = value if isinstance(value, sympy.Basic) else parse_number(str(value))
    try:
        # '^' is power, with the precedence of '**' (it is not XOR here)
        tree = ast.parse(text.strip().replace("^", "**"), mode="eval")
    except SyntaxError as exc:
        raise ActivationError(f"cannot parse {text!r}: {exc.msg}") from None
    nodes = list(ast.walk(tree))            # the most telling refusal first
    for node in nodes:
        if isinstance(node, ast.Name) and "_" in node.id and node.id not in ENTRIES:
            raise ActivationError(f"forbidden name {node.id!r} (names with '_' are not allowed)")
    for node in nodes:
        if isinstance(node, ast.Attribute):
            raise ActivationError(f"forbidden attribute access '.{node.attr}'")
    body = tree.body
    if (isinstance(body, ast.Name) and body.id != "x" and body.id not in names
            and body.id not in _CONSTANTS and body.id not in FUNCTIONS and body.id not in ENTRIES):
        raise ActivationError(f"unknown activation {body.id!r}: {_did_you_mean(suggest(body.id))}"
                              "see `neurodyn list` (or write an expression in x)")
    try:
        return _Builder(names).build(tree)
    except (ActivationError, RecursionError, MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:                  # noqa: BLE001 - SymPy's refusals become ours
        detail = str(exc).strip().splitlines()
        raise ActivationError(f"cannot build {text.strip()!r}: {detail[0] if detail else type(exc).__name__}") \
            from exc
