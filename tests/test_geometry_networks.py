"""Finite random networks against the geometry recursions (docs/theory.md §4, §5.2, §5.4; issue 10 part 3).

Seeded networks push a great circle (m = 1) or a patch of a 2-sphere (m = 2)
through 6-8 layers by exact forward propagation of the point, its Jacobian and
its Hessian (:mod:`neurodyn.numerics.montecarlo`); the measured metric factor,
|H|^2, |tr H|^2, Rbar, q, c and d must lie within 3 standard errors of the
mean-field recursions at every layer.

The recursions are computed here by a deliberately tiny helper from the
compiled laws (q_map, cov_map, chi_1, chi_2 in float64), itself checked against
the independently computed values in docs/theory.md §5.2 and §5.4.

``python tests/test_geometry_networks.py`` prints the z-score table of every case.
"""

import math
import sys
import time

import numpy as np
import pytest

from neurodyn.numerics import fixed_point, iterate
from neurodyn.numerics.montecarlo import memory_estimate, simulate_jets
from neurodyn.numerics.results import ParameterError
from neurodyn.theory import Activation, catalog, derive
from neurodyn.numerics import compile_laws
from neurodyn.theory.errors import NotDefinedError

from cache import compiled

MISH = "x*tanh(log(1+exp(x)))"


def recursions(f, sw2, sb2, q0, m, layers, c0):
    """Mean-field state at l = 0..layers (numerics.iterate, float64; docs/theory.md §4, §5.4, §3.1)."""
    rows = iterate(f, sw2, sb2, q0=q0, c0=c0, dim=m, layers=layers).rows
    return {k: np.array([float(r[k]) for r in rows]) for k in ("q", "metric", "Hsq", "trHsq", "Rbar", "c", "d")}


def q_star(f, sw2, sb2):
    return float(fixed_point(f, str(sw2), str(sb2), dps=20).q_star.value)


# -- the helper against independently computed values ---------------------------------
def test_recursion_helper_matches_docs_values():
    f = compiled("tanh")
    # §5.4 transient: tanh (1.7, 0.09), circle at q0 = 3, kbar^2 at layers 0..6
    got = recursions(f, 1.7, 0.09, 3.0, 1, 6, 0.5)["Hsq"]
    assert np.allclose(got, [0.333, 5.14, 9.32, 12.94, 16.26, 19.47, 22.71], atol=0.006)
    # §5.2 table: m = 2 patch at q*, |H|^2 and Rbar at layer 6
    for sw2, hsq, rbar in ((6.25, 9.69, 0.031), (1.69, 39.5, 4.78)):
        th = recursions(f, sw2, 0.09, q_star(f, sw2, 0.09), 2, 6, 0.5)
        assert th["Hsq"][6] == pytest.approx(hsq, abs=0.06) and th["Rbar"][6] == pytest.approx(rbar, abs=0.006)
    # m = 1: |tr H|^2 = |H|^2 and Rbar = 0 (docs/theory.md §5.2)
    th = recursions(f, 2.0, 0.1, 0.8, 1, 5, 0.3)
    assert np.allclose(th["trHsq"], th["Hsq"]) and np.all(th["Rbar"] == 0)


# -- comparisons -----------------------------------------------------------------------
def compare(run, theory, names):
    """Rows (quantity, layer, theory, mean, stderr, z) for layers 1..L."""
    return [(r["quantity"], r["l"], r["theory"], r["mean"], r["stderr"], r["z"])
            for r in run.compare(theory, names)]


def format_rows(label, rows):
    lines = [f"{label}"] + [f"  {n:<7} l={l}  theory {t:10.5g}  measured {mu:10.5g} +- {se:8.2g}  z {z:+6.2f}"
                            for n, l, t, mu, se, z in rows]
    worst = max(rows, key=lambda r: abs(r[5]))
    lines.append(f"  largest |z| = {abs(worst[5]):.2f} ({worst[0]}, layer {worst[1]})")
    return "\n".join(lines)


def check_state0(run, theory):
    for name in ("q", "metric", "Hsq", "trHsq", "Rbar", "c", "d"):
        assert run.measured[name].mean[0] == pytest.approx(theory[name][0], rel=1e-9, abs=1e-12), name


def isotropy_z(run):
    """z-scores of the traceless part of the mean metric (exactly zero in expectation, by symmetry)."""
    g = run.per_network["g"][:, 1:]
    M = g.shape[0]
    parts = [g[..., 0, 0] - g[..., 1, 1], g[..., 0, 1]]
    return np.array([p.mean(0) / (p.std(0, ddof=1) / math.sqrt(M)) for p in parts])


