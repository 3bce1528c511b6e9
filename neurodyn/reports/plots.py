"""Plots (matplotlib, ``pip install 'neurodyn[plot]'``): the phase diagram and the q-map and c-map curves.

Every function takes plain data (arrays) and a path, and writes a PNG through
:func:`~neurodyn.reports.files.atomic_write` (the user's permissions; an error
names the user's path). Nothing here computes a law: the numbers come from
:mod:`neurodyn.numerics`.

:func:`label_position` places a region's label at the point of the region
farthest from its edge and from the plot's edge, so that it is inside:

>>> import numpy as np
>>> mask = np.zeros((5, 9), bool); mask[:, 5:] = True      # columns 5 to 8: the label goes in column 6, row 2
>>> label_position(mask)
(2, 6)
"""

from __future__ import annotations

import numpy as np

from .files import atomic_write

__all__ = ["plot_phase_diagram", "plot_map", "plot_trajectory", "label_position", "regions", "pyplot", "save_figure"]

#: Side of the subsampled grid on which labels are placed (cost grows as its fourth power).
_LABEL_GRID = 48


def _pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'neurodyn[plot]'") from None
    return plt


def _save(plt, fig, path):
    """Lay out ``fig``, write it atomically to ``path`` as PNG, close it; returns the path."""
    fig.tight_layout()
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)


def regions(chi_1, q_star) -> dict:
    """Boolean masks of the ``ordered`` (chi_1 < 1), ``chaotic`` (chi_1 > 1) and ``diverges`` (no finite q*) cells.

    >>> regions(np.array([[0.5, 2.0, np.nan]]), np.array([[1.0, 1.0, np.nan]]))["diverges"]
    array([[False, False,  True]])
    """
    chi_1, q_star = np.asarray(chi_1, float), np.asarray(q_star, float)
    finite = np.isfinite(q_star) & np.isfinite(chi_1)
    with np.errstate(invalid="ignore"):
        return {"ordered": finite & (chi_1 < 1), "chaotic": finite & (chi_1 > 1), "diverges": ~np.isfinite(q_star)}


