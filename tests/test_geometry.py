"""The geometry of the signal manifold: recursions, layer-by-layer iteration, fates, the commands.

Expected values come from outside the engine: docs/theory.md §5.4 (transient), §9 and §9.2
(independently computed tables), tests/reference/fixed_points.json (an independent generator),
mpmath quadrature written here, and explicit enumeration (Isserlis).
"""

import itertools
import json
import subprocess
import sys
import time

import mpmath
import numpy as np
import pytest
import sympy

from neurodyn.numerics import compile_laws, critical_point
from neurodyn.numerics.geometry import geometry
from neurodyn.numerics.iterate import iterate
from neurodyn.numerics.results import ParameterError
from neurodyn.theory import catalog, derive
from neurodyn.theory.geometry import ISSERLIS_SOURCE, RECURSIONS, fates, solution, solve_fixed_point
from neurodyn.theory.laws import law_names
from neurodyn.theory.symbols import Hsq, Rbar, chi1, chi2, layer, m, q_star

_COMPILED = {}


def compiled(name):
    if name not in _COMPILED:
        _COMPILED[name] = compile_laws(derive(catalog.get(name)))
    return _COMPILED[name]


def close(estimate, expected, rel=None):
    """``estimate`` (an Estimate) agrees with ``expected`` within its error (plus ``rel`` relative)."""
    with mpmath.workdps(60):
        gap = abs(mpmath.mpf(estimate.value) - mpmath.mpf(expected))
        allowed = estimate.error + (abs(mpmath.mpf(expected)) * mpmath.mpf(rel) if rel else 0)
        return gap <= allowed


# ----------------------------------------------------------------------------------------
# theory
# ----------------------------------------------------------------------------------------
def test_geometry_laws_are_registered_in_their_group():
    names = law_names("geometry")
    for name in ("metric_map", "Hsq_map", "trHsq_map", "Rbar_map", "metric_anisotropy", "Hsq_star", "Hsq_slope"):
        assert name in names


@pytest.mark.parametrize("dim", [1, 2, 3, 4])
def test_isserlis_source_by_enumeration(dim):
    """g^{ac} g^{bd} and g^{ab} g^{cd} contractions of g_ab g_cd + g_ac g_bd + g_ad g_bc, g = identity."""
    delta = np.eye(dim, dtype=int)
    full = sum(delta[a, c] * delta[b, d] * (delta[a, b] * delta[c, d] + delta[a, c] * delta[b, d]
                                            + delta[a, d] * delta[b, c])
               for a, b, c, d in itertools.product(range(dim), repeat=4))
    trace = sum(delta[a, b] * delta[c, d] * (delta[a, b] * delta[c, d] + delta[a, c] * delta[b, d]
                                             + delta[a, d] * delta[b, c])
                for a, b, c, d in itertools.product(range(dim), repeat=4))
    assert int(full) == int(trace) == int(ISSERLIS_SOURCE.subs(m, dim)) == dim * (dim + 2)


def test_rbar_source_cancels_and_fixed_point():
    assert RECURSIONS["Rbar"].expr == Rbar / chi1          # the chi_2 sources of |tr H|^2 and |H|^2 cancel
    star = solve_fixed_point("Hsq")
    assert sympy.simplify(star - m * (m + 2) * chi2 / (chi1 * (chi1 - 1))) == 0


def test_geometric_series_solution_against_the_recursion():
    """rsolve's closed form equals the recursion applied l times (exact rationals)."""
    values = {chi1: sympy.Rational(7, 5), chi2: sympy.Rational(3, 4), m: 2}
    start = sympy.Rational(5, 3)
    for critical in (False, True):
        vals = {**values, chi1: 1} if critical else values
        x = start
        for n in range(1, 9):
            x = RECURSIONS["Hsq"].expr.subs(vals).subs(Hsq, x)
            closed = solution("Hsq", critical).subs(vals).subs({sympy.Symbol("Hsq0", real=True): start, layer: n})
            assert sympy.simplify(closed - x) == 0