# seeded cases: (label, activation, sigma_w2, sigma_b2, q0 (None: q*), m, layers, width, networks, seed)
CASES = {
    "tanh-2.5-patch": ("tanh", 6.25, 0.09, None, 2, 6, 1500, 40, 101),
    "tanh-1.3-patch": ("tanh", 1.69, 0.09, None, 2, 6, 1500, 40, 102),
    "tanh-2.5-circle": ("tanh", 6.25, 0.09, None, 1, 8, 1000, 30, 103),
    "tanh-1.3-circle": ("tanh", 1.69, 0.09, None, 1, 8, 1000, 30, 104),
    "tanh-transient-circle": ("tanh", 1.7, 0.09, 3.0, 1, 6, 2000, 40, 105),
    # 30 networks gave Rbar z = -4.0 at layer 6 (seed 106); the standard errors are calibrated
    # (test_standard_errors_are_calibrated) and larger runs agree, so the case now uses 120 networks
    "mish-patch": (MISH, 2.25, 0.09, 1.0, 2, 8, 1000, 120, 106),
}


def activation_and_laws(name):
    if name in ("tanh", "relu"):
        return catalog.get(name), compiled(name)
    act = Activation.parse(name)
    return act, compile_laws(derive(act))


def run_case(label):
    name, sw2, sb2, q0, m, layers, width, networks, seed = CASES[label]
    act, f = activation_and_laws(name)
    q0 = q_star(f, sw2, sb2) if q0 is None else q0
    run = simulate_jets(act, sw2, sb2, q0=q0, dim=m, layers=layers, width=width, networks=networks,
                        c0=0.5, seed=seed)
    theory = recursions(f, sw2, sb2, q0, m, layers, 0.5)
    names = ["q", "metric", "Hsq"] + (["trHsq", "Rbar"] if m > 1 else []) + ["c", "d"]
    return run, theory, compare(run, theory, names)


@pytest.mark.slow
@pytest.mark.parametrize("label", list(CASES))
def test_networks_follow_recursions(label):
    run, theory, rows = run_case(label)
    check_state0(run, theory)
    report = format_rows(label, rows)
    print(report)
    bad = [r for r in rows if not abs(r[5]) < 3]
    assert not bad, report
    conf = run.measured["conformality"].mean
    assert conf[0] == pytest.approx(1) and np.all(conf >= 1)


@pytest.mark.slow
def test_metric_is_isotropic_in_expectation():
    """The traceless part of E[g_ab] vanishes (conformal embedding), tested with 2000 networks.

    (With 40 networks, seed 102 of the tanh-1.3 patch case gave z = -3.5 for g_12 at layer 2:
    a fluctuation carried to later layers, so the isotropy check uses a large sample instead.)
    """
    f = compiled("tanh")
    run = simulate_jets(catalog.get("tanh"), 1.69, 0.09, q0=q_star(f, 1.69, 0.09), dim=2, layers=6,
                        width=1500, networks=2000, seed=5, method="gram", curvature=False)
    iso = isotropy_z(run)
    assert np.all(np.abs(iso) < 3), iso
    # and the per-network ratio of eigenvalues is above 1 (finite width), exactly 1 at state 0
    conf = run.measured["conformality"].mean
    assert conf[0] == pytest.approx(1) and np.all(conf[1:] > 1)


@pytest.mark.slow
def test_standard_errors_are_calibrated():
    """Across repeated 20-network runs, (mean - grand mean) / stderr has sd close to 1 (jackknife for ratios)."""
    act = Activation.parse(MISH)
    rng = np.random.default_rng(2024)
    names = ("Rbar", "Hsq", "c", "metric", "q")
    means, errs = {k: [] for k in names}, {k: [] for k in names}
    for _ in range(150):
        run = simulate_jets(act, 2.25, 0.09, q0=1.0, dim=2, layers=4, width=300, networks=20, seed=rng,
                            method="gram")
        for k in names:
            means[k].append(run.measured[k].mean[4])
            errs[k].append(run.measured[k].stderr[4])
    for k in names:
        z = (np.array(means[k]) - np.mean(means[k])) / np.array(errs[k])
        assert 0.85 < z.std() < 1.25, (k, z.std())


# -- fast checks ------------------------------------------------------------------------
def test_smoke_small_network():
    """A small seeded run: exact state 0, layer 1-3 within 3 standard errors, both samplers."""
    f, act = compiled("tanh"), catalog.get("tanh")
    theory = recursions(f, 2.0, 0.1, 1.2, 2, 3, 0.5)
    for method, networks in (("weights", 20), ("gram", 60)):
        run = simulate_jets(act, 2.0, 0.1, q0=1.2, dim=2, layers=3, width=300, networks=networks,
                            seed=7, method=method, bootstrap=50)
        check_state0(run, theory)
        rows = compare(run, theory, ["q", "metric", "Hsq", "trHsq", "Rbar", "c", "d"])
        assert all(abs(r[5]) < 3 for r in rows), format_rows(method, rows)
        for m in run.measured.values():
            assert m.bootstrap is not None and np.all(m.bootstrap[1:] > 0)
            assert np.all(m.bootstrap[1:] < 3 * m.stderr[1:]) and np.all(m.stderr[1:] < 3 * m.bootstrap[1:])


