"""Safe parsing of user strings into SymPy expressions in ``x``.

User text is never given to ``eval``, ``exec``, ``sympify`` or ``lambdify``.
It is parsed by Python's :mod:`ast` into a tree that is then walked against a
whitelist: numbers, the variable ``x``, declared parameters, the constants
``pi`` and ``E``, arithmetic operators, and the mathematical functions in
:data:`FUNCTIONS`. Anything else (attribute access, names with ``_``,
lambdas, subscripts, keywords, strings, comprehensions) raises
:class:`~neurodyn.theory.errors.ActivationError` and nothing is executed.

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

import sympy

from .errors import ActivationError
from .symbols import x

__all__ = ["parse_expression", "parse_number", "FUNCTIONS"]

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
        if "_" in name:
            raise ActivationError(f"forbidden name {name!r} (names with '_' are not allowed)")
        if name == "x":
            return x
        if name in self.names:
            return self.names[name]
        if name in _CONSTANTS:
            return _CONSTANTS[name]
        if name in FUNCTIONS:
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
        if "_" in name:
            raise ActivationError(f"forbidden name {name!r} (names with '_' are not allowed)")
        if name not in FUNCTIONS:
            raise ActivationError(f"unknown function {name!r}; allowed: {', '.join(sorted(FUNCTIONS))}")
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
        if not key.isidentifier() or "_" in key or key in FUNCTIONS or key == "x":
            raise ActivationError(f"bad parameter name {key!r}")
        names[key] = value if isinstance(value, sympy.Basic) else parse_number(str(value))
    try:
        # '^' is power, with the precedence of '**' (it is not XOR here)
        tree = ast.parse(text.strip().replace("^", "**"), mode="eval")
    except SyntaxError as exc:
        raise ActivationError(f"cannot parse {text!r}: {exc.msg}") from None
    nodes = list(ast.walk(tree))            # the most telling refusal first
    for node in nodes:
        if isinstance(node, ast.Name) and "_" in node.id:
            raise ActivationError(f"forbidden name {node.id!r} (names with '_' are not allowed)")
    for node in nodes:
        if isinstance(node, ast.Attribute):
            raise ActivationError(f"forbidden attribute access '.{node.attr}'")
    return _Builder(names).build(tree)