def test_stein_identity_by_quadrature():
    """docs/theory.md §5.4: E[phi'^2 h^2] - 2q E[phi' phi'' h] = q E[phi'^2] (tanh, q = 0.7)."""
    with mpmath.workdps(30):
        qv = mpmath.mpf("0.7")

        def expect(fn):
            return mpmath.quad(lambda zz: fn(mpmath.sqrt(qv) * zz) * mpmath.npdf(zz), [-mpmath.inf, 0, mpmath.inf])

        d1 = lambda h: mpmath.sech(h) ** 2                                   # noqa: E731
        d2 = lambda h: -2 * mpmath.sech(h) ** 2 * mpmath.tanh(h)             # noqa: E731
        lhs = expect(lambda h: d1(h) ** 2 * h ** 2) - 2 * qv * expect(lambda h: d1(h) * d2(h) * h)
        rhs = qv * expect(lambda h: d1(h) ** 2)
        assert abs(lhs - rhs) < mpmath.mpf(10) ** -25


def test_metric_anisotropy_relu_vanishes_and_tanh_is_half_the_slope_of_chi_1():
    """docs/theory.md §4: the correction vanishes for ReLU; by Stein and the heat equation A(q) = chi_1'(q)/2."""
    relu = derive(catalog.get("relu"))
    assert relu.metric_anisotropy.expr == 0
    f = compiled("tanh")
    a = f.metric_anisotropy("0.7", "2.25", "0.05", dps=20)
    with mpmath.workdps(40):
        slope = mpmath.diff(lambda qq: 2.25 * mpmath.quad(lambda zz: mpmath.sech(mpmath.sqrt(qq) * zz) ** 4
                                                          * mpmath.npdf(zz), [-mpmath.inf, 0, mpmath.inf]),
                            mpmath.mpf("0.7"))
    assert close(a, slope / 2, rel="1e-15")


def test_laws_undefined_for_relu_curvature():
    laws = derive(catalog.get("relu"))
    assert not laws.Hsq_map.defined and "chi_2" in laws.Hsq_map.note
    assert laws.Rbar_map.defined and laws.metric_map.defined


# ----------------------------------------------------------------------------------------
# iteration against independent values
# ----------------------------------------------------------------------------------------
def test_q_sequence_matches_docs_9_2():
    t = iterate(compiled("tanh"), "1.69", "0.09", q0="1", layers=5, dps=20)
    expected = ["0.7563576887724", "0.6715806224234", "0.6363823660498", "0.6206784909498", "0.6134449947059"]
    for row, value in zip(t.rows[1:], expected):
        assert abs(float(row["q"].value) - float(value)) < 1e-12


def test_transient_off_the_fixed_point_matches_docs_5_4():
    """tanh (1.7, 0.09), q0 = 3: the recursion's kbar^2 at layers 0-6 quoted in docs/theory.md §5.4."""
    t = iterate(compiled("tanh"), "1.7", "0.09", q0="3", layers=6, dps=20)
    quoted = [0.333, 5.14, 9.32, 12.94, 16.26, 19.47, 22.71]
    for row, value in zip(t.rows, quoted):
        assert abs(float(row["Hsq"].value) - value) <= 0.006


@pytest.mark.slow
@pytest.mark.parametrize("act,sw2,sb2,kbar2", [
    ("tanh", "2.25", "0.05", "20.531718871"),
    ("tanh", "6.25", "0.09", "3.86770982431"),
    ("erf", "2", "0.05", "15.4100104955"),
])
def test_kbar_star_squared_docs_9(act, sw2, sb2, kbar2):
    """P16's kbar*^2 (docs/theory.md §9): as the fate, and as the limit of the layer-by-layer iteration."""
    f = compiled(act)
    geo = geometry(f, sw2, sb2, dim=1, dps=20)
    assert geo.phase == "chaotic"
    assert abs(float(geo.values["Hsq_star"].value) / float(kbar2) - 1) < 1e-10
    t = iterate(f, sw2, sb2, q0="1", layers=1000, dps=20, every=1000)
    assert close(t.rows[-1]["Hsq"], geo.values["Hsq_star"].value, rel="1e-18")


