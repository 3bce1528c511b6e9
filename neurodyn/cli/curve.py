"""``neurodyn curve``: the image of a great circle through finite networks against Gaussian processes.

Three ensembles of the same width, depth and variances on an arc of a great
circle (docs/finite_width.md §5.3): the finite network (sampler C), Gaussian-process
paths with the mean-field kernel, and with the 1/n-corrected kernel ``K + G1/n``.
Measured: the autocorrelation along the curve by layer, the crossover angle
against ``chi_1^(-l/2)``, the correlation integral and its local slope ``D(r)``,
and the spread of the log local stretching against ``sqrt(nu_eff L / n)``.

``--report DIR`` writes ``DIR/report.md`` and PNG figures; ``--json`` prints the
summary (numbers with standard errors); otherwise the report's text is printed.
Needs the chaotic phase (chi_1 > 1); one-line errors (exit 1) for widths < 2,
depth < 1, networks < 2, runs that would not fit in memory (with the estimate).
"""

from __future__ import annotations

import json
import math
import time

from neurodyn.numerics.curve import DEFAULT_NETWORKS, DEFAULT_POINTS, curve_study
from neurodyn.numerics.montecarlo import MEMORY_LIMIT
from neurodyn.reports.curve_report import report_markdown, write_report

from .iterate import integer_option
from .options import activation_from, add_activation, add_variances, elapsed_on_tty, variance

__all__ = ["parse_widths"]


def parse_widths(text) -> list[int]:
    """``100,400,1600`` as a list of integers >= 2 (a one-line ValueError otherwise).

    >>> parse_widths("100, 400")
    [100, 400]
    >>> parse_widths("1,400")
    Traceback (most recent call last):
    ...
    ValueError: --widths must be integers >= 2 separated by commas, got 1,400
    """
    try:
        widths = [int(part) for part in str(text).split(",") if part.strip()]
    except ValueError:
        widths = []
    if not widths or min(widths) < 2:
        raise ValueError(f"--widths must be integers >= 2 separated by commas, got {text}")
    return widths


def _arc(text):
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"--arc must be an angle in radians in (0, 2 pi], got {text}") from None
    if not (math.isfinite(value) and 0 < value <= 2 * math.pi):
        raise ValueError(f"--arc must be an angle in radians in (0, 2 pi], got {text}")
    return value


def run(args, out) -> int:
    act = activation_from(args)
    sw2, sb2 = variance(args, "w"), variance(args, "b")
    widths = parse_widths(args.widths)
    depth = integer_option("--depth", args.depth)
    points = integer_option("--points", args.points, 16)
    networks = integer_option("--networks", args.networks, 2)
    seed = integer_option("--seed", args.seed, 0)
    arc = _arc(args.arc)
    memory = integer_option("--memory-mib", args.memory_mib) * 1024**2
    start = time.monotonic()
    with elapsed_on_tty(f"curve study: widths {args.widths}, depth {depth}, {networks} networks, {points} points"):
        study = curve_study(act, sw2, sb2, widths=widths, depth=depth, points=points, networks=networks, arc=arc,
                            seed=seed, memory_limit=memory)
        summary = study.summary()
        seconds = time.monotonic() - start
        written = write_report(study, args.report, seconds, summary) if args.report else []
    if args.json:
        json.dump(dict(summary, seconds=round(seconds, 1), written=[str(p) for p in written]), out, indent=2,
                  allow_nan=False)
        print(file=out)
    elif written:
        for path in written:
            print(f"wrote {path}", file=out)
    else:
        print(report_markdown(summary, seconds), file=out)
    out.flush()
    return 0


def register(sub) -> None:
    p = sub.add_parser("curve", help="a great circle through finite networks against Gaussian processes (the "
                                     "Amari-Karakida-Oizumi paradox)")
    add_activation(p)
    add_variances(p)
    p.add_argument("--widths", default="100,400,1600", help="network widths n, comma-separated (default 100,400,1600)")
    p.add_argument("--depth", default="20", help="number of layers L (default 20)")
    p.add_argument("--points", default=str(DEFAULT_POINTS),
                   help=f"angles on the arc (default {DEFAULT_POINTS}; cost grows like points x width^2)")
    p.add_argument("--networks", default=str(DEFAULT_NETWORKS),
                   help=f"networks (GP samples) per width and ensemble, >= 2 (default {DEFAULT_NETWORKS})")
    p.add_argument("--arc", help="length of the arc in radians (default 10 chi_1^(-L/2), at most 2 pi)")
    p.add_argument("--seed", default="0", help="random seed (default 0)")
    p.add_argument("--memory-mib", default=str(MEMORY_LIMIT // 1024**2),
                   help=f"refuse runs whose arrays would exceed this (default {MEMORY_LIMIT // 1024**2} MiB)")
    p.add_argument("--report", metavar="DIR", help="write DIR/report.md and PNG figures")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(run=run, parser=p)
