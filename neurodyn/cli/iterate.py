"""``neurodyn iterate``: the signal manifold pushed through the layers, one row per layer.

Rows: ``l, q, chi_1`` (at ``q^l``), ``metric``, ``Hsq`` (``|H|^2``), ``trHsq``
(``|tr H|^2``), ``Rbar``, and with ``--c0`` the pair's ``c`` and ``d`` (with
``--ntk`` the NTK entry ``Theta``). Float64 unless ``--dps N`` (N digits, each
value with its error). State 0 is the input manifold (README, "Geometry"):
``q = metric = q0``, ``Hsq = m/q0``, ``trHsq = m^2/q0``, ``Rbar = m(m-1)/q0``,
``c = c0``, ``d = 2 q0 (1 - c0)``, ``Theta = c0 q0``.

A depth whose estimated time exceeds :data:`SECONDS_LIMIT` is refused unless
``--force`` is given (the message gives the estimate).
"""

from __future__ import annotations

import json

import numpy as np

from neurodyn.numerics import compile_laws
from neurodyn.numerics.iterate import estimate_seconds, iterate
from neurodyn.reports.files import write_csv
from neurodyn.reports.plots import plot_trajectory
from neurodyn.theory import derive

from .options import activation_from, add_activation, add_dps, add_variances, elapsed_on_tty, variance

__all__ = ["SECONDS_LIMIT", "integer_option"]

#: Longest estimated run accepted without --force, seconds.
SECONDS_LIMIT = 600


def integer_option(flag: str, text, lowest: int = 1) -> int:
    """An integer >= ``lowest`` given to ``flag`` (a one-line ValueError naming the option otherwise)."""
    try:
        value = int(str(text).strip())
    except ValueError:
        raise ValueError(f"{flag} must be an integer >= {lowest}, got {text}") from None
    if value < lowest:
        raise ValueError(f"{flag} must be an integer >= {lowest}, got {text}")
    return value


def _number(flag: str, text, check, need: str) -> str:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{flag} must be a number, got {text!r}") from None
    if not np.isfinite(value) or not check(value):
        raise ValueError(f"{flag} must be {need}, got {text}")
    return str(text)


def run(args, out) -> int:
    act = activation_from(args)
    sw2, sb2 = variance(args, "w"), variance(args, "b")
    dim = integer_option("--dim", args.dim)
    layers = integer_option("--layers", args.layers)
    every = integer_option("--every", args.every)
    q0 = _number("--q0", args.q0, lambda v: v > 0, "a finite number > 0")
    c0 = None if args.c0 is None else _number("--c0", args.c0, lambda v: -1 <= v <= 1, "in [-1, 1]")
    if args.ntk and c0 is None:
        raise ValueError("--ntk needs a pair of inputs: give --c0")
    seconds = estimate_seconds(layers, args.dps, c0 is not None)
    if seconds > SECONDS_LIMIT and not args.force:
        raise ValueError(f"--layers {layers} would take up to about {seconds:.0f} s (limit {SECONDS_LIMIT} s): "
                         f"use fewer layers, a lower --dps, or --force")
    f = compile_laws(derive(act))
    how = "float64" if args.dps is None else f"{args.dps} digits"
    with elapsed_on_tty(f"iterating {layers} layers ({how})"):
        traj = iterate(f, sw2, sb2, q0=q0, c0=c0, dim=dim, layers=layers, dps=args.dps, ntk=args.ntk,
                       every=every)
    written = []
    if args.csv:
        written.append(write_csv(args.csv, *traj.to_csv()))
    if args.png:
        written.append(plot_trajectory(args.png, traj, f"{act.name}: $\\sigma_w^2 = {sw2}$, $\\sigma_b^2 = {sb2}$, "
                                                       f"$q_0 = {q0}$, $m = {dim}$"))
    if args.json:
        json.dump(traj.to_json(), out, indent=2)
        print(file=out)
    elif not written:
        print(traj, file=out)
    else:
        for note in traj.notes:
            print(f"note: {note}", file=out)
    if not args.json:
        for path in written:
            print(f"wrote {path}", file=out)
    out.flush()
    return 0


def register(sub) -> None:
    p = sub.add_parser("iterate", help="metric, curvature, correlation and distance layer by layer")
    add_activation(p)
    add_variances(p)
    p.add_argument("--q0", default="1", help="squared radius per neuron of the input sphere, > 0 (default 1)")
    p.add_argument("--c0", help="correlation of a pair of inputs on it, in [-1, 1] (adds c and d)")
    p.add_argument("--dim", default="1", help="dimension m of the input manifold (default 1: a great circle)")
    p.add_argument("--layers", default="20", help="number of layers (default 20)")
    add_dps(p, default=None, help_extra="; default float64")
    p.add_argument("--every", default="1", help="print every K-th layer (and the last)")
    p.add_argument("--ntk", action="store_true", help="also the NTK entry Theta of the pair (needs --c0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--csv", metavar="FILE", help="write the rows as CSV")
    p.add_argument("--png", metavar="FILE", help="write a plot of every quantity against the layer")
    p.add_argument("--force", action="store_true",
                   help=f"run even when the estimated time exceeds {SECONDS_LIMIT} s")
    p.set_defaults(run=run, parser=p)
