"""What every ``neurodyn`` command shares: options, argument checks, output and errors.

Exit codes: 0 success; 1 a neurodyn error (bad activation, no fixed point, bad
numbers, a file that cannot be written), printed as one line on stderr without a
traceback; 2 a usage error (argparse); 130 interrupted.

>>> parse_grid("-1:1:5", "--c")
array([-1. , -0.5,  0. ,  0.5,  1. ])
>>> parse_grid("0.25", "--c")
array([0.25])
>>> nonnegative("--q0", "-1")
Traceback (most recent call last):
...
ValueError: --q0 must be a finite number >= 0, got -1
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import threading
import time
from decimal import Decimal, InvalidOperation

from neurodyn.theory.errors import NeurodynError

__all__ = ["PROG", "UsageError", "Parser", "add_activation", "add_variances", "add_dps", "activation_from",
           "params", "variance", "parse_grid", "is_grid", "nonnegative", "emit", "error_message", "HANDLED",
           "elapsed_on_tty", "DEFAULT_DPS", "compiled_from"]

PROG = "neurodyn"
#: Digits when a command computes at high precision and --dps is not given.
DEFAULT_DPS = 30
#: Exceptions that become a one-line error and exit code 1.
HANDLED = (NeurodynError, ValueError, ArithmeticError, TypeError, OSError, ImportError)


class UsageError(Exception):
    """A mistake in how the command was called: argparse prints usage and exits 2."""


class Parser(argparse.ArgumentParser):
    """argparse, where a value like ``-1:1:201`` (a grid from a negative start) is a value, not an option."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-(\d|\.\d)[\d.eE+\-:]*$")


# ----------------------------------------------------------------------------------------
# options
# ----------------------------------------------------------------------------------------
def add_activation(p) -> None:
    """The positional activation and its ``--param``/``--name`` options."""
    p.add_argument("activation", help="a built-in name (see 'neurodyn list') or an expression in x")
    p.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="a family parameter (e.g. alpha=0.1), or a name used in the expression; repeatable")
    p.add_argument("--name", help="name for an expression (default: the expression)")


def add_variances(p, weights: bool = True, required: bool = False, defaults=(None, None)) -> None:
    """``--sigma-w2``/``--sigma-b2`` (variances) and ``--sigma-w``/``--sigma-b`` (standard deviations)."""
    if weights:
        p.add_argument("--sigma-w2", default=defaults[0],
                       help="weight variance sigma_w^2" + (f" (default {defaults[0]})" if defaults[0] else ""))
    p.add_argument("--sigma-b2", default=defaults[1],
                   help="bias variance sigma_b^2" + (f" (default {defaults[1]})" if defaults[1] else ""))
    if weights:
        p.add_argument("--sigma-w", help="weight standard deviation (instead of --sigma-w2)")
    p.add_argument("--sigma-b", help="bias standard deviation (instead of --sigma-b2)")


