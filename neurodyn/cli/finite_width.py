"""``neurodyn finite-width``: the 1/n theory layer by layer, ``K``, ``V`` and ``G1`` (docs/finite_width.md §3).

One input by default; ``--c0`` adds the pair-index form for two inputs of equal
norm (``V_12_12``, ``G1_12``, the correlation ``c`` and its predicted 1/n bias
``c_bias = n(E[c_hat] - c)``). Layer 1 is the input layer: ``K = --q0``, ``V = 0``,
``G1 = 0``. Float64 unless ``--dps N`` (N digits); every number carries an error
estimate. ``--json`` prints ``{"layers": [{"l", "K", "V", "G1", ...}]}`` with each number
a ``{"value", "error"}``.

Examples::

    neurodyn finite-width relu --sigma-w2 2 --sigma-b2 0 --depth 20 --json
    neurodyn finite-width tanh --sigma-w2 6.25 --sigma-b2 0.09 --q0 4 --c0 0.9 --depth 12 --json
"""

from __future__ import annotations

import math

from neurodyn.numerics import compile_laws
from neurodyn.numerics.finite_width import finite_width
from neurodyn.theory import derive

from .iterate import integer_option
from .options import activation_from, add_activation, add_dps, add_variances, elapsed_on_tty, emit, variance


def _number(flag: str, text, low, high, need: str) -> str:
    """A decimal string within [low, high] (one-line ValueError naming the option otherwise)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{flag} must be a number, got {text!r}") from None
    if not math.isfinite(value) or not low(value) or not high(value):
        raise ValueError(f"{flag} must be {need}, got {text}")
    return str(text)


def run(args, out) -> int:
    act = activation_from(args)
    sw2, sb2 = variance(args, "w"), variance(args, "b")
    depth = integer_option("--depth", args.depth)
    q0 = _number("--q0", args.q0, lambda v: v > 0, lambda v: True, "a finite number > 0")
    c0 = None if args.c0 is None else _number("--c0", args.c0, lambda v: v >= -1, lambda v: v <= 1, "in [-1, 1]")
    f = compile_laws(derive(act))
    how = "float64" if args.dps is None else f"{args.dps} digits"
    with elapsed_on_tty(f"1/n theory, {depth} layers ({how})"):
        result = finite_width(f, sw2, sb2, depth=depth, q0=q0, c0=c0, dps=args.dps)
    return emit(out, args.json, result, "leading 1/n corrections (docs/finite_width.md §3)")


def register(sub) -> None:
    p = sub.add_parser("finite-width", help="1/n theory: four-point vertex V and kernel correction G1 per layer")
    add_activation(p)
    add_variances(p)
    p.add_argument("--depth", default="20", help="number of layers, layer 1 = the input layer (default 20)")
    p.add_argument("--q0", default="1", help="the input kernel K at layer 1, > 0 (default 1)")
    p.add_argument("--c0", help="correlation of two inputs of equal norm, in [-1, 1] (adds the pair-index form)")
    add_dps(p, default=None, help_extra="; default float64")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run, parser=p)
