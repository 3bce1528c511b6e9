"""``neurodyn fixed-point``: q*, chi_1, chi_2, chi_par, xi_q, then c*, chi_c(c*), xi_c and the phase.

The single-input block is printed (and flushed) as soon as it is known; the
two-input part follows (with an elapsed-time line on a terminal). When the
two-input part fails, the single-input block stays printed, the failure is one
line on stderr and the exit code is 1.
"""

from __future__ import annotations

import json
import sys

from neurodyn.numerics.criticality import correlation_fixed_point
from neurodyn.numerics.fixedpoint import fixed_point

from .options import (HANDLED, PROG, add_activation, add_dps, add_variances, compiled_from, elapsed_on_tty,
                      error_message, nonnegative, variance)


def _two_input_rows(single, both) -> str:
    """The rows ``str(both)`` adds to ``str(single)``."""
    head, full = str(single), str(both)
    return full[len(head):].lstrip("\n") if full.startswith(head) else full


def run(args, out) -> int:
    sw2, sb2 = variance(args, "w"), variance(args, "b")
    q0 = nonnegative("--q0", args.q0)
    f = compiled_from(args)
    fp = fixed_point(f, sw2, sb2, dps=args.dps, q0=q0, two_input=False)
    if not args.json:
        print(f"{f.activation.name} at sigma_w2 = {sw2}, sigma_b2 = {sb2} ({args.dps} digits)", file=out)
        print(fp, file=out)
        out.flush()
    if args.single_input:
        if args.json:
            json.dump(fp.to_json(), out, indent=2)
            print(file=out)
        return 0
    failure = None
    try:
        with elapsed_on_tty("c*: two-input fixed point"):
            both = correlation_fixed_point(f, fp)
    except HANDLED as exc:
        if args.traceback:
            raise
        failure, both = exc, None
    if args.json:
        data = (both or fp).to_json()
        if failure is not None:
            data["c_star"] = None
            data["c_star_note"] = error_message(failure)
        json.dump(data, out, indent=2)
        print(file=out)
    elif both is not None:
        print(_two_input_rows(fp, both), file=out)
    out.flush()
    if failure is not None:
        print(f"{PROG}: error: c*: {error_message(failure)}", file=sys.stderr)
        return 1
    return 0


def register(sub) -> None:
    p = sub.add_parser("fixed-point", help="q*, chi_1, chi_2, chi_par, xi_q, then c*, chi_c(c*), xi_c, phase")
    add_activation(p)
    add_variances(p)
    add_dps(p)
    p.add_argument("--q0", default="1", help="starting length of the iteration, >= 0 (default 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--single-input", action="store_true",
                   help="skip the two-input quantities (c*, chi_c(c*), xi_c, phase)")
    p.set_defaults(run=run, parser=p)
