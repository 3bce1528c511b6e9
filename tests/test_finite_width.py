"""The 1/n theory (numerics/finite_width.py, docs/finite_width.md §3) and ``neurodyn finite-width``.

Expected values come from independent computations in this file (closed forms of
the scale-invariant class, exact Gaussian moments of polynomial activations by the
moment generating function, mpmath's adaptive quadrature of differentiated integrands
for the fixed-point formulas) or from docs/finite_width.md §3.4 and §6 (computed
independently for the notes); none is output pinned from the engine.
"""

import io
import math
import json
from functools import lru_cache

import mpmath
import numpy as np
import pytest
import sympy

from neurodyn.cli import main
from neurodyn.numerics.compile import compile_laws
from neurodyn.numerics.finite_width import finite_width, pair_corrections
from neurodyn.numerics.results import ParameterError
from neurodyn.theory import Activation, catalog, derive


@lru_cache(maxsize=None)
def laws(name, **params):
    act = catalog.get(name, **params) if name in catalog.ENTRIES else Activation.parse(name)
    return compile_laws(derive(act))


def scale_invariant_coefficient(a_plus, a_minus):
    """docs/finite_width.md §3.4: V^(l) = (l-1)(3 A4/A2^2 - 1) K^2, C_W = 1/A2."""
    with mpmath.workdps(50):
        a_plus, a_minus = mpmath.mpf(a_plus), mpmath.mpf(a_minus)
        a2 = (a_plus**2 + a_minus**2) / 2
        a4 = (a_plus**4 + a_minus**4) / 2
        return 3 * a4 / a2**2 - 1, 1 / a2


# ---------------------------------------------------------------------------------------------
# the scale-invariant class and deep linear networks (exact)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dps", [None, 30])
def test_relu_vertex_is_five_l_minus_one_K_squared_and_G1_vanishes(dps):
    coef, cw = scale_invariant_coefficient(1, 0)
    assert coef == 5 and cw == 2
    q0 = mpmath.mpf(3)
    r = finite_width(laws("relu"), "2", "0", depth=8, q0="3", dps=dps)
    tol = 1e-25 if dps else 1e-12
    for row in r.layers:
        expected = coef * (row.l - 1) * q0**2
        assert abs(row.V.value - expected) <= max(row.V.error, tol * abs(expected)) + tol
        assert abs(row.G1.value) <= row.G1.error + tol
        assert abs(row.K.value - q0) <= row.K.error + tol
        assert row.V.error <= 1e-8 * max(1, abs(expected))


@pytest.mark.slow
def test_leaky_relu_vertex_matches_the_scale_invariant_formula():
    coef, cw = scale_invariant_coefficient(1, "0.1")
    assert abs(coef - mpmath.mpf("4.88236")) < 1e-5            # the value quoted in §3.4 and §6.4
    with mpmath.workdps(60):
        cw_text = mpmath.nstr(1 / ((1 + mpmath.mpf("0.1") ** 2) / 2), 50)      # C_W = 1/A2 = 200/101
    r = finite_width(laws("leaky_relu", alpha="0.1"), cw_text, "0", depth=6, q0="2", dps=25)
    with mpmath.workdps(50):
        for row in r.layers:
            expected = coef * (row.l - 1) * 4
            assert abs(row.V.value - expected) <= row.V.error + mpmath.mpf("1e-30")
            assert abs(row.G1.value) <= row.G1.error + mpmath.mpf("1e-30")


@pytest.mark.parametrize("dps", [None, 20])
def test_deep_linear_vertex_and_pair_form(dps):
    r = finite_width(laws("linear"), "1", "0", depth=6, q0="2", c0="0.3", dps=dps)
    tol = 1e-17 if dps else 1e-11
    with mpmath.workdps(50):
        q, c = mpmath.mpf(2), mpmath.mpf("0.3")
        _check_linear(r, q, c, tol)


def _check_linear(r, q, c, tol):
    for row in r.layers:
        k = row.l - 1
        assert abs(row.V.value - 2 * k * q**2) <= row.V.error + tol
        # Ghat_ab = (1/n) sum u_a u_b with u ~ N(0, K): n Cov = K_ac K_bd + K_ad K_bc per layer
        assert abs(row.V_12_12.value - k * (q * q + (c * q) ** 2)) <= row.V_12_12.error + tol
        assert abs(row.V_pairs[0][2].value - k * 2 * q * c * q) <= row.V_pairs[0][2].error + tol
        assert abs(row.V_pairs[0][1].value - k * 2 * (c * q) ** 2) <= row.V_pairs[0][1].error + tol
        for g in row.G1_pairs:
            assert abs(g.value) <= g.error + tol
        assert abs(row.c_bias.value - _c_bias_linear(q, c, row)) <= row.c_bias.error + tol


