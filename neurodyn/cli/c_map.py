"""``neurodyn c-map``: the correlation map C(c) and its slope chi_c(c) at the length fixed point q*.

One ``--c``: both at ``--dps`` digits (default 30) with their errors. A grid
``--c START:STOP:NUM`` (e.g. ``-1:1:201``): a table in float64, or at ``--dps``
digits per point when given, printed or written as CSV/JSON/PNG with the
c-map's fixed points marked.
"""

from __future__ import annotations

import json

import numpy as np

from neurodyn.numerics import compile_laws, fixed_point
from neurodyn.theory import derive

from .curves import add_outputs, decimal_grid, tabulate
from .options import (DEFAULT_DPS, activation_from, add_activation, add_dps, add_variances, elapsed_on_tty,
                      is_grid, variance)


def _one(out, args, act, f, sw2, sb2) -> int:
    dps = args.dps or DEFAULT_DPS
    f.c_map(args.c, sw2, sb2, 1.0)                  # validates c before any work
    fp = fixed_point(f, sw2, sb2, dps=dps)
    vals = f.evaluate_at(["c_map", "chi_c"], dict(c=args.c, q_star=fp.value, sigma_w2=sw2, sigma_b2=sb2), dps=dps)
    if args.json:
        data = {"activation": act.name, "sigma_w2": {"value": sw2, "error": "0"},
                "sigma_b2": {"value": sb2, "error": "0"}, "dps": dps, "c": {"value": args.c, "error": "0"},
                "q_star": fp.q_star.to_json(), "c_map": vals["c_map"].to_json(), "chi_c": vals["chi_c"].to_json()}
        json.dump(data, out, indent=2)
        print(file=out)
    else:
        print(f"{act.name} at sigma_w2 = {sw2}, sigma_b2 = {sb2}, c = {args.c} ({dps} digits)", file=out)
        print(f"q_star = {fp.q_star}\nc_map  = {vals['c_map']}\nchi_c  = {vals['chi_c']}", file=out)
    return 0


def run(args, out) -> int:
    act = activation_from(args)
    sw2, sb2 = variance(args, "w"), variance(args, "b")
    f = compile_laws(derive(act))
    if not is_grid(args.c) and not (args.csv or args.png or (args.json and args.json != "-")):
        return _one(out, args, act, f, sw2, sb2)
    points = decimal_grid(args.c, "--c")
    f.c_map(np.array([float(p) for p in points]), sw2, sb2, 1.0)     # validates the grid before any work
    fp = fixed_point(f, sw2, sb2, dps=args.dps or 17)
    q_star = float(fp.value) if args.dps is None else fp.value

    def evaluate(cs, dps):
        if dps is None:
            arr = np.array([float(c) for c in cs])
            return {"c_map": f.c_map(arr, sw2, sb2, q_star), "chi_c": f.chi_c(arr, sw2, sb2, q_star)}
        rows = {"c_map": [], "chi_c": []}
        with elapsed_on_tty(f"c-map at {dps} digits, {len(cs)} points"):
            for c in cs:
                v = f.evaluate_at(["c_map", "chi_c"], dict(c=c, q_star=q_star, sigma_w2=sw2, sigma_b2=sb2), dps=dps)
                rows["c_map"].append(v["c_map"])
                rows["chi_c"].append(v["chi_c"])
        return rows

    meta = {"activation": act.name, "sigma_w2": sw2, "sigma_b2": sb2, "q_star": fp.q_star.to_json()}
    how = "float64" if args.dps is None else f"{args.dps} digits"
    return tabulate(out, args, points=points, evaluate=evaluate, names=("c", "c_map", "chi_c"),
                    header=f"{act.name} at sigma_w2 = {sw2}, sigma_b2 = {sb2}: C(c) and chi_c(c) at "
                           f"q* = {float(fp.value):.15g}, {len(points)} points ({how})",
                    meta=meta, plot_names=("$c$", "$C(c)$", r"$\chi_c(c)$"),
                    title=f"{act.name}: correlation map at $\\sigma_w^2 = {sw2}$, $\\sigma_b^2 = {sb2}$")


def register(sub) -> None:
    p = sub.add_parser("c-map", help="the correlation map C(c) and chi_c(c) at q*, at one c or on a grid")
    add_activation(p)
    add_variances(p)
    p.add_argument("--c", required=True, metavar="C or START:STOP:NUM",
                   help="the input correlation in [-1, 1], or a grid of them (e.g. -1:1:201)")
    add_dps(p, default=None, help_extra="; one --c: 30 digits by default; a grid: float64 unless --dps is given")
    add_outputs(p)
    p.set_defaults(run=run, parser=p)