@pytest.mark.slow
def test_hsq_star_from_reference_chi(reference):
    """m(m+2) chi_2/(chi_1(chi_1 - 1)) from the independent reference chi_1, chi_2 (every chaotic case)."""
    for case in reference["cases"]:
        if case["chi_2"] is None or mpmath.mpf(case["chi_1"]) <= 1 or case["params"]:
            continue
        geo = geometry(compiled(case["activation"]), case["sigma_w2"], case["sigma_b2"], dim=2, dps=25)
        with mpmath.workdps(50):
            x1, x2 = mpmath.mpf(case["chi_1"]), mpmath.mpf(case["chi_2"])
            assert close(geo.values["Hsq_star"], 8 * x2 / (x1 * (x1 - 1)))


def test_identities_along_a_transient():
    """Rbar_l = Rbar_0/prod chi_1(q^j); metric_l = q0 prod chi_1(q^j); Hsq = trHsq - Rbar; m = 1: Hsq = trHsq."""
    f = compiled("tanh")
    t = iterate(f, "1.7", "0.09", q0="3", dim=3, layers=12, dps=25)
    with mpmath.workdps(40):
        product = mpmath.mpf(1)
        for row in t.rows:
            rbar0, q0 = mpmath.mpf(6) / 3, mpmath.mpf(3)
            assert close(row["Rbar"], rbar0 / product, rel="1e-22")
            assert close(row["metric"], q0 * product, rel="1e-22")
            assert close(row["trHsq"], row["Hsq"].value + row["Rbar"].value, rel="1e-22")
            product *= row["chi_1"].value
    one = iterate(f, "1.7", "0.09", q0="3", dim=1, layers=8, dps=25)
    for row in one.rows:
        assert row["Hsq"].value == row["trHsq"].value and row["Rbar"].value == 0


def test_chi_1_column_by_independent_quadrature():
    f = compiled("tanh")
    t = iterate(f, "1.7", "0.09", q0="3", layers=3, dps=20)
    with mpmath.workdps(30):
        for row in t.rows:
            qv = row["q"].value
            chi = mpmath.mpf("1.7") * mpmath.quad(lambda zz: mpmath.sech(mpmath.sqrt(qv) * zz) ** 4 * mpmath.npdf(zz),
                                                   [-mpmath.inf, 0, mpmath.inf])
            assert close(row["chi_1"], chi, rel="1e-25")


def _fixed_point_run(act, sw2, sb2, layers, dps=25, dim=1):
    f = compiled(act)
    geo = geometry(f, sw2, sb2, dim=dim, dps=dps)
    t = iterate(f, sw2, sb2, q0=str(geo.values["q_star"].value), dim=dim, layers=layers, dps=dps)
    return geo, t


@pytest.mark.slow
def test_closed_forms_against_iteration_chaotic():
    geo, t = _fixed_point_run("tanh", "6.25", "0.09", 60)
    with mpmath.workdps(40):
        x1, x2, qs = (geo.values[k].value for k in ("chi_1", "chi_2", "q_star"))
        for n in (1, 5, 60):
            closed = solution("Hsq").subs({chi1: x1, chi2: x2, m: 1, sympy.Symbol("Hsq0", real=True): 1 / qs,
                                          layer: n})
            assert close(t.rows[n]["Hsq"], mpmath.mpf(sympy.N(closed, 40)), rel="1e-20")
            assert close(t.rows[n]["metric"], qs * x1 ** n, rel="1e-20")
        # the fates: Hsq converges; the Grassmannian length grows like chi_1^(l/2) with the stated prefactor
        assert close(t.rows[60]["Hsq"], geo.values["Hsq_star"].value, rel="1e-10")
        lg = 2 * mpmath.pi * mpmath.sqrt(t.rows[60]["Hsq"].value * t.rows[60]["metric"].value)
        fate = geo.fates["grassmann_length"]
        assert abs(lg / (fate["prefactor"].value * fate["rate"].value ** 60) - 1) < 1e-10