def _c_bias_linear(q, c, row):
    """n(E[c_hat] - c) by the delta method written out for K = (q, q, cq), G1 = 0."""
    V = [[v.value for v in r] for r in row.V_pairs]
    s = q
    H = [[3 * c / (4 * q * q), c / (4 * q * q), -1 / (2 * q * s)],
         [c / (4 * q * q), 3 * c / (4 * q * q), -1 / (2 * q * s)],
         [-1 / (2 * q * s), -1 / (2 * q * s), 0]]
    return sum(H[a][b] * V[a][b] for a in range(3) for b in range(3)) / 2


# ---------------------------------------------------------------------------------------------
# a polynomial activation: every expectation exact (moment generating function)
# ---------------------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def _exact_square_recursion(q0, c0, depth):
    """K, V, G1 of the pair form for phi(x) = x^2, C_W = 1, C_b = 0, from exact Gaussian moments."""
    k11, k12, k22, t1, t2 = sympy.symbols("k11 k12 k22 t1 t2")
    mgf = sympy.exp((k11 * t1**2 + 2 * k12 * t1 * t2 + k22 * t2**2) / 2)

    def moment(i, j):
        return sympy.expand(sympy.diff(mgf, t1, i, t2, j).subs({t1: 0, t2: 0}))

    F = [moment(4, 0), moment(0, 4), moment(2, 2)]                     # <F_a>, F_a = phi_i phi_j
    FF = [[moment(8, 0), moment(4, 4), moment(6, 2)], [moment(4, 4), moment(0, 8), moment(2, 6)],
          [moment(6, 2), moment(2, 6), moment(4, 4)]]
    var = (k11, k22, k12)
    A = [[sympy.diff(Fa, v) for v in var] for Fa in F]
    D2 = [[[sympy.diff(Fa, v, w) for w in var] for v in var] for Fa in F]
    K = [sympy.Rational(q0), sympy.Rational(q0), sympy.Rational(q0) * sympy.Rational(c0)]
    V = [[0] * 3 for _ in range(3)]
    G = [0, 0, 0]
    rows = [(K, V, G)]
    for _ in range(depth - 1):
        at = dict(zip(var, K))
        a = [[e.subs(at) for e in r] for r in A]
        S = [[(FF[i][j] - F[i] * F[j]).subs(at) for j in range(3)] for i in range(3)]
        Vn = [[S[i][j] + sum(a[i][c] * V[c][d] * a[j][d] for c in range(3) for d in range(3))
               for j in range(3)] for i in range(3)]
        Gn = [sum(a[i][c] * G[c] for c in range(3))
              + sum(V[c][d] * D2[i][c][d].subs(at) for c in range(3) for d in range(3)) / 2 for i in range(3)]
        K = [Fa.subs(at) for Fa in F]
        V, G = Vn, Gn
        rows.append((K, V, G))
    return rows


@pytest.mark.parametrize("dps", [None, 25])
def test_pair_form_is_exact_for_a_quadratic_activation(dps):
    expected = _exact_square_recursion("0.4", "0.6", 4)
    r = finite_width(laws("x**2"), "1", "0", depth=4, q0="0.4", c0="0.6", dps=dps)
    rel = 1e-20 if dps else 1e-9
    with mpmath.workdps(50):
        _check_square(r, expected, rel)
    assert float(r.layers[-1].G1_12) != 0                             # the G1 source really is exercised


def _check_square(r, expected, rel):
    for row, (K, V, G) in zip(r.layers, expected):
        for got, want in zip(row.K_pairs, K):
            assert abs(got.value - mpmath.mpf(sympy.N(want, 40))) <= got.error + rel * abs(float(want))
        for a in range(3):
            want = mpmath.mpf(sympy.N(G[a], 40))
            assert abs(row.G1_pairs[a].value - want) <= row.G1_pairs[a].error + rel * max(1, abs(want))
            for b in range(3):
                want = mpmath.mpf(sympy.N(V[a][b], 40))
                got = row.V_pairs[a][b]
                assert abs(got.value - want) <= got.error + rel * max(1, abs(want))


