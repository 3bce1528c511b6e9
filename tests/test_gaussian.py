import mpmath
import pytest
import sympy

from neurodyn.theory import GaussianExpectation, expect, expect_product
from neurodyn.theory.tactics.gaussian_exponential import gaussian_exponential_1d, gaussian_exponential_2d
from neurodyn.theory.symbols import q, q11, q12, q22, x

from quadref import reference_expectation


def _closed_against_quadrature(value, integrand, breaks=(0,)):
    for v in ("0.3", "1.7", "6.5"):
        exact = sympy.N(value.subs(q, sympy.Rational(v)), 30)
        ref = reference_expectation(integrand, v, breaks=breaks)
        with mpmath.workdps(40):
          assert abs(mpmath.mpf(str(exact)) - ref) <= mpmath.mpf(10) ** -25 * (1 + abs(ref)), (v, exact, ref)


@pytest.mark.parametrize("f", [x**2, x**6 + 3 * x, sympy.exp(x), x * sympy.exp(-x**2 / 3 + x / 2),
                               sympy.sin(2 * x)**2, sympy.cos(x) * x**2, sympy.cosh(x / 3)])
def test_gaussian_exponential_class(f):
    r = expect(f, q)
    assert r.closed and r.tactic in ("gaussian-exponential", "termwise")
    _closed_against_quadrature(r.value, f)


def test_half_line_pieces():
    assert gaussian_exponential_1d(x**2, q, lo=0) == q / 2
    assert sympy.simplify(gaussian_exponential_1d(sympy.S.One, q, hi=0) - sympy.Rational(1, 2)) == 0


def test_moments_2d_isserlis():
    assert sympy.expand(gaussian_exponential_2d(x**2, x**2, q11, q12, q22) - (q11 * q22 + 2 * q12**2)) == 0


def test_erf_arcsin_law_is_derived_by_price():
    r = expect_product(sympy.erf(x), sympy.erf(x), q)
    assert r.tactic == "price"
    assert sympy.simplify(r.value - 2 / sympy.pi * sympy.asin(2 * q / (1 + 2 * q))) == 0
    assert any("Price" in s.description for s in r.steps)
    _closed_against_quadrature(r.value, sympy.erf(x)**2)


def test_tanh_stays_unevaluated():
    r = expect_product(sympy.tanh(x), sympy.tanh(x), q)
    assert not r.closed and r.tactic == "unevaluated"
    assert isinstance(r.value, GaussianExpectation)
    assert r.notes                            # says what was tried


def test_odd_integrands_vanish():
    r = expect(sympy.tanh(x)**3 * sympy.cosh(x), q)
    assert r.value == 0 and r.tactic == "symmetry"


def test_heat_equation_derivative_is_exact():
    e = GaussianExpectation(sympy.tanh(x)**2, q)
    d = sympy.diff(e, q)
    for v in ("0.5", "2.0"):
        numeric = mpmath.diff(lambda t: reference_expectation(sympy.tanh(x)**2, t), mpmath.mpf(v))
        integrand = d.atoms(GaussianExpectation).pop().integrand
        coef = d / d.atoms(GaussianExpectation).pop()
        value = reference_expectation(integrand, v) * float(coef)
        with mpmath.workdps(40):
            assert abs(value - numeric) < 1e-20


def test_kinked_derivative_uses_density_form():
    e = GaussianExpectation(sympy.Max(0, x)**2, q)
    d = sympy.diff(e, q)
    nodes = d.atoms(GaussianExpectation)
    assert nodes and all(not n.integrand.has(q) for n in nodes)
    v = sympy.Rational("1.3")
    values = {n: sympy.Float(str(reference_expectation(n.integrand, "1.3")), 40) for n in nodes}
    value = sympy.N(d.xreplace(values).subs(q, v), 35)
    assert abs(value - sympy.Rational(1, 2)) < 1e-25            # d/dq (q/2)            # d/dq (q/2)


def test_printing():
    e = GaussianExpectation(sympy.tanh(x)**2, q)
    assert str(e) == "E_z[tanh(sqrt(q)*z)**2]"
    assert r"\mathbb{E}_{z}" in sympy.latex(e)


def test_derive_in_a_worker_thread_keeps_its_closed_forms():
    """Off the main thread the derivation runs in a worker process, where its budgets work (issue 7 §3)."""
    import threading

    from neurodyn.theory import catalog, derive

    out = {}
    worker = threading.Thread(target=lambda: out.update(laws=derive(catalog.get("relu"))))
    worker.start()
    worker.join(60)
    assert not worker.is_alive()
    laws = out["laws"]
    from neurodyn.theory.symbols import sigma_b2, sigma_w2

    assert laws.q_map.closed and laws.q_map.expr == sigma_w2 * q / 2 + sigma_b2
    assert laws.c_map.closed and laws.chi_1.closed
    assert not any("main thread" in n for law in laws for n in law.notes)


def test_an_exception_inside_sympy_fails_only_that_tactic():
    """issue 7 §4: any SymPy exception inside one tactic means that tactic failed, not the derivation."""
    from neurodyn.theory.expectation import GaussianExpectation as E
    from neurodyn.theory.tactics import Problem, Tactic, run_tactics, tactic

    def broken(problem):
        raise sympy.PolynomialError("an input SymPy cannot handle")

    bad = Tactic("broken", "a tactic that meets a SymPy error", frozenset({1, 2}), broken)
    problem = Problem(x**3, x, q, q, q, inputs=1)
    result = run_tactics([bad, tactic("gaussian-exponential")], problem, lambda value: None, E(x**4, q),
                         seconds=5, deadline=None)
    assert result.closed and result.value == 3 * q**2 and result.tactic == "gaussian-exponential"
    assert any(n.startswith("broken: failed inside SymPy (PolynomialError") for n in result.notes)