def test_closed_forms_against_iteration_ordered():
    geo, t = _fixed_point_run("tanh", "1.69", "0.09", 300, dim=2)
    with mpmath.workdps(40):
        x1 = geo.values["chi_1"].value
        fate = geo.fates["Hsq"]
        assert fate["kind"] == "exponential" and close(fate["rate"], 1 / x1)
        assert abs(t.rows[300]["Hsq"].value * x1 ** 300 / fate["prefactor"].value - 1) < 1e-6
        assert abs(t.rows[300]["Rbar"].value * x1 ** 300 / geo.fates["Rbar"]["prefactor"].value - 1) < 1e-20
    one = _fixed_point_run("tanh", "1.69", "0.09", 600, dim=1)
    lg = 2 * mpmath.pi * mpmath.sqrt(one[1].rows[600]["Hsq"].value * one[1].rows[600]["metric"].value)
    assert abs(lg / one[0].fates["grassmann_length"]["value"].value - 1) < 1e-12


@pytest.mark.slow
def test_critical_linear_growth():
    """At the critical point (sigma_b2 = 0.05): Hsq_l = m/q* + l m(m+2) chi_2, metric constant."""
    f = compiled("tanh")
    cp = critical_point(f, "0.05", dps=30)
    sw2 = str(cp.sigma_w2.value)
    for dim in (1, 2):
        geo = geometry(f, sw2, "0.05", dim=dim, dps=25)
        assert geo.phase == "critical"
        slope = geo.fates["Hsq"]["slope"]
        chi_2 = geo.values["chi_2"].value
        with mpmath.workdps(40):
            assert close(slope, dim * (dim + 2) * chi_2, rel="1e-24")
        t = iterate(f, sw2, "0.05", q0=str(geo.values["q_star"].value), dim=dim, layers=200, dps=25, every=50)
        with mpmath.workdps(40):
            for row in t.rows:
                expected = dim / geo.values["q_star"].value + row["l"] * dim * (dim + 2) * chi_2
                assert abs(row["Hsq"].value / expected - 1) < 1e-20
                assert abs(row["metric"].value / geo.values["q_star"].value - 1) < 1e-20


# ----------------------------------------------------------------------------------------
# numerics: precision, float64, fast paths
# ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_rerun_at_higher_precision_agrees_within_errors():
    f = compiled("tanh")
    low = iterate(f, "1.7", "0.09", q0="3", c0="0.2", dim=2, layers=5, dps=20, ntk=True)
    high = iterate(f, "1.7", "0.09", q0="3", c0="0.2", dim=2, layers=5, dps=35, ntk=True)
    for a, b in zip(low.rows, high.rows):
        for name in low.columns[1:]:
            assert close(a[name], b[name].value), (a["l"], name)
            assert a[name].error < 1e-15 * max(1, abs(float(a[name].value)))


@pytest.mark.slow
def test_geometry_rerun_at_higher_precision():
    f = compiled("tanh")
    low, high = geometry(f, "6.25", "0.09", dim=3, dps=20), geometry(f, "6.25", "0.09", dim=3, dps=30)
    for key in ("q_star", "chi_1", "chi_2", "c_star", "d_star", "Hsq_star", "trHsq_star"):
        assert close(low.values[key], high.values[key].value), key


@pytest.mark.slow
def test_float64_vectorised_agrees_with_mpmath():
    f = compiled("tanh")
    q0s = np.array([0.5, 1.0, 3.0])
    vec = iterate(f, 1.7, 0.09, q0=q0s, c0=0.3, dim=2, layers=8, ntk=True)
    for i, q0 in enumerate(("0.5", "1", "3")):
        ref = iterate(f, "1.7", "0.09", q0=q0, c0="0.3", dim=2, layers=8, dps=20, ntk=True)
        for a, b in zip(vec.rows, ref.rows):
            for name in vec.columns[1:]:
                assert abs(a[name][i] - float(b[name].value)) <= 1e-9 * max(1, abs(float(b[name].value))), name