# ---------------------------------------------------------------------------------------------
# the K* = 0 class at criticality (docs/finite_width.md §3.4 and §6.1)
# ---------------------------------------------------------------------------------------------
def test_critical_tanh_table_values_at_layer_100():
    r = finite_width(laws("tanh"), "1", "0", depth=100)
    by_layer = {row.l: row for row in r.layers}
    row = by_layer[100]
    K, V, G1 = float(row.K), float(row.V), float(row.G1)
    assert K * 100 == pytest.approx(0.51207, abs=2e-5)
    assert V / (K * K * 100) == pytest.approx(0.64804, abs=2e-5)
    assert G1 == pytest.approx(-0.15869, abs=2e-5)
    # §3.4's note / §6.1: the same iteration at l = 11 and l = 30
    assert float(by_layer[11].G1) == pytest.approx(-0.11138, abs=1e-5)
    assert float(by_layer[30].G1) == pytest.approx(-0.14269, abs=1e-5)
    assert float(by_layer[30].V) == pytest.approx(0.0058366, abs=1e-7)


def test_critical_sin_table_values_at_layer_100():
    row = finite_width(laws("sin"), "1", "0", depth=100).layers[-1]
    K, V, G1 = float(row.K), float(row.V), float(row.G1)
    assert K * 100 == pytest.approx(0.9843, abs=1e-4)
    assert V / (K * K * 100) == pytest.approx(0.6620, abs=1e-4)
    assert G1 == pytest.approx(-0.3130, abs=1e-4)


def test_critical_tanh_and_sin_approach_the_asymptotic_constants():
    """K l -> 1/(-a1), V/(K^2 l) -> 2/3, G1 -> 1/(3 a1): tanh a1 = -2, sin a1 = -1 (§3.4, l = 1000 row)."""
    for name, a1, table in (("tanh", -2, (0.5017, 0.6641, -0.1658)), ("sin", -1, (0.9976, 0.6667, -0.3311))):
        row = finite_width(laws(name), "1", "0", depth=1000).layers[-1]
        K, V, G1 = float(row.K), float(row.V), float(row.G1)
        assert (K * 1000, V / (K * K * 1000), G1) == pytest.approx(table, abs=1e-4)
        assert abs(K * 1000 - 1 / -a1) < 0.01 * (1 / -a1)
        assert abs(G1 - 1 / (3 * a1)) < 0.01 * abs(1 / (3 * a1))


def test_reference_values_one_input_section_6_1():
    # tanh sigma_w = 1.5, sigma_b = 0.3, K^(1) = 1: E[Ghat] = K + G1/n at n = 50 is 0.95663 at l = 11; V = 0.5919
    row = finite_width(laws("tanh"), "2.25", "0.09", depth=11, dps=20).layers[-1]
    assert float(row.K.value + row.G1.value / 50) == pytest.approx(0.95663, abs=1e-5)
    assert float(row.V) == pytest.approx(0.5919, abs=1e-4)
    # critical tanh, l = 11: G1 = -0.111
    assert float(finite_width(laws("tanh"), "1", "0", depth=11, dps=20).layers[-1].G1) == pytest.approx(-0.111,
                                                                                                      abs=5e-4)


# ---------------------------------------------------------------------------------------------
# two inputs (docs/finite_width.md §6.2)
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def chaotic_tanh():
    return finite_width(laws("tanh"), "6.25", "0.09", depth=12, q0="4", c0="0.9")


def test_reference_values_two_inputs_section_6_2(chaotic_tanh):
    rows = {row.l: row for row in chaotic_tanh.layers}
    table = {2: (0.85991, -0.059, 7.05), 5: (0.68883, 0.368, 23.2), 9: (0.44270, 1.681, 45.4),
             12: (0.31249, 1.946, 49.9)}
    for l, (c, bias, v1212) in table.items():
        assert float(rows[l].c) == pytest.approx(c, abs=1e-5)
        assert float(rows[l].c_bias_at(100)) == pytest.approx(bias, abs=1e-3)       # at the MC width n = 100
        assert float(rows[l].c_bias) == pytest.approx(bias, abs=4e-3)
        assert float(rows[l].V_12_12) == pytest.approx(v1212, abs=0.06)
    for l, g in ((3, -0.177), (5, -0.239), (9, -0.242)):
        assert float(rows[l].G1) == pytest.approx(g, abs=1e-3)
    assert float(rows[9].G1_12) == pytest.approx(7.10, abs=0.01)
    # the chaotic phase: a finite network decorrelates less (G1_12 > 0 and growing, §3.3)
    assert all(float(rows[l + 1].G1_12) > float(rows[l].G1_12) > 0 for l in range(3, 12))


