"""The curve study's report: ``report.md`` and PNG figures (docs/finite_width.md §5.3).

Everything here formats numbers computed by :mod:`neurodyn.numerics.curve`
(``CurveStudy`` and its ``summary()``); the conclusions are sentences chosen by
z-scores of those numbers, so the report claims no more than the data show.

>>> pm({"mean": 1.23456, "stderr": 0.0123})
'1.235 ± 0.012'
>>> zscore(1.0, 0.1, 1.3)
-3.0
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from neurodyn.numerics.curve import ENSEMBLES, correlation_slope, mean_stderr, slope_span

from .files import atomic_write
from .plots import pyplot, save_figure

__all__ = ["write_report", "report_markdown", "conclusions", "pm", "zscore", "FIGURES"]

#: The figures written beside report.md.
FIGURES = ("autocorrelation.png", "crossover.png", "correlation_dimension.png", "log_stretch.png")
#: |z| above which a difference is called significant.
Z_SIGNIFICANT = 3.0
_LABEL = {"network": "network", "gp_mean_field": "GP, mean-field kernel", "gp_corrected": "GP, kernel K + G1/n"}


def _fmt(x, digits=2):
    if x is None or not math.isfinite(x):
        return "–"
    if x == 0:
        return "0"
    return f"{x:.{max(digits, 0)}f}"


def pm(cell, value="mean", error="stderr") -> str:
    """``mean ± error`` with the error to two significant digits and the mean to the same decimal place."""
    m, e = cell.get(value), cell.get(error)
    if m is None:
        return "–"
    if e is None or not math.isfinite(e) or e <= 0:
        return f"{m:.4g}"
    decimals = max(0, 1 - int(math.floor(math.log10(e))))
    return f"{m:.{decimals}f} ± {e:.{decimals}f}"


def zscore(mean, stderr, theory):
    """``(mean - theory) / stderr`` (None when undefined)."""
    if mean is None or stderr is None or theory is None or not stderr > 0:
        return None
    return round((mean - theory) / stderr, 10)


def _rows(summary):
    """``{width: {ensemble: row}}``."""
    out = {}
    for row in summary["rows"]:
        out.setdefault(row["width"], {})[row["ensemble"]] = row
    return out


def _combined_z(a, b):
    """z of the difference of two ``{"mean", "stderr"}`` cells."""
    if a["mean"] is None or b["mean"] is None or a["stderr"] is None or b["stderr"] is None:
        return None
    se = math.hypot(a["stderr"], b["stderr"])
    return (a["mean"] - b["mean"]) / se if se > 0 else None


def conclusions(summary) -> list[str]:
    """Sentences stating what was measured, each with its numbers; significance is |z| >= 3."""
    th, rows = summary["theory"], _rows(summary)
    L = summary["settings"]["depth"]
    out = []
    # 1. the stretching cascade
    parts = []
    for n, ens in rows.items():
        net, gp = ens["network"]["log_stretch"], ens.get("gp_mean_field", {}).get("log_stretch")
        z = zscore(net["sd"], net["sd_err"], net["theory_sd"])
        text = (f"n = {n}: {pm(net, 'sd', 'sd_err')} against sqrt(nu_eff L/n) = {net['theory_sd']:.3f}"
                + (f" (z = {z:+.1f})" if z is not None else ""))
        if gp is not None:
            text += f"; the mean-field GP's {pm(gp, 'sd', 'sd_err')} (sqrt(2/n) = {gp['gp_sd']:.3f})"
        parts.append(text)
    out.append("**Local stretching.** The spread (sd over angles and networks) of ln s, the log of the local "
               f"squared stretching at layer {L}: " + "; ".join(parts) + ". The network's local stretching is a "
               "product of random factors, one per layer (docs/finite_width.md §3.7, §5.3 item 2); a Gaussian "
               "process of fixed kernel only has the sampling spread of n neurons. (The error of the spread is a "
               "bootstrap over networks; the spread's part common to a whole arc comes from the first layers and "
               "is estimated from as many values as there are networks, so with few networks that error is itself "
               "uncertain.)")
    # 2. crossover
    parts, slopes = [], []
    for n, ens in rows.items():
        net, gp = ens["network"]["crossover_L"], ens.get("gp_mean_field", {}).get("crossover_L")
        text = f"n = {n}: network {pm(net)}"
        if gp is not None:
            z = _combined_z(net, gp)
            text += f", mean-field GP {pm(gp)}" + (f" (difference z = {z:+.1f})" if z is not None else "")
        parts.append(text)
        sl = ens["network"].get("crossover_slope") or {}
        if sl.get("mean") is not None:
            z = zscore(sl["mean"], sl["stderr"], sl["mean_field_fit"])
            slopes.append(f"n = {n}: {pm(sl)} over layers {sl['layers'][0]}–{sl['layers'][-1]} (mean field on the "
                          f"same lags and layers {sl['mean_field_fit']:.4f}"
                          + (f", z = {z:+.1f})" if z is not None else ")"))
    out.append(f"**Crossover.** The half-decorrelation angle at layer {L} (mean field: {th['crossover_L']:.4g} rad; "
               f"chi_1^(-L/2) = {th['theta_L']:.4g}): " + "; ".join(parts) + "."
               + (f" Its log falls per layer by {'; '.join(slopes)}, against -ln(chi_1)/2 = "
                  f"{th['crossover_slope']:.4f}." if slopes else " Too few layers have it on the arc for a slope."))
    # 3. the dimension of the point set
    small, diffs, corrected, relative, diff_r = [], [], [], [], []
    for n, ens in rows.items():
        if "gp_mean_field" not in ens:
            continue
        worst, where = 0.0, None
        for a, b in zip(ens["network"]["D_at"], ens["gp_mean_field"]["D_at"]):
            z = _combined_z(a, b)
            if z is not None and abs(z) > abs(worst):
                worst, where = z, (a, b)
        if where is not None and abs(worst) >= Z_SIGNIFICANT:
            a, b = where
            relative.append(abs(a["mean"] - b["mean"]) / abs(b["mean"]))
            diff_r.append(a["r_over_d_star"])
            text = (f"n = {n}: at r = {a['r_over_d_star']:.2g} d* the network has D = {pm(a)}, the mean-field GP "
                    f"{pm(b)} (z = {worst:+.1f})")
            if "gp_corrected" in ens:
                c = next(c for c in ens["gp_corrected"]["D_at"] if c["r_over_d_star"] == a["r_over_d_star"])
                text += f", the GP with kernel K + G1/n {pm(c)}"
            diffs.append(text)
        else:
            small.append(str(n) + (f" (largest |z| = {abs(worst):.1f})" if where is not None else ""))
        for a, c in zip(ens["network"]["D_at"], ens.get("gp_corrected", {}).get("D_at", [])):
            z = _combined_z(a, c)
            if z is not None:
                corrected.append((abs(z), n, a["r_over_d_star"]))
    first = th["D_at"][0]
    net_first = ", ".join(f"{pm(ens['network']['D_at'][0])} (n = {n})" for n, ens in rows.items())
    peak = max(th["D_at"], key=lambda c: c["mean"] if c["mean"] is not None else -1)
    text = (f"**Correlation dimension.** D(r) = d ln C/d ln r of the layer-{L} point set (d* = {th['d_star']:.3f}, "
            f"the mean-field distance of decorrelated points). At the smallest scale resolved, r = "
            f"{first['r_over_d_star']:.2g} d*, the network has D = {net_first}; the infinite-width image of the "
            f"continuous arc has {_fmt(first['mean'])} there (it tends to 1 as r -> 0, a smooth curve). D rises with "
            f"r to {_fmt(peak['mean'])} at r = {peak['r_over_d_star']:.2g} d* at infinite width: the pairs pile up at "
            "the common distance of decorrelated points. ")
    if first["r_over_d_star"] > 0.3:
        text += (f"(The arc is sampled too coarsely to resolve the smooth scale: the smallest r is "
                 f"{first['r_over_d_star']:.2g} d*; use more --points.) ")
    if small:
        text += ("The network's D(r) does not differ from the mean-field GP's at any scale listed for n = "
                 + ", ".join(small) + ". ")
    if diffs:
        text += "It differs for " + "; ".join(diffs) + ". "
    if corrected:
        worst_c = max(corrected)
        text += (f"Against the GP with kernel K + G1/n the largest |z| is {worst_c[0]:.1f} (n = {worst_c[1]}, "
                 f"r = {worst_c[2]:.2g} d*).")
    out.append(text)
    # 4. what it implies
    d0 = [ens["network"]["D_at"][0]["mean"] for ens in rows.values()]
    ratios = [ens["network"]["log_stretch"]["sd"] / ens["gp_mean_field"]["log_stretch"]["sd"]
              for ens in rows.values() if "gp_mean_field" in ens and ens["gp_mean_field"]["log_stretch"]["sd"]]
    ratio_text = (f", {min(ratios):.3g} to {max(ratios):.3g} times the mean-field GP's" if ratios else "")
    where_r = sorted(set(diff_r))
    if not diffs:
        verdict = ("the network's D(r) equals the mean-field GP's within the error bars at every scale listed, so "
                   "these data show no fractal dimension that the infinite-width kernel lacks; ")
    else:
        scales = ", ".join(f"{r:.2g}" for r in where_r)
        near = (", near the decorrelated distance d*, where finite width spreads the distances that the mean "
                "field makes equal") if min(where_r) >= 0.5 else ""
        verdict = (f"the network's D(r) differs from the mean-field GP's at r = {scales} d* (above), by at most "
                   f"{100 * max(relative):.2g}% of D{near}; ")
    out.append("**For the paradox.** At finite depth the infinite-width kernel gives a continuous curve: D(r) "
               f"grows from {_fmt(th['D_at'][0]['mean'])} at r = {th['D_at'][0]['r_over_d_star']:.2g} d* to its "
               "peak near d*, the equidistant set being approached only above the crossover angle; the network "
               f"has {', '.join(_fmt(d) for d in d0)} (by width) at the smallest scale. The crossover angle moves "
               "like chi_1^(-l/2) with depth (above), so the \"discrete set of equally spaced points\" is the limit "
               "of infinite depth taken after infinite width (docs/theory.md §6, docs/finite_width.md §5.3 item 1). "
               "What finite width changes, in these data: " + verdict + "the finite-width effect that is large is "
               "the intermittency of the local stretching, a spread of ln s close to sqrt(nu_eff L/n)" + ratio_text +
               ". Whether that cascade gives a multifractal length measure at larger "
               "L/n is not tested here.")
    return out


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def report_markdown(summary, seconds=None, figures=()) -> str:
    """The text of report.md."""
    st, th, rows = summary["settings"], summary["theory"], _rows(summary)
    L = st["depth"]
    lines = [f"# Curve study: {st['activation']}, sigma_w2 = {st['sigma_w2']}, sigma_b2 = {st['sigma_b2']}, "
             f"depth {L}", ""]
    lines += ["Written by `neurodyn curve` (docs/finite_width.md §5.3, sampler C of §4.2). Numbers are "
              "mean ± standard error over independent networks (Gaussian-process samples); the spread of ln s "
              "carries a bootstrap error over networks.", ""]
    lines += ["## Setting", "",
              f"* Arc of a great circle of per-neuron squared radius q* = {th['q_star']:.6g}: {st['points']} "
              f"equally spaced angles over {th['arc']:.4g} rad = {th['arc'] / th['theta_L']:.3g} theta_L "
              f"(theta_L = chi_1^(-L/2) = {th['theta_L']:.4g}; spacing delta = {th['delta']:.3g}).",
              f"* Widths {', '.join(str(w) for w in st['widths'])}; {st['networks']} networks (samples) per "
              f"width and ensemble; seed {st['seed']}." + (f" Run time {seconds:.0f} s." if seconds else ""),
              f"* Mean field: chi_1 = {th['chi_1']:.6g}, chi_par = {th['chi_par']:.6g}, c* = {th['c_star']:.6g}, "
              f"d* = sqrt(2 q* (1 - c*)) = {th['d_star']:.4g}, nu_eff = {th['nu_eff']:.4g} "
              "(docs/finite_width.md §3.7).", ""]
    lines += ["Ensembles: **network** (the arc through the same random network of width n and depth L), "
              "**GP, mean-field kernel** (n i.i.d. Gaussian-process paths with kernel q* c^L(theta - theta'), the "
              "covariance map iterated per angle difference) and **GP, kernel K + G1/n** (docs/finite_width.md "
              "§3.3).", ""]
    for note in summary["notes"]:
        lines.append(f"> Note: {note}")
    if summary["notes"]:
        lines.append("")
    lines += ["## What the data show", ""] + [f"{c}\n" for c in conclusions(summary)]
    lines += ["## Tables", "", f"### Layer {L}: length, neighbour correlation, crossover angle", ""]
    table = []
    for n, ens in rows.items():
        for name in ENSEMBLES:
            if name in ens:
                r = ens[name]
                table.append([n, _LABEL[name], pm(r["q_L"]), pm(r["c_lag1"]), pm(r["crossover_L"])])
    table.append(["∞", "mean field", f"{th['q_star']:.5g}",
                  f"{next(iter(rows.values()))['network']['c_lag1']['theory']:.6f}", f"{th['crossover_L']:.4g}"])
    lines += [_table(["n", "ensemble", "q", "c(delta)", "crossover angle (rad)"], table), ""]
    lines += ["### Local stretching ln s, s = |x(theta + delta) - x(theta)|^2 / (n delta^2)", ""]
    table = []
    for n, ens in rows.items():
        for name in ENSEMBLES:
            if name in ens:
                s = ens[name]["log_stretch"]
                table.append([n, _LABEL[name], pm(s, "sd", "sd_err"), pm(s, "sd_within", "sd_within_err"),
                              f"{s['theory_sd']:.3f}", pm(s, "mean_offset", "mean_offset_err"),
                              f"{s['theory_offset']:.3f}"])
    lines += [_table(["n", "ensemble", "sd of ln s", "sd along one arc", "sqrt(nu_eff L/n)",
                      "mean - mean field", "-nu_eff L/(2n)"], table), ""]
    lines += [f"Mean field: ln s = {th['log_stretch']:.4f} at this spacing. A GP of fixed kernel has sd close to "
              "sqrt(2/n) (the chi-square of n neurons).", ""]
    lines += ["### Local slope D(r) of the correlation integral", "",
              "C(r): the fraction of pairs of the layer-L point set closer than r (per-neuron distance); D(r): the "
              "slope of ln C against ln r over a factor 2 in r. The smallest r is 16 times the mean-field distance "
              "of neighbouring points, so that the steps a finite point set puts in C stay below the window.", ""]
    header = ["n", "ensemble"] + [f"r = {c['r_over_d_star']:.2g} d*" for c in th["D_at"]]
    table = [["∞", "mean field (no sampling)"] + [_fmt(c["mean"]) for c in th["D_at"]]]
    for n, ens in rows.items():
        for name in ENSEMBLES:
            if name in ens:
                table.append([n, _LABEL[name]] + [pm(c) for c in ens[name]["D_at"]])
    lines += [_table(header, table), ""]
    slope_rows = [[n, pm(ens["network"]["crossover_slope"]), f"{th['crossover_slope']:.4f}",
                   _fmt(ens["network"]["crossover_slope"].get("mean_field_fit"), 4)]
                  for n, ens in rows.items() if ens["network"]["crossover_slope"].get("mean") is not None]
    if slope_rows:
        lines += ["### Crossover angle against depth: slope of its log per layer", "",
                  _table(["n", "network", "-ln(chi_1)/2", "mean field, same lag grid"], slope_rows), ""]
    if figures:
        lines += ["## Figures", ""] + [f"![{Path(p).stem}]({Path(p).name})" for p in figures] + [""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------
# figures
# ----------------------------------------------------------------------------------------
def _errorbar(ax, x, y, e, **kw):
    y, e = np.asarray(y, float), np.asarray(e, float)
    ax.errorbar(x, y, yerr=np.where(np.isfinite(e), e, 0), capsize=2, lw=1.2, ms=3, **kw)


def _figures(study, summary, folder) -> list:
    plt = pyplot()
    mf = study.theory
    L = mf.depth
    angles = mf.lags * mf.delta
    widths = list(study.ensembles)
    colors = {w: f"C{i}" for i, w in enumerate(widths)}
    paths = []
    # autocorrelation at layer L
    fig, (ax, by_layer) = plt.subplots(1, 2, figsize=(12.0, 4.4), dpi=110)
    w = widths[-1]
    for i, l in enumerate(sorted({max(1, L // 4), max(1, L // 2), max(1, 3 * L // 4), L})):
        m, e = mean_stderr(study.ensembles[w]["network"].autocorr[:, l])
        by_layer.plot(angles, mf.c_layers[l, mf.lags], "-", color=f"C{i}", lw=1.2)
        _errorbar(by_layer, angles, m, e, color=f"C{i}", marker="o", ls="none", label=f"layer {l}")
    by_layer.set_xscale("log")
    by_layer.set_xlabel(r"angle between the inputs $\Delta\theta$ (rad)")
    by_layer.set_ylabel("correlation")
    by_layer.legend(fontsize=7)
    by_layer.set_title(f"network, n = {w}, by layer (lines: mean field)")
    ax.plot(angles, mf.c_layers[L, mf.lags], "k-", lw=1.6, label="mean field")
    for w in widths:
        for name, marker in (("network", "o"), ("gp_mean_field", "x"), ("gp_corrected", "^")):
            if name in study.ensembles[w]:
                m, e = mean_stderr(study.ensembles[w][name].autocorr[:, -1])
                _errorbar(ax, angles, m, e, color=colors[w], marker=marker, ls="none" if name != "network" else "-",
                          label=f"n = {w}, {_LABEL[name]}")
    ax.axhline(mf.c_star, color="0.5", ls=":", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel(r"angle between the inputs $\Delta\theta$ (rad)")
    ax.set_ylabel(f"correlation at layer {L}")
    ax.legend(fontsize=7)
    ax.set_title("autocorrelation along the curve")
    paths.append(save_figure(plt, fig, Path(folder) / FIGURES[0]))
    # crossover by layer
    fig, ax = plt.subplots(figsize=(7.0, 4.4), dpi=110)
    layers = np.arange(L + 1)
    theory = mf.crossover()
    ax.plot(layers, theory, "k-", lw=1.6, label="mean field")
    ok = np.isfinite(theory)
    if ok.any():
        l0 = layers[ok][-1]
        ax.plot(layers, theory[l0] * mf.chi_1 ** (-(layers - l0) / 2), "k:", lw=1,
                label=r"$\propto \chi_1^{-l/2}$")
    for w in widths:
        m, e = mean_stderr(study.ensembles[w]["network"].crossover(mf))
        _errorbar(ax, layers, m, e, color=colors[w], marker="o", ls="none", label=f"network, n = {w}")
    ax.set_yscale("log")
    ax.set_xlabel("layer l")
    ax.set_ylabel("half-decorrelation angle (rad)")
    ax.legend(fontsize=7)
    ax.set_title("crossover scale against depth")
    paths.append(save_figure(plt, fig, Path(folder) / FIGURES[1]))
    # D(r)
    d_star = math.sqrt(2 * mf.q_star * (1 - mf.c_star))
    fig, ax = plt.subplots(figsize=(7.0, 4.4), dpi=110)
    rmid, D = correlation_slope(mf.r_grid, mf.correlation_integral(), slope_span(mf.r_grid))
    ax.plot(rmid / d_star, D, "k-", lw=1.2, label="infinite width (no sampling)")
    for w in widths:
        for name, marker in (("network", "o"), ("gp_mean_field", "x"), ("gp_corrected", "^")):
            if name in study.ensembles[w]:
                rmid, D = correlation_slope(mf.r_grid, study.ensembles[w][name].C, slope_span(mf.r_grid))
                m, e = mean_stderr(D)
                _errorbar(ax, rmid / d_star, m, e, color=colors[w], marker=marker,
                          ls="-" if name == "network" else "none", label=f"n = {w}, {_LABEL[name]}")
    ax.axhline(1.0, color="0.5", ls=":", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel(r"$r / d^*$ (per-neuron distance)")
    ax.set_ylabel(r"$D(r) = d\ln C / d\ln r$")
    ax.legend(fontsize=7)
    ax.set_title(f"local slope of the correlation integral, layer {L}")
    paths.append(save_figure(plt, fig, Path(folder) / FIGURES[2]))
    # log stretching along the arc
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 4.2), dpi=110)
    theta = (np.arange(mf.points - 1) + 0.5) * mf.delta
    for w in widths:
        right.plot(theta, study.ensembles[w]["network"].log_stretch[0] - mf.log_stretch(), color=colors[w], lw=0.8,
                   label=f"network, n = {w}")
    w = widths[-1]
    right.plot(theta, study.ensembles[w]["gp_mean_field"].log_stretch[0] - mf.log_stretch(), color="k", lw=0.8,
               label=f"GP, mean-field kernel, n = {w}")
    right.set_xlabel(r"$\theta$ (rad)")
    right.set_ylabel(r"$\ln s - \ln s_{\rm mean\ field}$")
    right.legend(fontsize=7)
    right.set_title("one network (sample) each")
    summary_rows = _rows(summary)
    ws = np.array(widths, float)
    for name, marker in (("network", "o"), ("gp_mean_field", "x"), ("gp_corrected", "^")):
        cells = [summary_rows[w][name]["log_stretch"] for w in widths if name in summary_rows[w]]
        if len(cells) == len(widths):
            _errorbar(left, ws, [c["sd"] for c in cells], [c["sd_err"] for c in cells], marker=marker,
                      ls="none", label=_LABEL[name])
    grid = np.geomspace(ws.min() / 1.5, ws.max() * 1.5, 50)
    left.plot(grid, np.sqrt(mf.nu_eff * L / grid), "k-", lw=1, label=r"$\sqrt{\nu_{\rm eff} L / n}$")
    left.plot(grid, np.sqrt(2 / grid), "k:", lw=1, label=r"$\sqrt{2/n}$")
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xticks(ws, [str(int(w)) for w in widths])
    left.xaxis.set_minor_formatter(plt.NullFormatter())
    left.set_xlabel("width n")
    left.set_ylabel(r"sd of $\ln s$")
    left.legend(fontsize=7)
    left.set_title("spread of the log local stretching")
    paths.append(save_figure(plt, fig, Path(folder) / FIGURES[3]))
    return paths


def write_report(study, folder, seconds=None, summary=None) -> list:
    """Write ``folder/report.md`` and the :data:`FIGURES` (atomically); returns the paths written."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot write {folder}: {exc.strerror or exc}") from None
    summary = summary or study.summary()
    figures = _figures(study, summary, folder)
    report = atomic_write(folder / "report.md", report_markdown(summary, seconds, figures))
    return [report, *figures]