def test_relu_fast_path_keeps_q_exact_without_per_layer_evaluations(monkeypatch):
    f = compiled("relu")
    calls = []
    original = type(f).evaluate_at

    def counting(self, names, point, dps=None):
        calls.append(tuple(names))
        return original(self, names, point, dps)

    monkeypatch.setattr(type(f), "evaluate_at", counting)
    t = iterate(f, "1.5", "0.1", q0="1", dim=2, layers=200, dps=30)
    short = len(calls)
    calls.clear()
    iterate(f, "1.5", "0.1", q0="1", dim=2, layers=20, dps=30)
    assert short == len(calls) <= 6                       # no evaluation per layer
    assert any("positively homogeneous" in n for n in t.notes)
    with mpmath.workdps(50):
        for row in t.rows[::25]:
            exact = mpmath.mpf("0.4") + mpmath.mpf("0.6") * mpmath.mpf("0.75") ** row["l"]
            assert close(row["q"], exact)
            assert row["Hsq"] is None if row["l"] else row["Hsq"] is not None
            assert close(row["Rbar"], mpmath.mpf(2) * mpmath.mpf("0.75") ** (-row["l"]), rel="1e-25")
    data = json.loads(json.dumps(t.to_json()))
    assert data["layers"][1]["Hsq"] is None and "chi_2" in data["layers"][1]["Hsq_note"]


def test_ten_thousand_layers_at_30_digits_reuses_the_fixed_point(capsys):
    f = compiled("tanh")
    start = time.perf_counter()
    t = iterate(f, "2.25", "0.05", q0="1", layers=10_000, dps=30, every=1000)
    seconds = time.perf_counter() - start
    with capsys.disabled():
        print(f"\n10^4 layers of tanh at 30 digits: {seconds:.2f} s")
    assert any("converged to working precision" in n for n in t.notes)
    assert t.rows[-1]["l"] == 10_000
    assert abs(float(t.rows[-1]["Hsq"].value) - 20.531718871) < 1e-8
    assert t.rows[-1]["metric"].error < 1e-20 * t.rows[-1]["metric"].value     # chi_1^(10^4) to 20 digits


def test_json_never_holds_inf_or_nan():
    f = compiled("tanh")
    t = iterate(f, 1.69, 0.09, q0=1.0, layers=13000, every=1000)      # Hsq ~ chi_1^-l overflows float64
    text = json.dumps(t.to_json(), allow_nan=False)
    data = json.loads(text)
    assert data["layers"][-1]["Hsq"] is None and "overflow" in data["layers"][-1]["Hsq_note"]


def test_bad_arguments():
    f = compiled("tanh")
    for kwargs, fragment in ((dict(dim=0), "dim"), (dict(dim=1.5), "dim"), (dict(layers=0), "layers"),
                             (dict(q0=0), "q0"), (dict(c0=1.5), "c0"), (dict(ntk=True), "c0")):
        args = dict(q0=1, layers=3)
        args.update(kwargs)
        with pytest.raises(ParameterError, match=fragment):
            iterate(f, 2, 0.05, **args)
    with pytest.raises(ParameterError, match="dim"):
        geometry(f, "2", "0.05", dim=0)


def test_fates_table_covers_every_phase():
    for phase in ("chaotic", "critical", "ordered"):
        table = fates(phase, 2)
        assert set(table) == {"Hsq", "trHsq", "Rbar", "metric", "length", "grassmann_length"}
        for fate in table.values():
            assert fate.number.free_symbols <= {chi1, chi2, q_star}
    with pytest.raises(ValueError):
        fates("hot")


