"""The kernel-chain sampler and ``neurodyn validate`` (issue 12, parts 1, 4 and 5).

Expected values come from docs/finite_width.md (§6's Monte Carlo reference values with
their error bars; §3.4 and §3.6's exact ReLU laws, recomputed here independently with
scipy's digamma/trigamma and binomial weights) and from an independent exact sampler
(``simulate_jets`` with a Gaussian input layer), never from this sampler's own output.
Layer ``l`` is the numbering of docs/finite_width.md §3.1/§6: layer 1 is the input layer.
"""

import io
import json
import math

import numpy as np
import pytest
from scipy import special, stats

from neurodyn.cli import main
from neurodyn.numerics import iterate
from neurodyn.numerics.montecarlo import (ChainSample, ProgressBar, VALIDATE_QUANTITIES, chain_memory_estimate,
                                          input_kernel, kernel_chain, simulate_jets, validate_networks)
from neurodyn.numerics.results import ParameterError
from neurodyn.theory import catalog
from neurodyn.theory.errors import NotDefinedError

from cache import compiled


def theory(f, sw2, sb2, q0, depth, c0=None):
    """Infinite-width values at layers 1..depth (iterate's states 0..depth-1)."""
    rows = iterate(f, sw2, sb2, q0=q0, c0=c0, layers=depth - 1).rows
    return {k: np.array([float(r[k]) for r in rows]) for k in ("q", "chi_1", "metric", "Hsq") + (("c",) if c0 else ())}


# -- exact ReLU laws, computed independently ---------------------------------------------
def relu_log_walk(n, conditional=True):
    """(E ln M, Var ln M) for M = (2/n) chi^2_k, k ~ Bin(n, 1/2), given k >= 1 (docs/finite_width.md §3.6);
    ``conditional=False`` sums over k >= 1 without renormalising the weights (the notes' §6.4 digits)."""
    k = np.arange(1, n + 1)
    w = stats.binom.pmf(k, n, 0.5)
    if conditional:
        w = w / w.sum()
    psi, tri = special.digamma(k / 2), special.polygamma(1, k / 2)
    mean_log_chi2 = np.sum(w * (psi + math.log(2)))
    var = np.sum(w * tri) + np.sum(w * psi**2) - np.sum(w * psi) ** 2
    return math.log(2 / n) + mean_log_chi2, var


def test_relu_log_walk_formula_matches_the_notes():
    # docs/finite_width.md §6.4: n Var ln M = 5.91964, 5.40841, 5.19400, 5.04679 at n = 25, 50, 100, 400
    for n, expected in ((25, 5.91964), (50, 5.40841), (100, 5.19400), (400, 5.04679)):
        assert n * relu_log_walk(n, conditional=False)[1] == pytest.approx(expected, abs=5.1e-6)
        # the event k = 0 (probability 2^-n) changes it by 2e-6 at n = 25 only
        assert n * relu_log_walk(n)[1] == pytest.approx(expected, abs=1e-5)


def test_relu_log_walk_variance_is_exact():
    """ln Ghat^(l) is a random walk: mean and variance (l - 1) E ln M and (l - 1) Var ln M (§3.6)."""
    n, depth = 50, 9
    run = kernel_chain(catalog.get("relu"), 2.0, 0.0, q0=1.0, depth=depth, width=n, networks=20000, seed=3)
    mean, var = relu_log_walk(n)
    steps = np.arange(depth)                              # layer l = steps + 1
    for name, exact in (("log_q", steps * mean), ("var_log_q", steps * var)):
        m = run.measured[name]
        z = (m.mean[1:] - exact[1:]) / m.stderr[1:]
        assert np.all(np.abs(z) < 4), (name, z)


def test_relu_kernel_mean_and_variance_are_exact():
    """§3.4/§6.1: E[Ghat] = K exactly; n Var(Ghat^(l)) = n((1 + 5/n)^(l-1) - 1) K^2 exactly (5, 10.5, 16.55)."""
    n, q0 = 50, 1.7
    run = kernel_chain(catalog.get("relu"), 2.0, 0.0, q0=q0, depth=4, width=n, networks=40000, seed=4,
                       bootstrap=200)
    q = run.measured["q"]
    assert np.all(np.abs(q.z(np.full(4, q0))[1:]) < 4)
    exact = n * ((1 + 5 / n) ** np.arange(4) - 1) * q0**2
    v = run.measured["nvar_q"]
    assert np.all(np.abs((v.mean - exact)[1:] / v.bootstrap[1:]) < 4)
    assert np.allclose(v.stderr[1:], v.bootstrap[1:], rtol=0.3)     # jackknife and bootstrap agree


