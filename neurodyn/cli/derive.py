"""``neurodyn derive``: the single-input (or, with ``--two-input``, the two-input) laws of an activation."""

from __future__ import annotations

import json

from neurodyn.theory import derive
from neurodyn.theory.latex import law_latex, laws_latex
from neurodyn.theory.laws import SINGLE_INPUT, TWO_INPUT

from .options import activation_from, add_activation


def run(args, out) -> int:
    act = activation_from(args)
    laws = derive(act)
    wanted = TWO_INPUT if args.two_input else SINGLE_INPUT
    laws = [law for law in laws if law.name in wanted]
    if args.json:
        rows = []
        for law in laws:
            rows.append({"law": law.name, "defined": law.defined, "closed_form": law.closed,
                         "tactic": law.tactic, "expr": None if not law.defined else str(law.expr),
                         "latex": law_latex(law), "note": law.note or None})
        json.dump({"activation": act.name, "phi": str(act.expr), "laws": rows}, out, indent=2)
        print(file=out)
        return 0
    if args.latex:
        print(r"% " + f"{act.name}: " + act.latex(), file=out)
        print(laws_latex(laws), file=out)
        return 0
    print(f"{act.name}: phi(x) = {act.expr}", file=out)
    for law in laws:
        if not law.defined:
            print(f"{law.lhs} = not defined: {law.note}", file=out)
            continue
        how = (f"closed form, by {law.tactic}" if law.closed
               else "no closed form: unevaluated Gaussian expectation (E_z over z ~ N(0,1)), "
                    "integrated numerically")
        print(f"{law.lhs} = {law.expr}\n    [{how}]", file=out)
    return 0


def register(sub) -> None:
    p = sub.add_parser("derive", help="derive the single-input laws (q-map, chi_par, chi_1, chi_2)")
    add_activation(p)
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--latex", action="store_true", help="print LaTeX (align* environment)")
    fmt.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--two-input", action="store_true",
                   help="the two-input laws instead: covariance map, c-map, chi_c, distance map, NTK map")
    p.set_defaults(run=run, parser=p)
