"""``neurodyn geometry``: at the fixed point, the fate of metric, curvature, lengths, correlation, distance.

Each quantity converges (to a closed form in chi_1, chi_2, q*), grows linearly
(slope), or grows/shrinks exponentially (factor per layer), for the input
sphere of squared radius q* (lengths: a great circle on it).
"""

from __future__ import annotations

from neurodyn.numerics import compile_laws
from neurodyn.numerics.geometry import geometry
from neurodyn.theory import derive

from .iterate import integer_option
from .options import activation_from, add_activation, add_dps, add_variances, elapsed_on_tty, emit, variance


def run(args, out) -> int:
    act = activation_from(args)
    sw2, sb2 = variance(args, "w"), variance(args, "b")
    dim = integer_option("--dim", args.dim)
    f = compile_laws(derive(act))
    with elapsed_on_tty("fixed points and fates"):
        geo = geometry(f, sw2, sb2, dim=dim, dps=args.dps)
    if args.json:
        return emit(out, True, geo, "")
    print(geo, file=out)
    out.flush()
    return 0


def register(sub) -> None:
    p = sub.add_parser("geometry", help="the fate with depth of metric, curvature and distance at the fixed point")
    add_activation(p)
    add_variances(p)
    p.add_argument("--dim", default="1", help="dimension m of the input manifold (default 1)")
    add_dps(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run, parser=p)