# -- docs/finite_width.md §6 reference values --------------------------------------------
def test_tanh_one_input_reference_value():
    """§6.1: tanh sigma_w = 1.5, sigma_b = 0.3, K^(1) = 1, n = 50: E[Ghat^(11)] = 0.95648 +- 0.00017."""
    run = kernel_chain(catalog.get("tanh"), 2.25, 0.09, q0=1.0, depth=11, width=50, networks=40000, seed=5)
    m = run.measured["q"]
    assert abs(m.mean[10] - 0.95648) < 3 * math.hypot(m.stderr[10], 0.00017)
    assert abs(m.mean[10] - 0.95663) < 3 * m.stderr[10]          # K + G1/n of §3.2


def test_tanh_critical_reference_value():
    """§6.1: critical tanh (C_W = 1, C_b = 0, K^(1) = 1), n = 50, l = 11: n(E[Ghat] - K) = -0.108 (MC)."""
    f = compiled("tanh")
    K = theory(f, 1.0, 0.0, 1.0, 11)["q"][10]
    run = kernel_chain(catalog.get("tanh"), 1.0, 0.0, q0=1.0, depth=11, width=50, networks=40000, seed=6)
    m = run.measured["q"]
    got, err = 50 * (m.mean[10] - K), 50 * m.stderr[10]
    assert abs(got - (-0.108)) < 3 * err + 0.0005, (got, err)
    assert abs(got - (-0.11138)) < 3 * err + 0.01                # G1 of §3.4 (higher orders: 0.003 at l/n = 0.2)


@pytest.mark.parametrize("l, ref, err", [(2, -0.075, 0.005), (5, 0.336, 0.016), (9, 1.705, 0.025),
                                         (12, 2.311, 0.027)])
def test_two_input_correlation_bias_reference_values(l, ref, err, two_input_run):
    """§6.2: tanh sigma_w = 2.5, sigma_b = 0.3, q = 4, c = 0.9, n = 25: n(E[c_hat] - c) by layer."""
    run, c = two_input_run
    m = run.measured["c"]
    got, se = 25 * (m.mean[l - 1] - c[l - 1]), 25 * m.stderr[l - 1]
    assert abs(got - ref) < 3.5 * math.hypot(se, err), (got, se)


@pytest.fixture(scope="module")
def two_input_run():
    f = compiled("tanh")
    c = theory(f, 6.25, 0.09, 4.0, 12, c0=0.9)["c"]
    assert c[[1, 4, 8, 11]] == pytest.approx([0.85991, 0.68883, 0.44270, 0.31249], abs=6e-6)   # §6.2's c_inf
    return kernel_chain(catalog.get("tanh"), 6.25, 0.09, q0=4.0, c0=0.9, depth=12, width=25, networks=40000,
                        seed=7), c


def test_two_input_vertex_and_diagonal_shift(two_input_run):
    """§6.2: n Var(Ghat_12) grows like V_12,12 (7.05, 23.2, 45.4 at n = 100; n = 25 is within 10%)."""
    run, _ = two_input_run
    v = run.measured["nvar_G12"]
    for l, ref in ((2, 7.05), (5, 23.2), (9, 45.4)):
        assert abs(v.mean[l - 1] - ref) < 0.1 * ref + 4 * v.stderr[l - 1]


@pytest.mark.slow
@pytest.mark.parametrize("l, ref, err", [(2, -0.057, 0.011), (5, 0.326, 0.033), (9, 1.711, 0.051),
                                         (12, 2.135, 0.054)])
def test_two_input_correlation_bias_at_width_100(l, ref, err, wide_run):
    run, c = wide_run
    m = run.measured["c"]
    got, se = 100 * (m.mean[l - 1] - c[l - 1]), 100 * m.stderr[l - 1]
    assert abs(got - ref) < 3.5 * math.hypot(se, err), (got, se)


@pytest.fixture(scope="module")
def wide_run():
    c = theory(compiled("tanh"), 6.25, 0.09, 4.0, 12, c0=0.9)["c"]
    return kernel_chain(catalog.get("tanh"), 6.25, 0.09, q0=4.0, c0=0.9, depth=12, width=100, networks=100000,
                        seed=8), c


@pytest.mark.slow
def test_two_input_vertex_at_width_100(wide_run):
    """§6.2: n Var(Ghat_12) = 7.07, 22.9, 45.2, 50.2 (MC, n = 100) at l = 2, 5, 9, 12."""
    run, _ = wide_run
    v = run.measured["nvar_G12"]
    for l, ref in ((2, 7.07), (5, 22.9), (9, 45.2), (12, 50.2)):
        assert abs(v.mean[l - 1] - ref) < 0.02 * ref + 4 * v.stderr[l - 1]


