"""A map and its slope tabulated on a grid, for ``neurodyn q-map`` and ``neurodyn c-map``.

In float64 (vectorised) by default; with ``--dps N``, every point is computed
with mpmath at N digits, each value with its error. The grid's points are
read exactly (``-1:1:201`` gives the decimals -1, -0.99, ..., 1). The map's
fixed points on the grid (where ``map(x) - x`` changes sign) are located by
linear interpolation between grid points and marked (stable where the
interpolated slope has ``|slope| < 1``).

>>> decimal_grid("-1:1:5", "--c")
['-1', '-0.5', '0', '0.5', '1']
>>> crossings([0.0, 1.0, 2.0], [1.0, 1.5, 1.5], [0.5, 0.5, 0.5])   # V - identity: 1, 0.5, -0.5
[(1.5, True)]
"""

from __future__ import annotations

import decimal
import json
from decimal import Decimal

import numpy as np

from neurodyn.reports.files import write_csv, write_json

from .options import UsageError

__all__ = ["decimal_grid", "crossings", "tabulate", "add_outputs"]


def decimal_grid(text: str, flag: str) -> list:
    """``START:STOP:NUM`` or one number as exact decimal strings (``NUM`` points, both ends included)."""
    parts = text.split(":")
    try:
        if len(parts) == 3:
            start, stop, num = Decimal(parts[0]), Decimal(parts[1]), int(parts[2])
        elif len(parts) == 1:
            start = stop = Decimal(parts[0])
            num = 1
        else:
            raise ValueError
        if not (start.is_finite() and stop.is_finite()):
            raise ValueError
    except (ValueError, decimal.InvalidOperation):
        raise UsageError(f"{flag} takes START:STOP:NUM (e.g. -1:1:201) or one number, got {text!r}") from None
    if num < 1:
        raise UsageError(f"{flag}: NUM must be >= 1")
    with decimal.localcontext() as ctx:
        ctx.prec = 60
        step = (stop - start) / (num - 1) if num > 1 else Decimal(0)
        points = [start + step * i if i < num - 1 else stop for i in range(num)]
        return [_plain(p) for p in points]


def _plain(d: Decimal) -> str:
    text = format(d.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def crossings(x, value, slope) -> list:
    """Fixed points of a tabulated map: [(x*, stable)] where ``value - x`` is zero or changes sign."""
    x, value, slope = (np.asarray(a, float) for a in (x, value, slope))
    gap = value - x
    tol = 1e-12 * (1 + np.abs(x))
    found = []
    for i in range(len(x)):
        if not np.isfinite(gap[i]):
            continue
        if abs(gap[i]) <= tol[i]:
            found.append((float(x[i]), bool(abs(slope[i]) < 1)))
        elif i + 1 < len(x) and np.isfinite(gap[i + 1]) and abs(gap[i + 1]) > tol[i + 1] \
                and gap[i] * gap[i + 1] < 0:
            t = gap[i] / (gap[i] - gap[i + 1])
            s = slope[i] + t * (slope[i + 1] - slope[i])
            found.append((float(x[i] + t * (x[i + 1] - x[i])), bool(abs(s) < 1)))
    return found


def add_outputs(p) -> None:
    """``--json [FILE]`` (no FILE: print it), ``--csv FILE``, ``--png FILE``."""
    p.add_argument("--json", nargs="?", const="-", metavar="FILE",
                   help="JSON: printed, or written to FILE")
    p.add_argument("--csv", metavar="FILE", help="write a CSV table")
    p.add_argument("--png", metavar="FILE", help="write a plot of the map and its slope (needs matplotlib)")


def tabulate(out, args, *, points, evaluate, names, header, meta, plot_names, title) -> int:
    """Evaluate ``names`` = (variable, map, slope) at ``points`` and print or write the table.

    ``evaluate(points, dps)`` returns ``{map: values, slope: values}``: float64
    arrays when ``dps`` is None, lists of Estimates otherwise.
    """
    var, map_name, slope_name = names
    vals = evaluate(points, args.dps)
    xs = np.array([float(p) for p in points])
    if args.dps is None:
        value, slope = np.asarray(vals[map_name], float), np.asarray(vals[slope_name], float)

        def cell(v, i):
            return repr(float(v[i]))
        columns = (var, map_name, slope_name)
    else:
        value = np.array([float(e.value) for e in vals[map_name]])
        slope = np.array([float(e.value) for e in vals[slope_name]])

        def cell(v, i):
            est = vals[map_name if v is value else slope_name][i]
            return str(est)
        columns = (var, map_name, f"{map_name}_error", slope_name, f"{slope_name}_error")
    fixed = crossings(xs, value, slope)
    rows = []
    for i, p in enumerate(points):
        if args.dps is None:
            rows.append((p, cell(value, i), cell(slope, i)))
        else:
            a, b = vals[map_name][i].to_json(), vals[slope_name][i].to_json()
            rows.append((p, a["value"], a["error"], b["value"], b["error"]))
    marked = [{var: x, "stable": stable} for x, stable in fixed]
    written = []
    if args.csv:
        written.append(write_csv(args.csv, columns, rows))
    if args.json:
        data = dict(meta, dps=args.dps, **{var: list(points)})
        if args.dps is None:
            data.update({map_name: value.tolist(), slope_name: slope.tolist()})
        else:
            data.update({map_name: [e.to_json() for e in vals[map_name]],
                         slope_name: [e.to_json() for e in vals[slope_name]]})
        data["fixed_points"] = marked
        data["fixed_points_method"] = "sign changes of map - identity on the grid, linear interpolation"
        if args.json == "-":
            json.dump(data, out, indent=2)
            print(file=out)
        else:
            written.append(write_json(args.json, data))
    if args.png:
        from neurodyn.reports.plots import plot_map
        written.append(plot_map(args.png, x=xs, value=value, slope=slope, title=title, names=plot_names,
                                fixed_points=fixed))
    if args.json != "-":
        print(header, file=out)
        if not written:
            print("\t".join(columns), file=out)
            for row in rows:
                print("\t".join(str(c) for c in row), file=out)
        marks = ", ".join(f"{x:.10g} ({'stable' if s else 'unstable'})" for x, s in fixed) or "none on the grid"
        print(f"fixed points (grid, interpolated): {marks}", file=out)
        for path in written:
            print(f"wrote {path}", file=out)
    out.flush()
    return 0