def test_reference_values_ordered_case_section_6_2():
    # §6.2's theory column is §3.3's formula with c evaluated at K + G1/n, at the simulated width n = 25
    rows = finite_width(laws("tanh"), "1.69", "0.09", depth=12, q0="1", c0="0.3").layers
    assert float(rows[8].c_bias_at(25)) == pytest.approx(0.200, abs=1e-3)
    assert float(rows[11].c_bias_at(25)) == pytest.approx(0.283, abs=1e-3)
    # the linearised limit n -> infinity differs at order 1/n
    for row in rows[8], rows[11]:
        assert 0 < float(row.c_bias_at(25)) - float(row.c_bias) < 0.01
        assert abs(float(row.c_bias_at(1e12)) - float(row.c_bias)) < 1e-9


def test_equal_norms_give_equal_diagonal_corrections(chaotic_tanh):
    for row in chaotic_tanh.layers:
        assert abs(row.G1_pairs[0].value - row.G1_pairs[1].value) <= row.G1_pairs[0].error + row.G1_pairs[1].error
        # <phi1^3 phi2> and <phi1 phi2^3> are different integrands: V_11,12 = V_22,12 checks the quadrature
        v1, v2 = row.V_pairs[0][2], row.V_pairs[1][2]
        assert abs(v1.value - v2.value) <= v1.error + v2.error + 1e-13 * abs(v1.value)
        assert abs(row.G1.value - row.G1_pairs[0].value) == 0


@pytest.mark.slow
def test_odd_activation_is_antisymmetric_in_c0():
    f = laws("tanh")
    plus = finite_width(f, "2", "0", depth=5, q0="1.5", c0="0.4", dps=20).layers[-1]
    minus = finite_width(f, "2", "0", depth=5, q0="1.5", c0="-0.4", dps=20).layers[-1]
    with mpmath.workdps(40):
        for a, b, sign in ((plus.G1_12, minus.G1_12, -1), (plus.V_12_12, minus.V_12_12, 1),
                           (plus.V_pairs[0][2], minus.V_pairs[0][2], -1), (plus.c_bias, minus.c_bias, -1)):
            assert abs(a.value - sign * b.value) <= a.error + b.error
    assert float(plus.G1_12) != 0


def test_identical_inputs_reduce_to_one_input():
    f = laws("tanh")
    one = finite_width(f, "6.25", "0.09", depth=6, q0="4", dps=20)
    two = finite_width(f, "6.25", "0.09", depth=6, q0="4", c0="1", dps=20)
    with mpmath.workdps(40):
        for a, b in zip(one.layers, two.layers):
            assert abs(b.G1_12.value - a.G1.value) <= a.G1.error + b.G1_12.error
            assert abs(b.V_12_12.value - a.V.value) <= a.V.error + b.V_12_12.error
            assert abs(b.c.value - 1) <= b.c.error
    # and the pair form just off the diagonal is continuous with it
    near = finite_width(f, "6.25", "0.09", depth=6, q0="4", c0="0.9999").layers[-1]
    assert float(near.G1_12) == pytest.approx(float(one.layers[-1].G1), abs=0.01)


@pytest.mark.slow
def test_high_precision_reruns_agree_within_their_errors():
    f = laws("tanh")
    lo = finite_width(f, "6.25", "0.09", depth=6, q0="4", c0="0.9", dps=15).layers[-1]
    hi = finite_width(f, "6.25", "0.09", depth=6, q0="4", c0="0.9", dps=30).layers[-1]
    f64 = finite_width(f, "6.25", "0.09", depth=6, q0="4", c0="0.9").layers[-1]
    with mpmath.workdps(50):
        for name in ("K", "V", "G1", "c", "V_12_12", "G1_12", "c_bias", "c_bias_qhat"):
            a, b, c = getattr(lo, name), getattr(hi, name), getattr(f64, name)
            assert abs(a.value - b.value) <= a.error + b.error, name
            assert abs(c.value - b.value) <= c.error + b.error, name
            assert b.error < mpmath.mpf(10) ** -28 * max(1, abs(b.value)), name
            assert len(str(b).replace("-", "").replace(".", "").lstrip("0")) >= 28, name
            assert len(str(a).replace("-", "").replace(".", "").lstrip("0")) >= 13, name