def test_relu_speed_log_walk_slope():
    """§6.3: ReLU, n = 25: n Var(ln g) grows by 5.92 per layer (exact: n Var ln M, §3.6; MC 5.95)."""
    n, depth = 40, 21
    run = kernel_chain(catalog.get("relu"), 2.0, 0.0, q0=1.0, depth=depth, width=n, networks=10000, seed=9,
                       curve=True, curvature=False)
    v = run.measured["var_log_metric"]
    layers = np.arange(1, depth + 1)
    w = 1 / v.stderr[1:] ** 2
    slope = np.polyfit(layers[1:], v.mean[1:], 1, w=np.sqrt(w))[0]
    exact = relu_log_walk(n)[1]
    assert slope == pytest.approx(exact, rel=0.05)


# -- the two exact samplers agree --------------------------------------------------------
def test_kernel_chain_agrees_with_jets_sampler():
    """At width 8 (large finite-width effects) the chain and the forward jets sampler (Gaussian input layer)
    give the same q, metric, c and curvature at every layer, within their standard errors."""
    act, n, depth, M = catalog.get("tanh"), 8, 5, 3000
    jets = simulate_jets(act, 6.25, 0.09, q0=1.0, c0=0.6, layers=depth - 1, width=n, networks=M, seed=1,
                         method="gram", start="gaussian")
    chain = kernel_chain(act, 6.25, 0.09, q0=1.0, c0=0.6, depth=depth, width=n, networks=M, seed=2, curve=True)
    zs = []
    for jn, cn in (("q", "q_empirical"), ("metric", "metric_empirical"), ("c", "c_empirical"), ("Hsq", "Hsq")):
        a, b = jets.measured[jn], chain.measured[cn]
        zs.append((a.mean - b.mean) / np.hypot(a.stderr, b.stderr))
    zs = np.array(zs)
    assert np.all(np.abs(zs) < 4), zs


def test_input_layer_is_the_theory_state_zero():
    f = compiled("tanh")
    th = theory(f, 2.0, 0.1, 1.3, 3, c0=0.4)
    run = kernel_chain(catalog.get("tanh"), 2.0, 0.1, q0=1.3, c0=0.4, depth=3, width=30, networks=50, seed=0,
                       curve=True)
    for name in ("q", "c", "metric"):
        assert run.measured[name].mean[0] == th[name][0] and run.measured[name].stderr[0] == 0
    # layer-1 chi_1 is a Gaussian expectation of the exact input layer: unbiased at any width
    assert abs(run.measured["chi_1"].z(th["chi_1"])[0]) < 4
    K = input_kernel(1.3, 0.4, ("h", "u", "a", "h2"))
    assert np.linalg.eigvalsh(K).min() > -1e-12 and np.linalg.matrix_rank(K, tol=1e-9) == 2


def test_same_seed_same_result_and_generator_seed():
    act = catalog.get("erf")
    a = kernel_chain(act, 1.5, 0.05, q0=1.0, c0=0.3, depth=3, width=20, networks=100, seed=11)
    b = kernel_chain(act, 1.5, 0.05, q0=1.0, c0=0.3, depth=3, width=20, networks=100, seed=11)
    c = kernel_chain(act, 1.5, 0.05, q0=1.0, c0=0.3, depth=3, width=20, networks=100, seed=12)
    assert np.array_equal(a.per_network["G"], b.per_network["G"])
    assert not np.array_equal(a.per_network["G"], c.per_network["G"])
    g = kernel_chain(act, 1.5, 0.05, q0=1.0, depth=2, width=20, networks=10, seed=np.random.default_rng(1))
    assert isinstance(g, ChainSample)


@pytest.mark.parametrize("kwargs, match", [
    (dict(width=1), "width"), (dict(depth=0), "depth"), (dict(networks=1), "networks"),
    (dict(q0=-1.0), "q0"), (dict(c0=1.5), "c0"), (dict(bootstrap=-1), "bootstrap"),
    (dict(networks=10**9), "MiB"),
])
def test_kernel_chain_bad_input(kwargs, match):
    args = dict(q0=1.0, depth=3, width=10, networks=10)
    args.update(kwargs)
    with pytest.raises(ParameterError, match=match):
        kernel_chain(catalog.get("tanh"), 2.0, 0.1, **args)


