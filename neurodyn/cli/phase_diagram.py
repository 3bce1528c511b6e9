"""``neurodyn phase-diagram``: chi_1(q*) and the phase on a (sigma_w2, sigma_b2) grid (float64).

Writes a plot (``--png``), the grid as JSON (``--json``) and as CSV, one row per
grid point (``--csv``); prints a one-line summary.
"""

from __future__ import annotations

import numpy as np

from neurodyn.numerics import compile_laws, phase_diagram
from neurodyn.reports.files import write_csv, write_json
from neurodyn.theory import derive

from .options import activation_from, add_activation, elapsed_on_tty, parse_grid


def csv_rows(pd):
    """(sigma_w2, sigma_b2, q_star, chi_1, phase) for every grid point; empty cells where q* diverges."""
    phases = pd.phases()
    for iy, sb2 in enumerate(pd.sigma_b2):
        for ix, sw2 in enumerate(pd.sigma_w2):
            q, chi = float(pd.q_star[iy, ix]), float(pd.chi_1[iy, ix])
            phase = phases[iy, ix] if np.isfinite(q) else "q_diverges"
            yield (repr(float(sw2)), repr(float(sb2)), repr(q) if np.isfinite(q) else None,
                   repr(chi) if np.isfinite(chi) else None, phase)


def run(args, out) -> int:
    act = activation_from(args)
    sw, sb = parse_grid(args.sigma_w2, "--sigma-w2"), parse_grid(args.sigma_b2, "--sigma-b2")
    with elapsed_on_tty("phase diagram"):
        pd = phase_diagram(compile_laws(derive(act)), sw, sb)
    written = []
    if args.png:
        from neurodyn.reports.plots import plot_phase_diagram
        written.append(plot_phase_diagram(args.png, activation=pd.activation, sigma_w2=pd.sigma_w2,
                                          sigma_b2=pd.sigma_b2, q_star=pd.q_star, chi_1=pd.chi_1,
                                          critical_line=pd.critical_line))
    if args.json:
        written.append(write_json(args.json, pd.to_json()))
    if args.csv:
        written.append(write_csv(args.csv, ("sigma_w2", "sigma_b2", "q_star", "chi_1", "phase"), csv_rows(pd)))
    phases = pd.phases()
    finite = np.isfinite(pd.q_star)
    counts = {k: int(np.sum((phases == k) & finite)) for k in ("ordered", "chaotic")}
    print(f"{act.name}: {sw.size} x {sb.size} grid; ordered {counts['ordered']}, chaotic {counts['chaotic']}, "
          f"q* diverges {int(np.sum(~finite))}; {len(pd.critical_line)} points on chi_1 = 1; "
          f"largest chi_1 error in spot checks {pd.max_error:.1e}", file=out)
    for path in written:
        print(f"wrote {path}", file=out)
    return 0


def register(sub) -> None:
    p = sub.add_parser("phase-diagram", help="chi_1 and the phase on a (sigma_w2, sigma_b2) grid (float64)")
    add_activation(p)
    p.add_argument("--sigma-w2", required=True, metavar="START:STOP:NUM", help="grid of weight variances")
    p.add_argument("--sigma-b2", required=True, metavar="START:STOP:NUM", help="grid of bias variances")
    p.add_argument("--png", metavar="FILE", help="write a plot (needs matplotlib)")
    p.add_argument("--json", metavar="FILE", help="write the grid, q*, chi_1, phases and the critical line as JSON")
    p.add_argument("--csv", metavar="FILE", help="write one row per grid point: sigma_w2, sigma_b2, q_star, chi_1, "
                                                 "phase")
    p.set_defaults(run=run, parser=p)
