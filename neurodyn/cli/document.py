"""``neurodyn document``: a standalone LaTeX derivation document, and with ``--pdf`` its PDF beside it.

Examples::

    neurodyn document "x*tanh(log(1+exp(x)))" --name mish -o mish.tex
    neurodyn document tanh -o tanh.tex --pdf       # writes tanh.tex and tanh.pdf
    neurodyn document tanh --sigma-w2 2.25 --sigma-b2 0.05
"""

from __future__ import annotations

import shlex

from neurodyn.reports.document import STANDARD_POINT, document, write_document

from .options import UsageError, activation_from, add_activation, add_variances, variance


def command_line(args) -> str:
    """The ``neurodyn document`` call that made this document (written into it)."""
    words = ["neurodyn", "document", args.activation]
    for pair in args.param or ():
        words += ["--param", pair]
    if args.name:
        words += ["--name", args.name]
    for flag, value, default in (("--sigma-w2", args.sigma_w2, STANDARD_POINT[0]),
                                 ("--sigma-b2", args.sigma_b2, STANDARD_POINT[1])):
        if value != default:
            words += [flag, value]
    if args.sigma_w:
        words += ["--sigma-w", args.sigma_w]
    if args.sigma_b:
        words += ["--sigma-b", args.sigma_b]
    if args.pdf:
        words.append("--pdf")
    if args.output:
        words += ["-o", args.output]
    return shlex.join(words)


def _point(args):
    """(sigma_w2, sigma_b2): a standard deviation given replaces the default variance."""
    if args.sigma_w is not None and args.sigma_w2 == STANDARD_POINT[0]:
        args.sigma_w2 = None
    if args.sigma_b is not None and args.sigma_b2 == STANDARD_POINT[1]:
        args.sigma_b2 = None
    return variance(args, "w"), variance(args, "b")


def run(args, out) -> int:
    if args.pdf and not args.output:
        raise UsageError("--pdf needs -o FILE (FILE.tex and FILE.pdf are written)")
    act = activation_from(args)
    sw2, sb2 = _point(args)
    if not args.output:
        out.write(document(act, name=args.name, command=command_line(args), sigma_w2=sw2, sigma_b2=sb2))
        return 0
    paths = write_document(act, args.output, pdf=args.pdf, name=args.name, command=command_line(args),
                           sigma_w2=sw2, sigma_b2=sb2)
    print("wrote " + " and ".join(str(p) for p in paths), file=out)
    return 0


def register(sub) -> None:
    p = sub.add_parser("document", help="a standalone LaTeX derivation document (and its PDF with --pdf)")
    add_activation(p)
    add_variances(p, defaults=STANDARD_POINT)
    p.add_argument("-o", "--output", help="file to write (default: print the LaTeX)")
    p.add_argument("--pdf", action="store_true",
                   help="also compile with pdflatex: -o X.tex (or X) writes X.tex and X.pdf")
    p.set_defaults(run=run, parser=p)