def test_relu_curvature_is_not_defined():
    with pytest.raises(NotDefinedError, match="Dirac"):
        kernel_chain(catalog.get("relu"), 2.0, 0.0, q0=1.0, depth=2, width=10, networks=10, curve=True)


def test_memory_estimate_grows_with_networks():
    small, big = chain_memory_estimate(100, 4, 10**3, 12), chain_memory_estimate(100, 4, 10**6, 12)
    assert big > 8 * 10**6 * 12 * 32 > small


def test_progress_bar_draws_only_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    bar = ProgressBar("work", stream=Tty(), after=0.0)
    bar(0.5)
    bar.close()
    text = bar.stream.getvalue()
    assert "work [" in text and "50%" in text and text.endswith("\r\x1b[K")
    seen = []
    kernel_chain(catalog.get("tanh"), 2.0, 0.1, q0=1.0, depth=2, width=10, networks=10, progress=seen.append)
    assert seen and seen[-1] == 1.0


# -- validate ----------------------------------------------------------------------------
def run_cli(argv):
    out = io.StringIO()
    code = main(argv, out=out)
    return code, out.getvalue()


def test_cli_json_shape():
    code, text = run_cli(["validate", "tanh", "--sigma-w2", "6.25", "--sigma-b2", "0.09", "--widths", "10,20",
                          "--depth", "3", "--networks", "40", "--json"])
    assert code == 0
    data = json.loads(text)
    assert set(data) == {"rows", "fits"}
    assert len(data["rows"]) == len(VALIDATE_QUANTITIES) * 3 * 2
    for row in data["rows"]:
        assert set(row) == {"l", "width", "quantity", "theory", "mean", "stderr", "z", "theory_1n"}
    for fit in data["fits"]:
        assert set(fit) == {"quantity", "l", "coef_1n", "coef_1n_err", "predicted"}
    first = [r for r in data["rows"] if r["quantity"] == "q" and r["l"] == 1]
    assert all(r["mean"] == 1.0 and r["stderr"] == 0 and r["z"] is None for r in first)
    assert {(f["quantity"], f["l"]) for f in data["fits"]} >= {("q", 2), ("c", 3), ("Hsq", 1), ("length", 3)}
    assert ("q", 1) not in {(f["quantity"], f["l"]) for f in data["fits"]}


def test_cli_text_output():
    code, text = run_cli(["validate", "erf", "--sigma-w2", "2", "--sigma-b2", "0.05", "--widths", "10,30",
                          "--depth", "2", "--networks", "30", "--seed", "3"])
    assert code == 0 and "coef_1n" in text and "largest |z| against infinite width" in text and "z_1n" in text


@pytest.mark.parametrize("extra, match", [
    (["--widths", "1,10"], "--widths must be integers >= 2"),
    (["--widths", "10,x"], "--widths takes integers"),
    (["--depth", "0"], "--depth must be an integer >= 1"),
    (["--networks", "1"], "--networks must be an integer >= 2"),
    (["--networks", "100000000"], "MiB"),
    (["--q0", "0"], "--q0 must be"),
    (["--c0", "1.5"], "--c0 must be"),
    (["--quantities", "q,foo"], "--quantities"),
    (["--seed", "-1"], "--seed"),
])
def test_cli_bad_input(extra, match, capsys):
    code, _ = run_cli(["validate", "tanh", "--sigma-w2", "2", "--sigma-b2", "0.1", "--depth", "2",
                       "--networks", "10"] + extra)
    err = capsys.readouterr().err.strip()
    assert code == 1 and match in err and len(err.splitlines()) == 1, err


