"""``neurodyn rate``: how a quantity approaches its limit with depth (algebraic at marginal points).

Finds the kind of point by itself (``q* = 0`` marginal, scale-invariant critical point,
critical line with ``--critical``, or not marginal: exponential with ``xi``), derives the law
(exponent, constant exact where closed, first correction) and confirms the constant by deep
iteration (10^6 layers by default; ``--no-confirm`` skips it). A quantity that is not defined
there (``Hsq`` for ReLU) is an error (exit 1); with ``--json`` its null record is printed first.
"""

from __future__ import annotations

import json

from neurodyn.numerics import compile_laws
from neurodyn.numerics.rates import QUANTITIES, rate
from neurodyn.theory import NotDefinedError, derive

from .iterate import integer_option
from .options import UsageError, activation_from, add_activation, add_dps, add_variances, elapsed_on_tty, variance


def run(args, out) -> int:
    act = activation_from(args)
    sb2 = variance(args, "b")
    if args.critical and args.fold:
        raise UsageError("give --critical or --fold, not both")
    if args.critical or args.fold:
        if args.sigma_w2 is not None or args.sigma_w is not None:
            raise UsageError(f"--{'critical' if args.critical else 'fold'} solves for sigma_w2: do not give --sigma-w2")
        sw2 = None
    else:
        sw2 = variance(args, "w")
    dim = integer_option("--dim", args.dim)
    depth = None if args.depth is None else integer_option("--depth", args.depth, lowest=100)
    f = compile_laws(derive(act))
    with elapsed_on_tty(f"rate of {args.quantity}" + ("" if args.no_confirm else " (deep iteration)")):
        result = rate(f, sw2, sb2, args.quantity, q0=args.q0, c0=args.c0, dim=dim, dps=args.dps,
                      critical=args.critical, fold=args.fold, confirm=not args.no_confirm, depth=depth)
    if args.json:
        json.dump(result.to_json(), out, indent=2)
        print(file=out)
    elif result.kind is not None:
        print(f"{act.name} at sigma_w2 = {result.sigma_w2}, sigma_b2 = {sb2} ({args.dps} digits)", file=out)
        print(result, file=out)
    out.flush()
    if result.kind is None:
        raise NotDefinedError(f"{args.quantity} is not defined here: " + "; ".join(result.notes))
    return 0


def register(sub) -> None:
    p = sub.add_parser("rate", help="the rate at which a quantity approaches its limit with depth (algebraic "
                                    "at marginal points, exponential elsewhere)")
    add_activation(p)
    add_variances(p)
    p.add_argument("--critical", action="store_true",
                   help="solve sigma_w2 on the critical line chi_1 = 1 at the given sigma_b2 first")
    p.add_argument("--fold", action="store_true",
                   help="solve sigma_w2 at the first saddle-node of the q-map (V(q*) = q*, V'(q*) = 1) at the given "
                        "sigma_b2 first (quantity q)")
    p.add_argument("--quantity", default="q", choices=QUANTITIES,
                   help="q, c (as 1 - c_l or c_l - c*), d, metric, Hsq, trHsq, Rbar or ntk (default q)")
    p.add_argument("--dim", default="1", help="dimension m of the input manifold (geometry; default 1)")
    p.add_argument("--q0", help="squared length of the inputs at layer 0 (default q* where q* > 0, else 1)")
    p.add_argument("--c0", help="correlation of the pair at layer 0 (default 0)")
    add_dps(p)
    p.add_argument("--depth", help="depth of the confirming iteration (default 1000000)")
    p.add_argument("--no-confirm", action="store_true", help="skip the confirmation by deep iteration")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run, parser=p)
