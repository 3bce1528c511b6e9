"""``neurodyn q-map``: the length map V(q) and its slope chi_par(q) = V'(q) on a grid, fixed points marked.

Float64 by default; ``--dps N`` computes every point at N digits with its
error. Printed as a table, or written as CSV/JSON/PNG.
"""

from __future__ import annotations

import numpy as np

from neurodyn.numerics import compile_laws
from neurodyn.theory import derive

from .curves import add_outputs, decimal_grid, tabulate
from .options import activation_from, add_activation, add_dps, add_variances, elapsed_on_tty, variance


def run(args, out) -> int:
    act = activation_from(args)
    sw2, sb2 = variance(args, "w"), variance(args, "b")
    points = decimal_grid(args.q, "--q")
    if any(float(p) < 0 for p in points):
        raise ValueError(f"--q must be >= 0 on the whole grid, got {args.q}")
    f = compile_laws(derive(act))
    f.q_map(float(points[0]), sw2, sb2)                # validates the variances before any work

    def evaluate(qs, dps):
        if dps is None:
            arr = np.array([float(q) for q in qs])
            return f.evaluate(["q_map", "chi_par"], arr, sw2, sb2)
        rows = {"q_map": [], "chi_par": []}
        with elapsed_on_tty(f"q-map at {dps} digits, {len(qs)} points"):
            for q in qs:
                v = f.evaluate(["q_map", "chi_par"], q, sw2, sb2, dps=dps)
                rows["q_map"].append(v["q_map"])
                rows["chi_par"].append(v["chi_par"])
        return rows

    how = "float64" if args.dps is None else f"{args.dps} digits"
    return tabulate(out, args, points=points, evaluate=evaluate, names=("q", "q_map", "chi_par"),
                    header=f"{act.name} at sigma_w2 = {sw2}, sigma_b2 = {sb2}: V(q) and chi_par(q), "
                           f"{len(points)} points ({how})",
                    meta={"activation": act.name, "sigma_w2": sw2, "sigma_b2": sb2},
                    plot_names=("$q$", "$V(q)$", r"$\chi_\parallel(q) = V'(q)$"),
                    title=f"{act.name}: length map at $\\sigma_w^2 = {sw2}$, $\\sigma_b^2 = {sb2}$")


def register(sub) -> None:
    p = sub.add_parser("q-map", help="the length map V(q) and chi_par(q) on a grid, with its fixed points")
    add_activation(p)
    add_variances(p)
    p.add_argument("--q", default="0:3:121", metavar="START:STOP:NUM",
                   help="grid of lengths q >= 0 (default 0:3:121)")
    add_dps(p, default=None, help_extra="; default float64")
    add_outputs(p)
    p.set_defaults(run=run, parser=p)