# ---------------------------------------------------------------------------------------------
# off-critical fixed points (docs/finite_width.md §3.2), against an independent quadrature
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_off_critical_fixed_point_formulas():
    cw, cb = mpmath.mpf("2.25"), mpmath.mpf("0.09")
    with mpmath.workdps(30):
        def gauss(fn, K):
            s = mpmath.sqrt(K)
            return mpmath.quad(lambda z: fn(s * z) * mpmath.npdf(z), [-mpmath.inf, -2, 0, 2, mpmath.inf])

        sq = lambda u: mpmath.tanh(u) ** 2                                      # noqa: E731
        K = mpmath.findroot(lambda k: cb + cw * gauss(sq, k) - k, 1)
        chi = cw * mpmath.diff(lambda k: gauss(sq, k), K)                      # d<phi^2>/dK
        var = gauss(lambda u: mpmath.tanh(u) ** 4, K) - gauss(sq, K) ** 2
        fourth = gauss(lambda u: mpmath.diff(sq, u, 4), K)                     # <(phi^2)''''>, differentiated
        V_star = cw**2 * var / (1 - chi**2)
        G1_star = (cw / 8) * fourth * V_star / (1 - chi)
    row = finite_width(laws("tanh"), "2.25", "0.09", depth=80, q0=K).layers[-1]
    assert float(row.K) == pytest.approx(float(K), rel=1e-12)
    assert float(row.V) == pytest.approx(float(V_star), rel=1e-9)
    assert float(row.G1) == pytest.approx(float(G1_star), rel=1e-9)


# ---------------------------------------------------------------------------------------------
# pair_corrections (the float64 vectorised form)
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_pair_corrections_match_finite_width():
    f = laws("tanh")
    c0 = np.array([1.0, 0.99, 0.3, -1.0])         # degenerate, Price's theorem, Hermite weights, degenerate
    p = pair_corrections(f, "6.25", "0.09", depth=4, q0=4.0, c0=c0)
    assert p.K.shape == (4, 4, 3) and p.V.shape == (4, 4, 3, 3) and p.G1.shape == (4, 4, 3)
    for j, c in enumerate(c0):
        row = finite_width(f, "6.25", "0.09", depth=4, q0="4", c0=repr(float(c)), dps=15).layers[-1]
        for a in range(3):
            assert abs(p.G1[-1, j, a] - float(row.G1_pairs[a])) <= p.G1_error[-1, j, a] + float(row.G1_pairs[a].error)
            assert abs(p.K[-1, j, a] - float(row.K_pairs[a])) <= p.K_error[-1, j, a] + 1e-15
            for b in range(3):
                assert abs(p.V[-1, j, a, b] - float(row.V_pairs[a][b])) <= p.V_error[-1, j, a, b] + 1e-15
        assert p.G1_error[-1, j].max() < 1e-6
    assert np.allclose(p.c[0], c0)
    assert np.all(np.isfinite(p.corrected_kernel(100)))


def test_bad_arguments_raise_clear_errors():
    f = laws("tanh")
    with pytest.raises(ParameterError, match="depth"):
        finite_width(f, 1, depth=0)
    with pytest.raises(ParameterError, match="c0"):
        finite_width(f, 1, depth=2, c0="1.5")
    with pytest.raises(ParameterError, match="q0"):
        finite_width(f, 1, depth=2, q0=-1)
    with pytest.raises(ParameterError, match="c0"):
        pair_corrections(f, 1, 0, depth=2, c0=[0.2, 2.0])
    with pytest.raises(ArithmeticError, match="not finite"):
        finite_width(laws("exp(x)"), "4", "0", depth=12)
    with pytest.raises(ArithmeticError, match="explodes"):              # and no endless quadrature
        finite_width(laws("exp(x)"), "4", "0", depth=12, dps=15)


# ---------------------------------------------------------------------------------------------
# the command
# ---------------------------------------------------------------------------------------------
def run_cli(*argv):
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_cli_relu_json():
    code, text = run_cli("finite-width", "relu", "--sigma-w2", "2", "--sigma-b2", "0", "--depth", "20", "--json")
    assert code == 0
    data = json.loads(text)
    assert [row["l"] for row in data["layers"]] == list(range(1, 21))
    first, last = data["layers"][0], data["layers"][-1]
    assert first["K"]["value"].startswith("1") and first["V"] == {"value": "0", "error": "0"}
    assert abs(float(last["V"]["value"]) - 95) <= float(last["V"]["error"]) + 1e-9
    assert abs(float(last["G1"]["value"])) <= float(last["G1"]["error"])