# ----------------------------------------------------------------------------------------
# the commands
# ----------------------------------------------------------------------------------------
def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "neurodyn", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.mark.slow
def test_cli_iterate_json_and_files(tmp_path):
    r = run("iterate", "tanh", "--sigma-w2", "1.7", "--sigma-b2", "0.09", "--q0", "3", "--c0", "0.2", "--dim",
            "2", "--layers", "4", "--dps", "20", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["dim"] == 2 and data["dps"] == 20 and len(data["layers"]) == 5
    row = data["layers"][1]
    for key in ("q", "chi_1", "metric", "Hsq", "trHsq", "Rbar", "c", "d"):
        assert set(row[key]) == {"value", "error"}
    assert abs(float(data["layers"][0]["d"]["value"]) - 4.8) < 1e-15
    r = run("iterate", "relu", "--sigma-w2", "2", "--sigma-b2", "0", "--q0", "1", "--c0", "0", "--layers", "1000",
            "--csv", str(tmp_path / "t.csv"), "--png", str(tmp_path / "t.png"))
    assert r.returncode == 0, r.stderr
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert len(lines) == 1002 and lines[0].startswith("l,q,chi_1,metric,Hsq")
    # ReLU at (2, 0), c0 = 0: l^2 (1 - c^l) = 43.13 at l = 1000 (docs/theory.md §7.3)
    c_last = float(lines[-1].split(",")[7])
    assert abs(1000**2 * (1 - c_last) - 43.13) < 0.01
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_cli_geometry_json():
    r = run("geometry", "tanh", "--sigma-w2", "6.25", "--sigma-b2", "0.09", "--dim", "3", "--dps", "20", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    for key in ("q_star", "chi_1", "chi_2", "c_star", "d_star", "Hsq_star", "trHsq_star", "Rbar_fate",
                "metric_fate", "length_fate", "grassmann_length_star"):
        assert key in data
    assert data["metric_fate"]["kind"] == "exponential" and set(data["metric_fate"]["rate"]) == {"value", "error"}
    with mpmath.workdps(30):
        x1, x2 = mpmath.mpf("1.58522476501"), mpmath.mpf("1.19604129142")
        assert abs(float(data["Hsq_star"]["value"]) - float(15 * x2 / (x1 * (x1 - 1)))) < 1e-9
    assert abs(float(data["c_star"]["value"]) - 0.122103747306) < 1e-11


@pytest.mark.parametrize("args,fragment", [
    (("--dim", "0"), "--dim"), (("--dim", "1.5"), "--dim"), (("--layers", "0"), "--layers"),
    (("--layers", "100000000"), "--force"), (("--q0", "0"), "--q0"), (("--q0", "-1"), "--q0"),
    (("--c0", "1.5"), "--c0"), (("--c0", "-2"), "--c0"),
])
def test_cli_bad_input_is_one_line(args, fragment):
    r = run("iterate", "tanh", "--sigma-w2", "2", "--sigma-b2", "0.05", *args)
    assert r.returncode == 1, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neurodyn: error:") and fragment in lines[0], r.stderr


def test_cli_geometry_bad_dim():
    r = run("geometry", "tanh", "--sigma-w2", "2", "--sigma-b2", "0.05", "--dim", "x")
    assert r.returncode == 1 and "--dim" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_ntk_of_identical_inputs_is_a_geometric_series():
    """c0 = 1 at q*: Theta_l = q* + chi_1 Theta_{l-1}, Theta_0 = q*, so Theta_l = q* (1 - chi_1^(l+1))/(1 - chi_1)."""
    f = compiled("tanh")
    geo = geometry(f, "1.69", "0.09", dps=20)
    qs, x1 = geo.values["q_star"].value, geo.values["chi_1"].value
    t = iterate(f, "1.69", "0.09", q0=str(qs), c0="1", layers=30, dps=20, ntk=True, every=10)
    with mpmath.workdps(40):
        for row in t.rows:
            assert row["c"].value == 1 and row["d"].value == 0
            assert close(row["Theta"], qs * (1 - x1 ** (row["l"] + 1)) / (1 - x1), rel="1e-18")