def _digits(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def add_dps(p, default=DEFAULT_DPS, help_extra: str = "") -> None:
    """``--dps N``: significant digits (checked by the numerics: 1 to 1000)."""
    shown = f"default {default}" if default is not None else "default: float64"
    p.add_argument("--dps", type=_digits, default=default,
                   help=f"significant digits ({shown}, at most 1000){help_extra}")


# ----------------------------------------------------------------------------------------
# reading the arguments
# ----------------------------------------------------------------------------------------
def params(pairs) -> dict:
    """``--param NAME=VALUE`` pairs as a dict of strings."""
    out = {}
    for pair in pairs or ():
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise UsageError(f"--param takes NAME=VALUE, got {pair!r}")
        out[name.strip()] = value.strip()
    return out


def activation_from(args):
    """The activation of a command: a catalogue name (with parameters) or an expression in x."""
    from neurodyn.theory import Activation, catalog

    spec, given = args.activation, params(args.param)
    if spec in catalog.ENTRIES:
        return catalog.get(spec, **given)
    return Activation.parse(spec, name=args.name, params=given)


def compiled_from(args):
    """The compiled laws of a command's activation (:class:`~neurodyn.numerics.compile.CompiledLaws`).

    A catalogue name without ``--param`` is loaded from its stored program when that
    is fresh: no SymPy is imported (the same numbers). Otherwise the laws are
    derived and compiled, and a catalogue entry's program is then kept in the user
    cache for the next call.
    """
    from neurodyn.numerics.compile import compile_laws, load_stored, store_program
    from neurodyn.theory.catalog_entries import ENTRIES

    stock = args.activation in ENTRIES and not args.param
    if stock:
        compiled = load_stored(args.activation)
        if compiled is not None:
            return compiled
    from neurodyn.theory import derive
    compiled = compile_laws(derive(activation_from(args)))
    if stock:
        store_program(args.activation, compiled, user=True)
    return compiled


def variance(args, which: str) -> str:
    """``--sigma-{which}2``, or the square of ``--sigma-{which}``, as an exact decimal string."""
    var, std = getattr(args, f"sigma_{which}2"), getattr(args, f"sigma_{which}", None)
    if var is not None and std is not None:
        raise UsageError(f"give --sigma-{which}2 or --sigma-{which}, not both")
    if var is None and std is None:
        raise UsageError(f"--sigma-{which}2 (variance) or --sigma-{which} (standard deviation) is required")
    if std is None:
        return var
    try:
        d = Decimal(std)
    except InvalidOperation:
        raise ValueError(f"--sigma-{which} must be a number, got {std!r}") from None
    if not d.is_finite() or d < 0:
        raise ValueError(f"--sigma-{which} must be a finite number >= 0, got {std}")
    return str(d * d)


def is_grid(text: str) -> bool:
    """Whether an option value is a grid ``START:STOP:NUM`` rather than one number."""
    return ":" in text


def parse_grid(text: str, flag: str):
    """``START:STOP:NUM`` (``NUM`` points, both ends included) or one number, as a float64 array."""
    parts = text.split(":")
    try:
        if len(parts) == 3:
            start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
        elif len(parts) == 1:
            start = stop = float(parts[0])
            num = 1
        else:
            raise ValueError
    except ValueError:
        raise UsageError(f"{flag} takes START:STOP:NUM (e.g. 0.5:9:200) or one number, got {text!r}") from None
    if num < 1:
        raise UsageError(f"{flag}: NUM must be >= 1")
    if not (math.isfinite(start) and math.isfinite(stop)):
        raise UsageError(f"{flag}: START and STOP must be finite numbers, got {text!r}")
    import numpy as np
    return np.linspace(start, stop, num)


def nonnegative(flag: str, text) -> float:
    """A finite number >= 0 given to option ``flag`` (the error names the option)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{flag} must be a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{flag} must be a finite number >= 0, got {text}")
    return value


# ----------------------------------------------------------------------------------------
# output
# ----------------------------------------------------------------------------------------
def emit(out, as_json: bool, result, header: str) -> int:
    """Print ``result`` as one JSON object (``to_json()``) or as a header and its text; flush."""
    if as_json:
        json.dump(result.to_json(), out, indent=2)
        print(file=out)
    else:
        print(header, file=out)
        print(result, file=out)
    out.flush()
    return 0


def error_message(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none)."""
    text = str(exc)
    return text.splitlines()[0] if text.strip() else type(exc).__name__


class elapsed_on_tty:
    """Context manager: ``label ... N s`` on stderr, updated every half second, only on a terminal.

    Off a terminal (a pipe, a file, a test) it prints nothing.
    """

    def __init__(self, label: str, stream=None):
        self.label, self.stream = label, stream or sys.stderr
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        if getattr(self.stream, "isatty", lambda: False)():
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self):
        start = time.monotonic()
        while not self._stop.wait(0.5):
            self.stream.write(f"\r{self.label} ... {time.monotonic() - start:4.0f} s")
            self.stream.flush()

    def __exit__(self, *exc):
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.stream.write("\r\033[K")
            self.stream.flush()
        return False