def test_cli_two_inputs_json_and_table():
    argv = ["finite-width", "tanh", "--sigma-w2", "6.25", "--sigma-b2", "0.09", "--q0", "4", "--c0", "0.9",
            "--depth", "12"]
    code, text = run_cli(*argv, "--json")
    assert code == 0
    row = json.loads(text)["layers"][8]
    assert row["l"] == 9 and set(row) >= {"l", "K", "V", "G1", "c", "V_12_12", "G1_12", "c_bias"}
    assert float(row["c_bias"]["value"]) == pytest.approx(1.681, abs=4e-3)
    code, text = run_cli(*argv)
    assert code == 0 and "c_bias" in text and "G1_12" in text


@pytest.mark.parametrize("bad, message", [(["--depth", "0"], "--depth"), (["--c0", "1.5"], "--c0"),
                                          (["--q0", "0"], "--q0")])
def test_cli_bad_input_is_one_line_exit_1(bad, message, capsys):
    code, _ = run_cli("finite-width", "relu", "--sigma-w2", "2", "--sigma-b2", "0", *bad)
    err = capsys.readouterr().err.strip()
    assert code == 1 and message in err and len(err.splitlines()) == 1


def test_two_input_recursions_at_the_chaotic_fixed_point():
    """At (q*, c*) the kernel stays put and the pair recursions are linear with constant coefficients:
    V' = S + A V A^T, G1' = A G1 + s(V); their limits are vec V* = (1 - A (x) A)^-1 vec S and
    G1* = (1 - A)^-1 s(V*) (the two-input form of §3.2's off-critical fixed points).

    A, S and the G1 source are computed here independently: the trapezoid rule on a fixed grid
    (exponentially accurate for these Gaussian-weighted analytic integrands) and the derivatives
    of <F> by Price's theorem (derivatives of tanh), against the engine's Hermite-form iteration.
    """
    from scipy.optimize import brentq

    x = sympy.Symbol("x")
    d = [sympy.lambdify(x, sympy.diff(sympy.tanh(x), x, k), "numpy") for k in range(5)]
    sq4 = sympy.lambdify(x, sympy.diff(sympy.tanh(x) ** 2, x, 4), "numpy")
    cw, cb = 6.25, 0.09
    zs = np.linspace(-10, 10, 801)
    gauss = np.exp(-zs**2 / 2) / np.sqrt(2 * np.pi) * (zs[1] - zs[0])

    def one(fn, q):
        return float((fn(np.sqrt(q) * zs) * gauss).sum())

    def two(f, g, q, c):
        s, r = np.sqrt(q), np.sqrt(1 - c * c)
        z1, z2 = zs[:, None], zs[None, :]
        return float((f(s * z1) * g(s * (c * z1 + r * z2)) * gauss[:, None] * gauss[None, :]).sum())

    q = brentq(lambda k: cb + cw * one(lambda u: np.tanh(u) ** 2, k) - k, 1, 10, xtol=1e-15)
    c = brentq(lambda r: (cb + cw * two(d[0], d[0], q, r)) / q - r, 0.01, 0.9, xtol=1e-15)
    m2, m4 = one(lambda u: np.tanh(u) ** 2, q), one(lambda u: np.tanh(u) ** 4, q)
    m11 = two(d[0], d[0], q, c)
    m22 = two(lambda u: np.tanh(u) ** 2, lambda u: np.tanh(u) ** 2, q, c)
    m31 = two(lambda u: np.tanh(u) ** 3, d[0], q, c)
    chi = cw * (one(lambda u: d[1](u) ** 2, q) + one(lambda u: d[0](u) * d[2](u), q))
    P = {(i, j): two(d[i], d[j], q, c) for i, j in ((1, 1), (2, 0), (4, 0), (2, 2), (3, 1))}
    A = np.array([[chi, 0, 0], [0, chi, 0], [cw * P[2, 0] / 2, cw * P[2, 0] / 2, cw * P[1, 1]]])
    mean = np.array([m2, m2, m11])
    FF = np.array([[m4, m22, m31], [m22, m4, m31], [m31, m31, m22]])
    S = cw**2 * (FF - np.outer(mean, mean))
    D12 = np.array([[P[4, 0] / 4, P[2, 2] / 4, P[3, 1] / 2], [P[2, 2] / 4, P[4, 0] / 4, P[3, 1] / 2],
                    [P[3, 1] / 2, P[3, 1] / 2, P[2, 2]]])
    d4 = one(sq4, q) / 4

    def source(V):
        return cw / 2 * np.array([V[0, 0] * d4, V[1, 1] * d4, (V * D12).sum()])

    V, G1 = np.zeros((3, 3)), np.zeros(3)
    depth = 30
    for _ in range(depth - 1):
        V, G1 = S + A @ V @ A.T, A @ G1 + source(V)
    rows = finite_width(laws("tanh"), "6.25", "0.09", depth=depth, q0=repr(q), c0=repr(c)).layers
    assert float(rows[-1].c) == pytest.approx(c, abs=1e-11)
    got_V = np.array([[float(v) for v in r] for r in rows[-1].V_pairs])
    got_G1 = np.array([float(g) for g in rows[-1].G1_pairs])
    assert got_V == pytest.approx(V, rel=1e-8)
    assert got_G1 == pytest.approx(G1, rel=1e-8)
    # the closed-form limits, reached by the same iteration (the spectral radius of A is below 1 here)
    assert max(abs(np.linalg.eigvals(A))) < 1
    V_star = np.linalg.solve(np.eye(9) - np.kron(A, A), S.reshape(-1)).reshape(3, 3)
    G1_star = np.linalg.solve(np.eye(3) - A, source(V_star))
    for _ in range(400):
        V, G1 = S + A @ V @ A.T, A @ G1 + source(V)
    assert V == pytest.approx(V_star, rel=1e-9) and G1 == pytest.approx(G1_star, rel=1e-9)
    assert G1_star[2] > 0 > G1_star[0]           # chaotic: the off-diagonal correction is positive (§3.3)