def label_position(mask):
    """(row, column) of the cell of ``mask`` farthest from every cell outside it and from the grid's edge.

    Distances are measured in fractions of the grid's sides (the plot's axes),
    on a subsampled grid of at most ``_LABEL_GRID`` cells a side. ``None`` for an
    empty mask.
    """
    mask = np.asarray(mask, bool)
    if not mask.any():
        return None
    ny, nx = mask.shape
    iy = np.unique(np.linspace(0, ny - 1, min(ny, _LABEL_GRID)).round().astype(int))
    ix = np.unique(np.linspace(0, nx - 1, min(nx, _LABEL_GRID)).round().astype(int))
    sub = mask[np.ix_(iy, ix)]
    if not sub.any():
        r, c = np.argwhere(mask)[len(np.argwhere(mask)) // 2]
        return int(r), int(c)
    y = (iy + 0.5) / ny
    x = (ix + 0.5) / nx
    Y, X = np.meshgrid(y, x, indexing="ij")
    inside = np.argwhere(sub)
    outside = np.argwhere(~sub)
    py, px = Y[sub], X[sub]
    edge = np.minimum.reduce([py, 1 - py, px, 1 - px])            # distance to the plot's edge
    if outside.size:
        oy, ox = Y[~sub], X[~sub]
        d = np.sqrt((py[:, None] - oy[None, :]) ** 2 + (px[:, None] - ox[None, :]) ** 2).min(axis=1)
        edge = np.minimum(edge, d)
    tied = np.flatnonzero(edge >= edge.max() - 1e-12)         # equally good cells: take the middle one
    best = inside[tied[len(tied) // 2]]
    return int(iy[best[0]]), int(ix[best[1]])


def plot_phase_diagram(path, *, activation, sigma_w2, sigma_b2, q_star, chi_1, critical_line):
    """A PNG of ``ln chi_1(q*)`` over the (sigma_w2, sigma_b2) grid; returns the path.

    ``q_star`` and ``chi_1`` have one row per ``sigma_b2`` and one column per
    ``sigma_w2`` (``nan`` where there is no finite q*); ``critical_line`` is a
    ``(k, 2)`` array of (sigma_w2, sigma_b2) on ``chi_1 = 1``. The cells where
    q* diverges are their own hatched grey region, labelled ``q* diverges``; the
    ``ordered`` and ``chaotic`` labels sit inside their regions; the legend
    names the grid's ``chi_1 = 1`` contour (solid) and the exact line (dashed).
    """
    plt = _pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    sw, sb = np.asarray(sigma_w2, float), np.asarray(sigma_b2, float)
    chi_1 = np.asarray(chi_1, float)
    line = np.asarray(critical_line, float).reshape(-1, 2)
    masks = regions(chi_1, q_star)
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    with np.errstate(all="ignore"):
        logc = np.log(chi_1)
    finite = np.isfinite(logc)
    lim = float(np.max(np.abs(logc[finite]))) if finite.any() else 1.0
    lim = lim if lim > 0 else 1.0
    mesh = ax.pcolormesh(sw, sb, np.ma.masked_invalid(logc), cmap="RdBu_r", vmin=-lim, vmax=lim, shading="auto")
    fig.colorbar(mesh, ax=ax, label=r"$\ln \chi_1(q^*)$")
    handles = []
    grid2d = sw.size > 1 and sb.size > 1
    if masks["diverges"].any():
        grey = np.ma.masked_where(~masks["diverges"], np.ones_like(chi_1))
        ax.pcolormesh(sw, sb, grey, cmap="Greys", vmin=0, vmax=4, shading="auto")
        if grid2d:
            ax.contourf(sw, sb, masks["diverges"].astype(float), levels=[0.5, 1.5], colors="none",
                        hatches=["//"])
        handles.append(Patch(facecolor="0.85", hatch="//", edgecolor="0.4", label=r"$q^*$ diverges"))
    if grid2d and finite.any() and np.nanmin(logc) < 0 < np.nanmax(logc):
        ax.contour(sw, sb, np.where(finite, logc, np.nan), levels=[0.0], colors="k", linewidths=1.5)
        handles.append(Line2D([], [], color="k", lw=1.5, label=r"$\chi_1 = 1$ (grid contour)"))
    if len(line):
        ax.plot(line[:, 0], line[:, 1], "--", color="0.2", lw=1.2)
        handles.append(Line2D([], [], color="0.2", ls="--", lw=1.2, label=r"$\chi_1 = 1$ (exact line)"))
    for key, text in (("ordered", "ordered"), ("chaotic", "chaotic"), ("diverges", r"$q^*$ diverges")):
        where = label_position(masks[key])
        if where is not None:
            ax.text(sw[where[1]], sb[where[0]], text, ha="center", va="center", fontsize=11,
                    bbox=dict(facecolor="white", alpha=0.8, edgecolor="none"))
    if handles:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=len(handles),
                  fontsize=8, frameon=False)
    ax.set_xlim(sw.min(), sw.max()) if sw.size > 1 else None
    ax.set_ylim(sb.min(), sb.max()) if sb.size > 1 else None
    ax.set_xlabel(r"$\sigma_w^2$")
    ax.set_ylabel(r"$\sigma_b^2$")
    ax.set_title(f"{activation}: order-to-chaos phase diagram")
    return _save(plt, fig, path)


def plot_map(path, *, x, value, slope, title, names, fixed_points=()):
    """A PNG of a map and its slope side by side; returns the path.

    ``names`` = (x label, map label, slope label), e.g. ``("$c$", "$C(c)$",
    r"$\\chi_c(c)$")``. The map panel shows the diagonal (where fixed points
    lie) and marks ``fixed_points`` (x values, with a ``stable`` flag: filled
    when stable, open otherwise); the slope panel shows the level 1.
    """
    plt = _pyplot()
    x, value, slope = (np.asarray(a, float) for a in (x, value, slope))
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.6, 4.2), dpi=120)
    left.plot(x, value, color="C0", lw=1.6, label=names[1])
    left.plot(x, x, color="0.5", lw=0.8, ls=":", label="identity")
    for xv, stable in fixed_points:
        left.plot([xv], [xv], "o", ms=7, color="C3", mfc="C3" if stable else "white",
                  label=f"fixed point {xv:.6g}" + ("" if stable else " (unstable)"))
    left.set_xlabel(names[0])
    left.set_ylabel(names[1])
    left.legend(fontsize=8)
    right.plot(x, slope, color="C1", lw=1.6)
    right.axhline(1.0, color="0.5", lw=0.8, ls=":")
    right.set_xlabel(names[0])
    right.set_ylabel(names[2])
    fig.suptitle(title)
    return _save(plt, fig, path)


def plot_trajectory(path, traj, title: str):
    """A PNG of each quantity against the layer (log scale where a quantity spans decades); returns the path."""
    plt = _pyplot()
    names = [n for n in traj.columns[1:] if sum(r[n] is not None for r in traj.rows) > 1]
    cols = 3
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.0 * cols, 2.8 * rows), dpi=110, squeeze=False)
    layers = np.array([r["l"] for r in traj.rows], float)
    for ax, name in zip(axes.ravel(), names):
        vals = np.array([float(r[name]) if r[name] is not None else np.nan for r in traj.rows], float)
        ok = np.isfinite(vals)
        ax.plot(layers[ok], vals[ok], lw=1.4, marker="." if ok.sum() < 80 else None)
        positive = vals[ok][vals[ok] > 0]
        if positive.size == ok.sum() and positive.size > 1 and positive.max() / positive.min() > 100:
            ax.set_yscale("log")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("layer l")
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    fig.suptitle(title)
    return _save(plt, fig, path)


#: The matplotlib import and the save-and-close step, for the other report modules (reports/curve_report.py).
pyplot = _pyplot
save_figure = _save
