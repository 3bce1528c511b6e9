"""The ``neurodyn`` command: a thin layer over the public API, one module per command.

Exit codes: 0 success; 1 a neurodyn error (bad activation, no fixed point,
bad numbers, an unwritable file), printed as one line on stderr without a
traceback (``--traceback`` shows it); 2 a usage error (argparse); 130 interrupted.

Examples::

    neurodyn list
    neurodyn derive tanh
    neurodyn derive erf --latex
    neurodyn derive "x*tanh(log(1+exp(x)))"
    neurodyn fixed-point tanh --sigma-w2 2.25 --sigma-b2 0.05 --dps 50 --json
    neurodyn c-map tanh --sigma-w2 2.25 --sigma-b2 0.05 --c -1:1:201 --csv cmap.csv --png cmap.png
    neurodyn q-map tanh --sigma-w2 2.25 --sigma-b2 0.05 --q 0:3:121 --png qmap.png

Adding a command is one module in this package with ``register(subparsers)``
(which sets ``run``) and one entry in :data:`COMMANDS`. Only the module of the
command being run is imported (the one named like the command, ``fixed-point``
-> ``fixed_point``; every module when there is no such module, for ``--help``
and for a command named otherwise), so a command pays only for its own imports.

>>> import io
>>> out = io.StringIO()
>>> main(["latex", "erf", "--law", "chi_1"], out=out)
0
>>> print(out.getvalue().strip())
\\chi_1(q) = \\frac{4 \\sigma_w^2}{\\pi \\sqrt{4 q + 1}}
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .options import HANDLED, PROG, Parser, UsageError, error_message

__all__ = ["main", "build_parser", "COMMANDS"]

#: The command modules, in the order ``neurodyn --help`` lists them.
COMMANDS = ("listing", "derive", "fixed_point", "q_map", "c_map", "critical", "phase_diagram", "iterate",
            "geometry", "rate", "finite_width", "validate", "curve", "latex", "document", "gallery", "cache")


class _VersionAction(argparse.Action):
    """``--version``: the version is read only when asked for (importlib.metadata is slow to import)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from neurodyn import __version__
        print(f"{parser.prog} {__version__}", file=sys.stdout)        # where argparse's own version goes
        parser.exit()


def _command_word(argv) -> str | None:
    """The command in ``argv``: its first word that is not an option (the top-level options take no value)."""
    return next((word for word in argv if not word.startswith("-")), None)


def _parser_for(argv) -> Parser:
    """The parser with the one command module that ``argv`` names, or with every command."""
    word = _command_word(argv)
    module = word.replace("-", "_") if word else None
    if module in COMMANDS:
        parser = build_parser((module,))
        if word in parser.commands:
            return parser
    return build_parser()


def build_parser(modules=None) -> Parser:
    """The argument parser of ``neurodyn`` with every command of :data:`COMMANDS` (or of ``modules``)."""
    parser = Parser(prog=PROG,
                    description="Mean-field laws of deep random networks: derived, exported, computed.")
    parser.add_argument("--version", action=_VersionAction, help="show the version and exit")
    parser.add_argument("--traceback", action="store_true",
                        help="on an error, show the full Python traceback (for debugging and bug reports)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS if modules is None else modules:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    parser.commands = tuple(sub.choices)
    for command in sub.choices.values():            # also accepted after the command's name
        command.add_argument("--traceback", action="store_true", default=argparse.SUPPRESS,
                             help="on an error, show the full Python traceback")
    return parser


def main(argv=None, out=None) -> int:
    """Run ``neurodyn`` with ``argv`` (default: ``sys.argv[1:]``), printing to ``out``; the exit code."""
    out = out or sys.stdout
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser_for(argv)
    args = parser.parse_args(argv)
    try:
        return args.run(args, out)
    except UsageError as exc:
        getattr(args, "parser", parser).error(str(exc))
    except BrokenPipeError:
        return 0
    except HANDLED as exc:
        if args.traceback:
            raise
        print(f"{PROG}: error: {error_message(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if args.traceback:
            raise
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return 0
