"""The classic mean-field figures (Poole et al. 2016; Schoenholz et al. 2017) for tanh, as PNGs.

    python examples/classic_figures.py FOLDER        # or: make example  (writes figures/)

Writes into FOLDER:

* ``q_map_iterates.png`` - the length map V(q) at sigma_b2 = 0.05 for several sigma_w2,
  with the iterates q^0, q^1, ... from two starting lengths converging to q* (cobweb);
* ``c_map_iterates.png`` - the correlation map C(c) at q* in the ordered and in the chaotic
  phase, with the iterates c^l from c^0 = 0.2 converging to c* (1, or c* < 1);
* ``phase_diagram.png`` - chi_1(q*) on a (sigma_w2, sigma_b2) grid, the critical line
  chi_1 = 1 and the regions (ordered, chaotic).

It uses the public API only (``neurodyn``) and the plot helper of ``neurodyn.reports``;
every number is float64 except q*, found at 20 digits. A test runs it, so it cannot rot.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import neurodyn
from neurodyn.reports.files import atomic_write
from neurodyn.reports.plots import plot_phase_diagram

SIGMA_B2 = "0.05"


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def cobweb(ax, x0, step, n, color):
    """Draw the iterates x_{l+1} = step(x_l) as a cobweb from x0."""
    x = x0
    for _ in range(n):
        y = float(step(x))
        ax.plot([x, x, y], [x, y, y], color=color, lw=0.8)
        x = y
    return x


def q_map_figure(f, folder: Path) -> Path:
    plt = _pyplot()
    qs = np.linspace(0, 3, 301)
    fig, ax = plt.subplots(figsize=(5.2, 4.6), dpi=110)
    ax.plot(qs, qs, color="0.5", ls=":", lw=0.8)
    for k, sw2 in enumerate(("1.0", "2.25", "4.0")):
        ax.plot(qs, f.q_map(qs, sw2, SIGMA_B2), color=f"C{k}", label=rf"$\sigma_w^2 = {sw2}$")
        for q0 in (0.1, 2.8):
            cobweb(ax, q0, lambda q, sw2=sw2: f.q_map(np.array([q]), sw2, SIGMA_B2)[0], 12, f"C{k}")
        fp = neurodyn.fixed_point(f, sw2, SIGMA_B2, dps=20)
        ax.plot([float(fp.value)], [float(fp.value)], "o", color=f"C{k}")
    ax.set_xlabel(r"$q^{l-1}$")
    ax.set_ylabel(r"$q^{l} = V(q^{l-1})$")
    ax.set_title(rf"tanh: length map and iterates, $\sigma_b^2 = {SIGMA_B2}$")
    ax.legend()
    fig.tight_layout()
    try:
        return atomic_write(folder / "q_map_iterates.png", lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)


def c_map_figure(f, folder: Path) -> Path:
    plt = _pyplot()
    cs = np.linspace(-1, 1, 401)
    fig, ax = plt.subplots(figsize=(5.2, 4.6), dpi=110)
    ax.plot(cs, cs, color="0.5", ls=":", lw=0.8)
    for k, sw2 in enumerate(("1.0", "4.0")):
        fp = neurodyn.fixed_point(f, sw2, SIGMA_B2, dps=20)
        q_star = float(fp.value)
        phase = "ordered" if float(fp.chi_1.value) < 1 else "chaotic"
        ax.plot(cs, f.c_map(cs, sw2, SIGMA_B2, q_star), color=f"C{k}",
                label=rf"$\sigma_w^2 = {sw2}$ ({phase}, $\chi_1 = {float(fp.chi_1.value):.3f}$)")
        end = cobweb(ax, 0.2, lambda c, sw2=sw2: f.c_map(np.array([c]), sw2, SIGMA_B2, q_star)[0], 30, f"C{k}")
        ax.plot([end], [end], "o", color=f"C{k}")
    ax.set_xlabel(r"$c^{l-1}$")
    ax.set_ylabel(r"$c^{l} = C(c^{l-1})$")
    ax.set_title(rf"tanh: correlation map and iterates, $\sigma_b^2 = {SIGMA_B2}$")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    try:
        return atomic_write(folder / "c_map_iterates.png", lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)


def phase_figure(f, folder: Path) -> Path:
    pd = neurodyn.phase_diagram(f, np.linspace(0.5, 4, 36), np.linspace(0, 0.5, 21))
    return plot_phase_diagram(folder / "phase_diagram.png", activation=pd.activation, sigma_w2=pd.sigma_w2,
                              sigma_b2=pd.sigma_b2, q_star=pd.q_star, chi_1=pd.chi_1,
                              critical_line=pd.critical_line)


def main(folder) -> list:
    """Write the three figures into ``folder`` (created if missing); returns their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    f = neurodyn.compile_laws(neurodyn.derive(neurodyn.catalog.get("tanh")))
    return [q_map_figure(f, folder), c_map_figure(f, folder), phase_figure(f, folder)]


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} FOLDER")
    for path in main(sys.argv[1]):
        print(f"wrote {path}")
