"""``neurodyn critical``: sigma_w2 on the critical line chi_1 = 1 at a given sigma_b2."""

from __future__ import annotations

from neurodyn.numerics import compile_laws, critical_point
from neurodyn.theory import derive

from .options import activation_from, add_activation, add_dps, add_variances, emit, variance


def run(args, out) -> int:
    act = activation_from(args)
    sb2 = variance(args, "b")
    cp = critical_point(compile_laws(derive(act)), sb2, dps=args.dps)
    return emit(out, args.json, cp, f"{act.name}: critical line chi_1 = 1 at sigma_b2 = {sb2} ({args.dps} digits)")


def register(sub) -> None:
    p = sub.add_parser("critical", help="sigma_w2 on the critical line chi_1 = 1 at a given sigma_b2")
    add_activation(p)
    add_variances(p, weights=False)
    add_dps(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run, parser=p)