def test_cli_relu_curvature_says_so(capsys):
    code, _ = run_cli(["validate", "relu", "--sigma-w2", "2", "--sigma-b2", "0"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "Hsq" in err and "relu" in err and "Dirac delta" in err and len(err.splitlines()) == 1
    code, text = run_cli(["validate", "relu", "--sigma-w2", "2", "--sigma-b2", "0", "--widths", "10,20",
                          "--depth", "2", "--networks", "20", "--quantities", "q,c,metric,length", "--json"])
    assert code == 0 and {r["quantity"] for r in json.loads(text)["rows"]} == {"q", "c", "metric", "length"}


def test_weighted_fit_recovers_a_known_coefficient():
    """validate's fit on data with a known 1/n offset: relu at sigma_b2 = 0 has E[q] = K exactly (coef 0),
    and the layer-1 length has E[2 pi sqrt(chi^2_n/n)] - 2 pi = 2 pi (sqrt(2/n) Gamma((n+1)/2)/Gamma(n/2) - 1)."""
    f = compiled("relu")
    res = validate_networks(f, 2.0, 0.0, widths=[10, 40], depth=3, networks=4000, seed=2,
                            quantities=("q", "length"))
    fits = {(x["quantity"], x["l"]): x for x in res.fits}
    for l in (2, 3):
        assert abs(fits[("q", l)]["coef_1n"]) < 4 * fits[("q", l)]["coef_1n_err"]
    # exact expectation, compared row by row (not the 1/n fit, which has O(1/n^2) terms)
    for row in res.rows:
        if row["quantity"] == "length" and row["l"] == 1:
            n = row["width"]
            exact = 2 * math.pi * math.sqrt(2 / n) * math.exp(math.lgamma((n + 1) / 2) - math.lgamma(n / 2))
            assert abs(row["mean"] - exact) < 4 * row["stderr"]


# -- the 1/n theory (numerics.finite_width, an independent module) against the measurements ------
def test_chi_1_offset_follows_the_one_over_n_theory():
    """n(E[chi_hat] - chi_1(K)) = chi_1'(K) G1 + chi_1''(K) V/2 (§3.3's general statement), tanh (2.25, 0.09)."""
    from neurodyn.numerics.montecarlo import one_over_n_predictions
    f = compiled("tanh")
    pred = one_over_n_predictions(f, 2.25, 0.09, q0=1.0, c0=None, depth=6)
    th = theory(f, 2.25, 0.09, 1.0, 6)["chi_1"]
    run = kernel_chain(catalog.get("tanh"), 2.25, 0.09, q0=1.0, depth=6, width=50, networks=100000, seed=13)
    m = run.measured["chi_1"]
    for l in range(1, 7):
        got, se = 50 * (m.mean[l - 1] - th[l - 1]), 50 * m.stderr[l - 1]
        assert abs(got - pred[("chi_1", l)]) < 4 * se, (l, got, se, pred[("chi_1", l)])
    assert pred[("chi_1", 1)] == 0 and pred[("chi_1", 4)] > 0.15        # a real, resolved offset


@pytest.mark.slow
def test_validate_fits_match_the_one_over_n_theory():
    """The issue's claim: the fitted 1/n coefficients of q, c and chi_1 agree with the 1/n theory (tanh, chaotic)."""
    res = validate_networks(compiled("tanh"), 6.25, 0.09, widths=[50, 100, 200], depth=8, networks=20000,
                            q0=1.0, c0=0.9, seed=21, quantities=("q", "c", "chi_1"))
    checked = 0
    for fit in res.fits:
        if fit["predicted"] is not None and fit["l"] >= 2:
            assert abs(fit["coef_1n"] - fit["predicted"]) < 4 * fit["coef_1n_err"], fit
            checked += 1
    assert checked == 3 * 7
    c8 = next(x for x in res.fits if x["quantity"] == "c" and x["l"] == 8)
    assert c8["coef_1n"] > 5 * c8["coef_1n_err"]                           # the chaotic-phase bias is resolved


def test_kernel_fluctuations_follow_the_four_point_vertex():
    """§3.1/§6.1: n Var(Ghat^(l)) = V^(l) (tanh sigma_w = 1.5, sigma_b = 0.3, K^(1) = 1, n = 50; V -> 0.5919),
    V from numerics.finite_width; exact at l = 2 (V^(2) = C_W^2 Var(phi^2)), O(l/n^2) beyond."""
    from neurodyn.numerics.finite_width import finite_width
    V = np.array([float(r.V.value) for r in finite_width(compiled("tanh"), 2.25, 0.09, depth=11, q0=1.0).layers])
    assert V[10] == pytest.approx(0.5919, abs=1e-4)
    run = kernel_chain(catalog.get("tanh"), 2.25, 0.09, q0=1.0, depth=11, width=50, networks=40000, seed=14)
    m = run.measured["nvar_q"]
    assert m.mean[0] == 0
    z = (m.mean[1:] - V[1:]) / m.stderr[1:]
    assert np.all(np.abs(z) < 4), z


def test_identical_inputs_stay_identical():
    """c0 = 1: both points are one point at every layer, c = 1 exactly: no z-score, no fit (not rounding noise)."""
    res = validate_networks(compiled("tanh"), 6.25, 0.09, widths=[10, 20], depth=4, networks=100, c0=1.0, seed=1,
                            quantities=("c",))
    assert all(r["mean"] == pytest.approx(1.0, abs=1e-14) and r["z"] is None for r in res.rows)
    assert res.fits == []
