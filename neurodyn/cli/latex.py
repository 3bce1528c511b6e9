"""``neurodyn latex``: every law (in an align* environment) or one (``--law``) as LaTeX."""

from __future__ import annotations

from neurodyn.theory import derive
from neurodyn.theory.latex import law_latex, laws_latex

from .options import activation_from, add_activation


def run(args, out) -> int:
    act = activation_from(args)
    laws = derive(act)
    if args.law is None:
        print(r"% " + f"{act.name}: " + act.latex(), file=out)
        print(laws_latex(laws), file=out)
        return 0
    if args.law not in [law.name for law in laws]:
        raise ValueError(f"no law {args.law!r}; laws: {', '.join(law.name for law in laws)}")
    print(law_latex(laws[args.law]), file=out)
    return 0


def register(sub) -> None:
    p = sub.add_parser("latex", help="the laws as LaTeX (all in align*, or one with --law)")
    add_activation(p)
    p.add_argument("--law", help="only this law (q_map, chi_par, chi_1, chi_2, ...), as one line")
    p.set_defaults(run=run, parser=p)
