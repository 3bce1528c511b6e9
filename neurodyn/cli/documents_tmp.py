"""The LaTeX commands of ``neurodyn``: ``latex``, ``document``, ``gallery``.

Examples::

    neurodyn latex gelu                      # every law, in an align* environment
    neurodyn latex gelu --law chi_1          # one law, one line
    neurodyn document "x*tanh(log(1+exp(x)))" --name mish -o mish.tex
    neurodyn document tanh --pdf -o tanh.pdf # compiled by pdflatex
    neurodyn gallery                         # regenerates derivations/

>>> import io
>>> out = io.StringIO()
>>> _cmd_latex(build_parser().parse_args(["latex", "erf", "--law", "chi_1"]), out)
0
>>> print(out.getvalue().strip())
\\chi_1(q) = \\frac{4 \\sigma_w^2}{\\pi \\sqrt{4 q + 1}}
"""

from __future__ import annotations

import shlex
import time

from neurodyn.theory.latex import law_latex, laws_latex
from neurodyn.theory.laws import derive

from .cli import _UsageError, _add_activation, _params, activation_from, build_parser
from .document import document, gallery, write_document

__all__ = ["register"]


def _activation(args):
    return activation_from(args.activation, _params(args.param), args.name)


def _cmd_latex(args, out):
    act = _activation(args)
    laws = derive(act)
    if args.law is None:
        print(r"% " + f"{act.name}: " + act.latex(), file=out)
        print(laws_latex(laws), file=out)
        return 0
    if args.law not in [law.name for law in laws]:
        raise ValueError(f"no law {args.law!r}; laws: {', '.join(law.name for law in laws)}")
    print(law_latex(laws[args.law]), file=out)
    return 0


def _command_line(args) -> str:
    """The ``neurodyn document`` call that made this document (written into it)."""
    words = ["neurodyn", "document", args.activation]
    for pair in args.param or ():
        words += ["--param", pair]
    if args.name:
        words += ["--name", args.name]
    if args.pdf:
        words.append("--pdf")
    if args.output:
        words += ["-o", args.output]
    return shlex.join(words)


def _cmd_document(args, out):
    if args.pdf and not args.output:
        raise _UsageError("--pdf needs -o FILE.pdf")
    act = _activation(args)
    if not args.output:
        out.write(document(act, name=args.name, command=_command_line(args)))
        return 0
    path = write_document(act, args.output, pdf=args.pdf, name=args.name, command=_command_line(args))
    print(f"wrote {path}", file=out)
    return 0


def _cmd_gallery(args, out):
    start = time.monotonic()
    rows = gallery(args.output)
    for laws in rows:
        closed = [law.name for law in laws if law.defined and law.closed]
        left = [law.name for law in laws if law.defined and not law.closed]
        print(f"{laws.activation.name:12s} closed form: {', '.join(closed) or 'none'}; "
              f"Gaussian integrals: {', '.join(left) or 'none'}", file=out)
    print(f"wrote {len(rows)} documents and README.md to {args.output} in {time.monotonic() - start:.1f} s",
          file=out)
    return 0


def register(subparsers) -> None:
    """Add the ``latex``, ``document`` and ``gallery`` subcommands to the ``neurodyn`` parser."""
    p = subparsers.add_parser("latex", help="the laws as LaTeX (all in align*, or one with --law)")
    _add_activation(p)
    p.add_argument("--law", help="only this law (q_map, chi_par, chi_1, chi_2, ...), as one line")
    p.set_defaults(run=_cmd_latex, parser=p)

    p = subparsers.add_parser("document", help="a standalone LaTeX derivation document (or its PDF)")
    _add_activation(p)
    p.add_argument("-o", "--output", help="file to write (default: print the LaTeX)")
    p.add_argument("--pdf", action="store_true", help="compile with pdflatex and write the PDF to -o")
    p.set_defaults(run=_cmd_document, parser=p)

    p = subparsers.add_parser("gallery", help="regenerate derivations/: a document per built-in activation")
    p.add_argument("-o", "--output", default="derivations", help="folder (default: derivations)")
    p.set_defaults(run=_cmd_gallery, parser=p)
