"""``neurodyn derive``: the laws of an activation, by group of the law registry.

By default the single-input laws; ``--two-input``, ``--geometry`` or ``--all``
another group or every group. The groups and their laws are read from the
registry (:data:`neurodyn.theory.laws.LAW_GROUPS`, :func:`~neurodyn.theory.laws.law_names`)
when the command runs, so a law registered later is shown without changes here.
"""

from __future__ import annotations

import json

from neurodyn.theory import derive
from neurodyn.theory.latex import law_latex, laws_latex
from neurodyn.theory.laws import LAW_GROUPS, law_names
from neurodyn.theory.notation import group_title

from .options import activation_from, add_activation


def _groups(args) -> tuple:
    """The groups of laws asked for, in the registry's order."""
    if args.all:
        return LAW_GROUPS
    if args.two_input:
        return ("two-input",)
    if args.geometry:
        return ("geometry",)
    return ("single-input",)


def run(args, out) -> int:
    act = activation_from(args)
    laws = derive(act)
    groups = _groups(args)
    shown = [(group, [law for law in laws if law.name in law_names(group)]) for group in groups]
    if args.all:                                   # a group with no registered laws is left out
        shown = [(group, members) for group, members in shown if members]
        groups = tuple(group for group, _ in shown)
    if args.json:
        rows = []
        for group, members in shown:
            for law in members:
                rows.append({"law": law.name, "group": group, "defined": law.defined, "closed_form": law.closed,
                             "tactic": law.tactic, "expr": None if not law.defined else str(law.expr),
                             "latex": law_latex(law), "note": law.note or None})
        json.dump({"activation": act.name, "phi": str(act.expr), "groups": list(groups), "laws": rows}, out,
                  indent=2)
        print(file=out)
        return 0
    if args.latex:
        print(r"% " + f"{act.name}: " + act.latex(), file=out)
        chosen = [law for _, members in shown for law in members]
        print(laws_latex(chosen) if chosen else f"% no {', '.join(groups)} laws are registered", file=out)
        return 0
    print(f"{act.name}: phi(x) = {act.expr}", file=out)
    for group, members in shown:
        if len(groups) > 1:
            print(f"\n# {group_title(group)} ({group})", file=out)
        if not members:
            print(f"(no {group} laws are registered)", file=out)
        for law in members:
            if not law.defined:
                print(f"{law.lhs} = not defined: {law.note}", file=out)
                continue
            how = (f"closed form, by {law.tactic}" if law.closed
                   else "no closed form: unevaluated Gaussian expectation (E_z over z ~ N(0,1)), "
                        "integrated numerically")
            print(f"{law.lhs} = {law.expr}\n    [{how}]", file=out)
    return 0


def register(sub) -> None:
    p = sub.add_parser("derive", help="derive the laws of an activation (default: the single-input laws "
                                      "q-map, chi_par, chi_1, chi_2)")
    add_activation(p)
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--latex", action="store_true", help="print LaTeX (align* environment)")
    fmt.add_argument("--json", action="store_true", help="print JSON (each law with its group)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--two-input", action="store_true",
                       help="the two-input laws instead: covariance map, c-map, chi_c, distance map, NTK map")
    which.add_argument("--geometry", action="store_true",
                       help="the laws of the signal manifold's geometry instead")
    which.add_argument("--all", action="store_true", help="every law, group by group")
    p.set_defaults(run=run, parser=p)
