"""The two-input commands of ``neurodyn``: ``c-map``, ``critical``, ``phase-diagram``.

They follow the conventions of :mod:`neurodyn.numerics.cli` (one-line errors, exit 1;
usage errors, exit 2; JSON numbers as ``{"value", "error"}``).
"""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from neurodyn.theory.laws import derive

from .cli import _UsageError, _add_activation, _params, _variance, activation_from, emit
from .compile import compile_laws
from .criticality import critical_point, phase_diagram, text_progress
from .fixedpoint import fixed_point


def _cmd_c_map(args, out):
    act = activation_from(args.activation, _params(args.param), args.name)
    sw2, sb2 = _variance(args, "w"), _variance(args, "b")
    f = compile_laws(derive(act))
    f.c_map(args.c, sw2, sb2, 1.0)                  # validates c before any work
    fp = fixed_point(f, sw2, sb2, dps=args.dps)
    vals = f.evaluate_at(["c_map", "chi_c"], dict(c=args.c, q_star=fp.value, sigma_w2=sw2, sigma_b2=sb2),
                         dps=args.dps)
    if args.json:
        data = {"activation": act.name, "sigma_w2": {"value": sw2, "error": "0"},
                "sigma_b2": {"value": sb2, "error": "0"}, "dps": args.dps, "c": {"value": args.c, "error": "0"},
                "q_star": fp.q_star.to_json(), "c_map": vals["c_map"].to_json(), "chi_c": vals["chi_c"].to_json()}
        json.dump(data, out, indent=2)
        print(file=out)
    else:
        print(f"{act.name} at sigma_w2 = {sw2}, sigma_b2 = {sb2}, c = {args.c} ({args.dps} digits)", file=out)
        print(f"q_star = {fp.q_star}\nc_map  = {vals['c_map']}\nchi_c  = {vals['chi_c']}", file=out)
    return 0


def _cmd_critical(args, out):
    act = activation_from(args.activation, _params(args.param), args.name)
    sb2 = _variance(args, "b")
    cp = critical_point(compile_laws(derive(act)), sb2, dps=args.dps)
    return emit(out, args.json, cp, f"{act.name}: critical line chi_1 = 1 at sigma_b2 = {sb2} ({args.dps} digits)")


def _grid(text: str, flag: str) -> np.ndarray:
    parts = text.split(":")
    try:
        if len(parts) == 3:
            start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
        elif len(parts) == 1:
            start = stop = float(parts[0])
            num = 1
        else:
            raise ValueError
    except ValueError:
        raise _UsageError(f"{flag} takes START:STOP:NUM (e.g. 0.5:9:200) or one number, got {text!r}") from None
    if num < 1:
        raise _UsageError(f"{flag}: NUM must be >= 1")
    return np.linspace(start, stop, num)


def _atomic_write(path: str, write):
    directory = os.path.dirname(os.path.abspath(path)) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".neurodyn-", suffix=os.path.splitext(path)[1])
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _cmd_phase_diagram(args, out):
    act = activation_from(args.activation, _params(args.param), args.name)
    sw, sb = _grid(args.sigma_w2, "--sigma-w2"), _grid(args.sigma_b2, "--sigma-b2")
    pd = phase_diagram(compile_laws(derive(act)), sw, sb, progress=text_progress())
    if args.png:
        _atomic_write(args.png, pd.plot)
    if args.json:
        def dump(tmp):
            with open(tmp, "w") as fh:
                json.dump(pd.to_json(), fh)
        _atomic_write(args.json, dump)
    phases = pd.phases()
    counts = {k: int(np.sum(phases == k)) for k in ("ordered", "chaotic", "none")}
    print(f"{act.name}: {sw.size} x {sb.size} grid; ordered {counts['ordered']}, chaotic {counts['chaotic']}, "
          f"no finite q* {counts['none']}; {len(pd.critical_line)} points on chi_1 = 1; "
          f"largest chi_1 error in spot checks {pd.max_error:.1e}", file=out)
    return 0


def register(sub):
    """Add the two-input subcommands to the ``neurodyn`` parser."""
    p = sub.add_parser("c-map", help="the correlation map C(c) and chi_c(c) at q*")
    _add_activation(p)
    _variance_options(p)
    p.add_argument("--c", required=True, help="the input correlation, in [-1, 1]")
    _dps_json(p)
    p.set_defaults(run=_cmd_c_map, parser=p)

    p = sub.add_parser("critical", help="sigma_w2 on the critical line chi_1 = 1 at a given sigma_b2")
    _add_activation(p)
    p.add_argument("--sigma-b2", help="bias variance sigma_b^2")
    p.add_argument("--sigma-b", help="bias standard deviation (instead of --sigma-b2)")
    _dps_json(p)
    p.set_defaults(run=_cmd_critical, parser=p)

    p = sub.add_parser("phase-diagram", help="chi_1 and the phase on a (sigma_w2, sigma_b2) grid (float64)")
    _add_activation(p)
    p.add_argument("--sigma-w2", required=True, metavar="START:STOP:NUM", help="grid of weight variances")
    p.add_argument("--sigma-b2", required=True, metavar="START:STOP:NUM", help="grid of bias variances")
    p.add_argument("--png", help="write a plot (needs matplotlib)")
    p.add_argument("--json", help="write the grid, chi_1, phases and the critical line as JSON")
    p.set_defaults(run=_cmd_phase_diagram, parser=p)


def _variance_options(p):
    p.add_argument("--sigma-w2", help="weight variance sigma_w^2")
    p.add_argument("--sigma-b2", help="bias variance sigma_b^2")
    p.add_argument("--sigma-w", help="weight standard deviation (instead of --sigma-w2)")
    p.add_argument("--sigma-b", help="bias standard deviation (instead of --sigma-b2)")


def _dps_json(p):
    from .cli import _positive_int
    p.add_argument("--dps", type=_positive_int, default=30, help="significant digits (default 30, at most 1000)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
