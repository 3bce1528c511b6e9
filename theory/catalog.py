"""Built-in activations by name, with their parameters.

>>> get("leaky_relu", alpha=0.1).expr
Max(x/10, x)
>>> get("tanh").expr
tanh(x)
>>> sorted(names())[:4]
['abs', 'cos', 'elu', 'erf']
"""

from __future__ import annotations

from .activation import Activation
from .catalog_entries import ENTRIES, Entry
from .errors import ActivationError
from .parse import parse_expression, parse_number, suggest

__all__ = ["get", "names", "describe", "Entry", "ENTRIES"]


def names() -> list[str]:
    """Names of the built-in activations."""
    return list(ENTRIES)


def describe(name: str) -> str:
    """One line: name, formula, parameter defaults."""
    entry = _entry(name)
    params = ", ".join(f"{k}={v}" for k, v in entry.defaults)
    return f"{name}{'(' + params + ')' if params else ''}: {entry.formula}"


def _entry(name: str) -> Entry:
    try:
        return ENTRIES[name]
    except KeyError:
        close = suggest(name)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise ActivationError(
            f"unknown activation {name!r}; {hint}built-in names: {', '.join(ENTRIES)} "
            "(or give an expression in x)") from None


def get(name: str, **params) -> Activation:
    """The built-in activation ``name``; keyword arguments set family parameters.

    Parameter values may be numbers or decimal strings; they are made exact
    (``0.1`` becomes ``1/10``).
    """
    entry = _entry(name)
    defaults = dict(entry.defaults)
    unknown = set(params) - set(defaults)
    if unknown:
        allowed = ", ".join(defaults) or "none"
        raise ActivationError(f"{name} has no parameter {', '.join(sorted(unknown))} (parameters: {allowed})")
    values = {k: parse_number(str(params.get(k, v))) for k, v in defaults.items()}
    if name == "leaky_relu" and not 0 <= values["alpha"] <= 1:
        raise ActivationError("leaky_relu needs 0 <= alpha <= 1")
    expr = parse_expression(entry.formula, values)
    shown = tuple((k, str(params.get(k, v))) for k, v in defaults.items())
    return Activation(name, expr, shown)
