"""The ``neurodyn`` command: a thin layer over the public API.

Exit codes: 0 success; 1 a neurodyn error (bad activation, no fixed point,
bad numbers), printed as one line on stderr without a traceback; 2 a usage
error (argparse); 130 interrupted.

Examples::

    neurodyn list
    neurodyn derive tanh
    neurodyn derive erf --latex
    neurodyn derive "x*tanh(log(1+exp(x)))"
    neurodyn fixed-point tanh --sigma-w2 2.25 --sigma-b2 0.05 --dps 50 --json
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal, InvalidOperation

from neurodyn.theory import catalog
from neurodyn.theory.activation import Activation
from neurodyn.theory.errors import NeurodynError
from neurodyn.theory.latex import law_latex, laws_latex
from neurodyn.theory.laws import SINGLE_INPUT, TWO_INPUT, derive

from .compile import compile_laws
from .fixedpoint import fixed_point

PROG = "neurodyn"


class _UsageError(Exception):
    pass


def _params(pairs) -> dict:
    out = {}
    for pair in pairs or ():
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise _UsageError(f"--param takes NAME=VALUE, got {pair!r}")
        out[name.strip()] = value.strip()
    return out


def activation_from(spec: str, params: dict, name: str | None = None) -> Activation:
    """A catalogue name (with parameters) or an expression in x."""
    if spec in catalog.ENTRIES:
        return catalog.get(spec, **params)
    return Activation.parse(spec, name=name, params=params)


def _variance(args, which: str) -> str:
    var, std = getattr(args, f"sigma_{which}2"), getattr(args, f"sigma_{which}")
    if var is not None and std is not None:
        raise _UsageError(f"give --sigma-{which}2 or --sigma-{which}, not both")
    if var is None and std is None:
        raise _UsageError(f"--sigma-{which}2 (variance) or --sigma-{which} (standard deviation) is required")
    if std is None:
        return var
    try:
        d = Decimal(std)
    except InvalidOperation:
        raise ValueError(f"--sigma-{which} must be a number, got {std!r}") from None
    if not d.is_finite() or d < 0:
        raise ValueError(f"--sigma-{which} must be a finite number >= 0, got {std}")
    return str(d * d)


def _cmd_list(args, out):
    for name in catalog.names():
        entry = catalog.ENTRIES[name]
        print(f"{catalog.describe(name):55s} {entry.summary}", file=out)
    return 0


def _cmd_derive(args, out):
    act = activation_from(args.activation, _params(args.param), args.name)
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


def emit(out, as_json: bool, result, header: str) -> int:
    """Print ``result`` as one JSON object (``to_json()``) or as a header and its text."""
    if as_json:
        json.dump(result.to_json(), out, indent=2)
        print(file=out)
    else:
        print(header, file=out)
        print(result, file=out)
    return 0


def _cmd_fixed_point(args, out):
    act = activation_from(args.activation, _params(args.param), args.name)
    sw2, sb2 = _variance(args, "w"), _variance(args, "b")
    fp = fixed_point(compile_laws(derive(act)), sw2, sb2, dps=args.dps, q0=args.q0,
                     two_input=not args.single_input)
    return emit(out, args.json, fp, f"{act.name} at sigma_w2 = {sw2}, sigma_b2 = {sb2} ({args.dps} digits)")


def _add_activation(p):
    p.add_argument("activation", help="a built-in name (see 'neurodyn list') or an expression in x")
    p.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="a family parameter (e.g. alpha=0.1), or a name used in the expression; repeatable")
    p.add_argument("--name", help="name for an expression (default: the expression)")


def _positive_int(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Mean-field laws of deep random networks: derived, exported, computed.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("list", help="list the built-in activations")
    p.set_defaults(run=_cmd_list, parser=p)

    p = sub.add_parser("derive", help="derive the single-input laws (q-map, chi_par, chi_1, chi_2)")
    _add_activation(p)
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--latex", action="store_true", help="print LaTeX (align* environment)")
    fmt.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--two-input", action="store_true",
                   help="the two-input laws instead: covariance map, c-map, chi_c, distance map, NTK map")
    p.set_defaults(run=_cmd_derive, parser=p)

    p = sub.add_parser("fixed-point", help="q*, chi_1, chi_2, chi_par, xi_q at high precision")
    _add_activation(p)
    p.add_argument("--sigma-w2", help="weight variance sigma_w^2")
    p.add_argument("--sigma-b2", help="bias variance sigma_b^2")
    p.add_argument("--sigma-w", help="weight standard deviation (instead of --sigma-w2)")
    p.add_argument("--sigma-b", help="bias standard deviation (instead of --sigma-b2)")
    p.add_argument("--dps", type=_positive_int, default=30, help="significant digits (default 30, at most 1000)")
    p.add_argument("--q0", type=float, default=1.0, help="starting length of the iteration (default 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--single-input", action="store_true",
                   help="skip the two-input quantities (c*, chi_c(c*), xi_c, phase)")
    p.set_defaults(run=_cmd_fixed_point, parser=p)

    from . import cli_documents, cli_two_input
    cli_documents.register(sub)
    cli_two_input.register(sub)
    return parser


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("neurodyn")
    except Exception:  # pragma: no cover - not installed
        return "unknown"


def main(argv=None, out=None) -> int:
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args, out)
    except _UsageError as exc:
        getattr(args, "parser", parser).error(str(exc))
    except BrokenPipeError:
        return 0
    except (NeurodynError, ValueError, ArithmeticError, TypeError, OSError, ImportError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return 0