# ---------------------------------------------------------------------------------------------
# pair_corrections near the diagonal (the curve study's short arcs: numerics/curve.py::kernel_correction)
# ---------------------------------------------------------------------------------------------
def test_pair_corrections_reference_values_section_6_2():
    """docs/finite_width.md §6.2 (tanh, sigma_w = 2.5, sigma_b = 0.3, K^(1): q = 4, c = 0.9 -- a Price's-theorem
    pair in float64): G1_11 = -0.177, -0.239, -0.242 at l = 3, 5, 9; G1_12 = 7.10 at l = 9;
    V_12,12 = 7.05, 23.2, 45.4, 49.9 at l = 2, 5, 9, 12."""
    p = pair_corrections(laws("tanh"), "6.25", "0.09", depth=12, q0=4.0, c0=[0.9])
    assert p.G1[[2, 4, 8], 0, 0] == pytest.approx([-0.177, -0.239, -0.242], abs=6e-4)
    assert p.G1[8, 0, 2] == pytest.approx(7.10, abs=6e-3)
    assert p.V[[1, 4, 8, 11], 0, 2, 2] == pytest.approx([7.05, 23.2, 45.4, 49.9], abs=0.06)


def test_pair_corrections_for_identical_and_close_inputs():
    """c0 = 1: the pair is one input twice, every pair entry equals the diagonal; close pairs tend to it
    (1 - c0 down to 5e-9, the curve study's grid spacing on its default arc)."""
    f = laws("tanh")
    q = 4.079123875282246                     # q* of tanh at (6.25, 0.09) to 15 digits
    c0 = np.array([1.0, math.cos(1e-4), math.cos(1e-3), math.cos(1e-2)])
    p = pair_corrections(f, "6.25", "0.09", depth=8, q0=q, c0=c0)
    assert p.G1[-1, 0, 2] == pytest.approx(p.G1[-1, 0, 0], rel=1e-12)
    assert p.V[-1, 0] == pytest.approx(np.full((3, 3), p.V[-1, 0, 0, 0]), rel=1e-12)
    gaps = np.abs(p.G1[-1, :, 2] - p.G1[-1, :, 0])
    assert gaps[0] < gaps[1] < gaps[2] < gaps[3] and np.all(np.isfinite(p.G1))
    assert np.all(p.G1[:, :, 0] == p.G1[:, :, 1])                    # equal norms: G1_11 = G1_22