@pytest.mark.slow
def test_gram_sampler_matches_explicit_weights_at_small_width():
    """Both samplers are exact in distribution: at width 40 (far from mean field) the means and the
    network-to-network spreads of the per-network statistics agree (two-sample z, sd ratio)."""
    act = catalog.get("tanh")
    runs = [simulate_jets(act, 2.0, 0.1, q0=1.2, dim=2, layers=3, width=40, networks=3000, seed=seed,
                          method=method) for method, seed in (("weights", 31), ("gram", 32))]
    for name in ("q", "metric", "c", "d", "Hsq"):
        a, b = (r.measured[name] for r in runs)
        z = (a.mean[1:] - b.mean[1:]) / np.hypot(a.stderr[1:], b.stderr[1:])
        assert np.all(np.abs(z) < 3.5), (name, z)
    for name in ("q", "metric"):
        sa, sb = (r.measured[name].stderr[1:] for r in runs)
        assert np.all(np.abs(sa / sb - 1) < 0.1), (name, sa / sb)


def test_same_seed_same_networks_any_batch():
    act = catalog.get("tanh")
    a = simulate_jets(act, 2.0, 0.1, q0=1.0, dim=1, layers=2, width=50, networks=6, seed=3, batch=6)
    b = simulate_jets(act, 2.0, 0.1, q0=1.0, dim=1, layers=2, width=50, networks=6, seed=3, batch=4)
    assert np.array_equal(a.per_network["K"], b.per_network["K"])
    c = simulate_jets(act, 2.0, 0.1, q0=1.0, dim=1, layers=2, width=50, networks=6, seed=4)
    assert not np.array_equal(a.per_network["K"], c.per_network["K"])


def test_relu_metric_is_preserved_in_expectation():
    """ReLU at sigma_w2 = 2: E[metric] = q0 at every depth and width (docs/finite_width.md §3.7)."""
    act = catalog.get("relu")
    run = simulate_jets(act, 2.0, 0.0, q0=1.5, dim=2, layers=5, width=100, networks=200, seed=11,
                        method="gram", curvature=False)
    z = run.measured["metric"].z(np.full(6, 1.5))
    assert np.all(np.abs(z[1:]) < 3), z
    assert "Hsq" not in run.measured
    with pytest.raises(NotDefinedError, match="chi_2"):
        simulate_jets(act, 2.0, 0.0, q0=1.0, layers=2, width=10, networks=2)


@pytest.mark.slow
def test_conformality_ratio_shrinks_with_width():
    """The per-network eigenvalue ratio of g is 1 + O(sqrt(L/n)): quadrupling n about halves the excess."""
    act = catalog.get("tanh")
    excess = []
    for n in (400, 1600, 6400):        # L nu_eff / n <= 0.08: the asymptotic regime
        run = simulate_jets(act, 6.25, 0.09, q0=4.0, dim=2, layers=4, width=n, networks=200, seed=5,
                            method="gram", curvature=False)
        excess.append(run.measured["conformality"].mean[4] - 1)
    assert 0.35 < excess[1] / excess[0] < 0.65 and 0.35 < excess[2] / excess[1] < 0.65, excess


@pytest.mark.parametrize("kwargs, match", [
    (dict(width=1), "width"), (dict(layers=0), "layers"), (dict(networks=1), "networks"),
    (dict(dim=0), "dim"), (dict(dim=1.5), "dim"), (dict(q0=0.0), "q0"), (dict(c0=1.5), "c0"),
    (dict(q0=float("nan")), "q0"), (dict(method="exact"), "method"), (dict(width=3, dim=3), "width"),
    (dict(width=200_000), "MiB"),
])
def test_bad_input(kwargs, match):
    args = dict(q0=1.0, dim=1, layers=2, width=10, networks=2)
    args.update(kwargs)
    with pytest.raises(ParameterError, match=match):
        simulate_jets(catalog.get("tanh"), 2.0, 0.1, **args)


def test_degenerate_image_is_not_defined():
    """A constant activation collapses the manifold to a point: a clear error, not nan."""
    with pytest.raises(NotDefinedError, match="singular metric"):
        simulate_jets(Activation.parse("1 + 0*x"), 2.0, 0.1, q0=1.0, layers=2, width=10, networks=2)


def test_memory_estimate_counts_the_weight_matrix():
    assert memory_estimate(200_000, 1, 2, 2) > 8 * 200_000**2
    assert memory_estimate(200_000, 1, 2, 2, method="gram") < 10**9


if __name__ == "__main__":       # the z-score tables for the closing note
    for label in (sys.argv[1:] or CASES):
        start = time.perf_counter()
        print(format_rows(label, run_case(label)[2]), f"\n  ({time.perf_counter() - start:.1f} s)", flush=True)
