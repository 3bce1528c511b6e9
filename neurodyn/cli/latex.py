"""``neurodyn latex``: every law (in an align* environment, group by group) or one (``--law``) as LaTeX.

The laws and their groups are read from the law registry when the command runs,
so a law registered later is printed without changes here.
"""

from __future__ import annotations

from neurodyn.theory import derive
from neurodyn.theory.latex import law_latex, laws_latex
from neurodyn.theory.laws import LAW_GROUPS, law_names

from .options import activation_from, add_activation


def run(args, out) -> int:
    act = activation_from(args)
    laws = derive(act)
    if args.law is None:
        ordered = [law for group in LAW_GROUPS for law in laws if law.name in law_names(group)]
        print(r"% " + f"{act.name}: " + act.latex(), file=out)
        print(laws_latex(ordered), file=out)
        return 0
    if args.law not in [law.name for law in laws]:
        raise ValueError(f"no law {args.law!r}; laws: {', '.join(law.name for law in laws)}")
    print(law_latex(laws[args.law]), file=out)
    return 0


def register(sub) -> None:
    p = sub.add_parser("latex", help="the laws as LaTeX (all in align*, or one with --law)")
    add_activation(p)
    p.add_argument("--law", help="only this law (q_map, chi_par, chi_1, chi_2, ...; every name: "
                                 "neurodyn derive ACT --all --json), as one line")
    p.set_defaults(run=run, parser=p)