def test_pair_corrections_near_the_diagonal_against_an_independent_recursion():
    """1 - c0 = 7.7e-8 (the curve study's neighbouring points at depth 20) after 20 chaotic layers, against the
    recursion of test_two_input_recursions_at_the_chaotic_fixed_point written for a moving kernel: Price's
    theorem, every expectation (one- and two-input) from one fine trapezoid grid. G1_12 - G1_11 ~ -0.015 there is a
    difference of O(1) sums grown by chi_1^20: a step of 1/4 in the pair quadrature left 6e-5 of error."""
    x = sympy.Symbol("x")
    d = [sympy.lambdify(x, sympy.diff(sympy.tanh(x), x, k), "numpy") for k in range(5)]
    cw, cb, q, c0, depth = 6.25, 0.09, 4.079123875282246, 0.9999999234275277, 21
    h = 0.1
    zs = np.arange(-12, 12 + h / 2, h)
    g = np.exp(-zs**2 / 2) / np.sqrt(2 * np.pi) * h
    W = g[:, None] * g[None, :]

    def ex(i, j, K11, K12, pi=1, pj=1):
        s = np.sqrt(K11)
        a = K12 / s
        b = np.sqrt(max(K11 - a * a, 0.0))
        return float((d[i](s * zs[:, None]) ** pi * d[j](a * zs[:, None] + b * zs[None, :]) ** pj * W).sum())

    K11, K12, V, G = q, c0 * q, np.zeros((3, 3)), np.zeros(3)
    for _ in range(depth - 1):
        P = {k: ex(*k, K11, K12) for k in ((1, 1), (2, 0), (4, 0), (2, 2), (3, 1))}
        s2, m0 = ex(0, 0, K11, K11), ex(0, 0, K11, K12)
        s4, s22, s31 = ex(0, 0, K11, K11, 2, 2), ex(0, 0, K11, K12, 2, 2), ex(0, 0, K11, K12, 3, 1)
        chi = cw * (ex(1, 1, K11, K11) + ex(2, 0, K11, K11))
        d4 = (2 * ex(4, 0, K11, K11) + 8 * ex(3, 1, K11, K11) + 6 * ex(2, 2, K11, K11)) / 4
        A = np.array([[chi, 0, 0], [0, chi, 0], [cw * P[2, 0] / 2, cw * P[2, 0] / 2, cw * P[1, 1]]])
        mean = np.array([s2, s2, m0])
        FF = np.array([[s4, s22, s31], [s22, s4, s31], [s31, s31, s22]])
        D12 = np.array([[P[4, 0] / 4, P[2, 2] / 4, P[3, 1] / 2], [P[2, 2] / 4, P[4, 0] / 4, P[3, 1] / 2],
                        [P[3, 1] / 2, P[3, 1] / 2, P[2, 2]]])
        src = cw / 2 * np.array([V[0, 0] * d4, V[1, 1] * d4, (V * D12).sum()])
        V, G = cw**2 * (FF - np.outer(mean, mean)) + A @ V @ A.T, A @ G + src
        K11, K12 = cb + cw * s2, cb + cw * m0
    p = pair_corrections(laws("tanh"), "6.25", "0.09", depth=depth, q0=q, c0=[c0])
    assert p.G1[-1, 0, 2] - p.G1[-1, 0, 0] == pytest.approx(-0.015485, abs=2e-6)     # the effect itself
    assert abs(p.G1[-1, 0, 2] - G[2]) < 2e-6 <= p.G1_error[-1, 0, 2]
    assert p.V[-1, 0, 2, 2] == pytest.approx(V[2, 2], abs=2e-6)


@pytest.mark.slow
def test_pair_corrections_far_apart_agree_with_high_precision():
    """c0 = 0.5, 0, -0.3 (the Hermite form in float64) against the mpmath recursion at 20 digits."""
    f = laws("tanh")
    c0 = [0.5, 0.0, -0.3]
    p = pair_corrections(f, "6.25", "0.09", depth=6, q0=4.0, c0=c0)
    for j, c in enumerate(c0):
        row = finite_width(f, "6.25", "0.09", depth=6, q0="4", c0=repr(c), dps=20).layers[-1]
        assert np.all(p.G1_error[-1, j] < 1e-8)
        assert p.G1[-1, j] == pytest.approx([float(g) for g in row.G1_pairs], rel=1e-9, abs=1e-10)
        assert p.V[-1, j] == pytest.approx(np.array([[float(v) for v in r] for r in row.V_pairs]), rel=1e-9, abs=1e-10)
