import mpmath
import pytest
import sympy

from neurodyn.theory import Activation, catalog, derive
from neurodyn.theory import GaussianExpectation
from neurodyn.theory.symbols import q, sigma_b2, sigma_w2

from cache import compiled as cached_compiled
from cache import laws as cached_laws
from neurodyn.theory.laws import SINGLE_INPUT
from quadref import reference_expectation

CLOSED = ["linear", "relu", "leaky_relu", "abs", "erf", "sin", "cos", "gaussian", "elu", "hard_tanh"]
POLYNOMIALS = ["x**3 - x", "x**2 + 2*x + 3", "x**5"]


def _integrand(law_name, act):
    d = {"q_map": act.piecewise, "chi_1": act.derivative(1), "chi_2": act.derivative(2)}[law_name]
    return d**2


def _check_law_numerically(act, law, sw2="1.7", sb2="0.3"):
    """Law value at several q against independent quadrature of its definition."""
    subs = {sigma_w2: sympy.Rational(sw2), sigma_b2: sympy.Rational(sb2)}
    breaks = tuple(float(k) for k in act.kinks) or (0,)
    for v in ("0.4", "2.3"):
      with mpmath.workdps(40):
        if law.closed:
            got = mpmath.mpf(str(sympy.N(law.expr.subs(subs).subs(q, sympy.Rational(v)), 30)))
        else:
            from neurodyn.numerics import compile_laws
            got = compile_laws(cached_laws(act.name) if act.name in catalog.names() else derive(act)).evaluate(
                [law.name], v, sw2, sb2, dps=25)[law.name].value
        ref = reference_expectation(_integrand(law.name, act), v, breaks=breaks) * mpmath.mpf(sw2)
        if law.name == "q_map":
            ref += mpmath.mpf(sb2)
        assert abs(got - ref) <= mpmath.mpf(10) ** -22 * (1 + abs(ref)), (law.name, v, got, ref)


CLOSED_TWO_INPUT = ["linear", "relu", "leaky_relu", "abs", "erf", "sin", "cos", "gaussian"]


@pytest.mark.parametrize("name", CLOSED)
def test_required_closed_forms(name):
    act = catalog.get(name)
    laws = cached_laws(name)
    for law in laws:
        if not law.defined:
            continue
        if law.name in SINGLE_INPUT:
            assert law.closed, (name, law.name, law.expr)
            if law.name != "chi_par":
                _check_law_numerically(act, law)
        elif name in CLOSED_TWO_INPUT:
            assert law.closed, (name, law.name, law.expr)


@pytest.mark.slow
@pytest.mark.parametrize("text", POLYNOMIALS)
def test_polynomials_closed(text):
    act = Activation.parse(text)
    laws = derive(act)
    assert all(law.closed for law in laws)
    for law in laws:
        if law.name in ("q_map", "chi_1", "chi_2"):
            _check_law_numerically(act, law)
    assert laws.cov_map.tactic == "mehler"


def test_erf_laws_match_reference_sheet():
    laws = derive(catalog.get("erf"))
    assert laws.q_map.tactic == "price"
    expected = 4 * sigma_w2 / sympy.pi / sympy.sqrt(1 + 4 * q)
    assert sympy.simplify(laws.chi_1.expr - expected) == 0
    assert sympy.simplify(laws.chi_2.expr - sigma_w2 * 16 * q / sympy.pi * (1 + 4 * q)**sympy.Rational(-3, 2)) == 0
    assert sympy.simplify(laws.chi_par.expr - sigma_w2 * 4 / sympy.pi / ((1 + 2 * q) * sympy.sqrt(1 + 4 * q))) == 0


def test_relu_laws():
    laws = derive(catalog.get("relu"))
    assert laws.q_map.expr == sigma_w2 * q / 2 + sigma_b2
    assert laws.chi_1.expr == sigma_w2 / 2
    assert not laws.chi_2.defined and "delta" in laws.chi_2.note


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tanh", "mish", "softplus", "sigmoid", "silu", "softsign"])
def test_no_closed_form_is_an_unevaluated_expectation(name):
    laws = cached_laws(name)
    assert not laws.q_map.closed
    assert laws.q_map.expr.has(GaussianExpectation)
    _check_law_numerically(catalog.get(name), laws.chi_1)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tanh", "erf", "elu", "softsign", "gelu", "hard_tanh"])
def test_chi_par_is_the_derivative_of_the_q_map(name):
    """chi_par against a numeric derivative of the independently integrated q-map."""
    from neurodyn.numerics import compile_laws

    act = catalog.get(name)
    f = compile_laws(cached_laws(name))
    breaks = tuple(float(k) for k in act.kinks) or (0,)
    for v in ("0.6", "1.9"):
      with mpmath.workdps(40):
        h = mpmath.mpf("1e-12")
        upper, lower = (reference_expectation(act.piecewise**2, mpmath.mpf(v) + s * h, dps=40, breaks=breaks)
                        for s in (1, -1))
        numeric = (upper - lower) / (2 * h) * mpmath.mpf("1.7")
        got = f.chi_par(v, "1.7", "0.3", dps=25).value
        assert abs(got - numeric) < mpmath.mpf(10) ** -18, (name, v)


def test_identities_chi1_equals_chi_par_for_relu_family():
    for name in ("relu", "leaky_relu"):
        laws = derive(catalog.get(name))
        assert sympy.simplify(laws.chi_par.expr - laws.chi_1.expr) == 0


def test_latex_and_str():
    laws = derive(catalog.get("erf"))
    assert r"\sigma_w^2" in sympy.latex(laws)
    assert r"\chi_1(q)" in laws._repr_latex_()
    assert "V(q) =" in str(laws)


def test_derive_rejects_non_activation():
    with pytest.raises(TypeError):
        derive("tanh")


# ----------------------------------------------------------------------------------------
# The registries: laws, tactics, steps
# ----------------------------------------------------------------------------------------
def test_a_registered_law_is_derived_compiled_and_printed():
    """Adding a law is one registry entry plus its builder, composed from laws derived before it."""
    import inspect
    import pickle

    from neurodyn.numerics import compile_laws
    from neurodyn.theory.laws import LAWS, Law, law, unregister_law
    from neurodyn.theory.latex import law_latex

    @law("kappa", "kappa(q)", r"\kappa(q)", title="a test law", variables=("q",))
    def _kappa(d):
        chi_1, chi_2 = d.law("chi_1"), d.law("chi_2")
        expr = chi_2.expr / chi_1.expr
        return Law("kappa", expr, chi_1.closed and chi_2.closed, "composition")

    try:
        assert list(LAWS)[-1] == "kappa"
        laws = derive(catalog.get("sin"))
        assert laws.kappa.closed
        assert str(laws.kappa).startswith("kappa(q) = ")
        assert law_latex(laws.kappa).startswith(r"\kappa(q) = ")
        f = compile_laws(laws)
        assert "kappa" in f.names()
        assert list(inspect.signature(f.kappa).parameters) == ["q", "sigma_w2", "sigma_b2", "dps"]
        # the law against its definition, evaluated independently: chi_2/chi_1 for sin,
        # E[sin(u)^2]/E[cos(u)^2] = (1 - e^{-2q})/(1 + e^{-2q}) = tanh(q)
        got = f.kappa("0.8", "1.3", dps=30)
        with mpmath.workdps(40):
            assert abs(got.value - mpmath.tanh(mpmath.mpf("0.8"))) <= got.error + mpmath.mpf(10) ** -29
        assert pickle.loads(pickle.dumps(f)).kappa(0.8, 1.3) == pytest.approx(float(mpmath.tanh(0.8)), rel=1e-13)
    finally:
        unregister_law("kappa")
    assert "kappa" not in LAWS


@pytest.mark.slow
def test_a_registered_law_may_bring_its_own_variable():
    from neurodyn.numerics import compile_laws
    from neurodyn.theory.laws import Law, law, unregister_law

    ell = sympy.Symbol("ell", positive=True)

    @law("chi_1_power", "chi_1^ell(q)", r"\chi_1^{\ell}(q)", title="a test law", variables=("q", "ell"))
    def _power(d):
        chi_1 = d.law("chi_1")
        return Law("chi_1_power", chi_1.expr**ell, chi_1.closed, "composition")

    try:
        f = compile_laws(derive(catalog.get("erf")))
        chi_1 = f.chi_1("0.5", "2", dps=20).value
        got = f.chi_1_power("0.5", "3", "2", dps=20)
        with mpmath.workdps(30):
            assert abs(got.value - chi_1**3) <= got.error + mpmath.mpf(10) ** -18
    finally:
        unregister_law("chi_1_power")


def test_every_law_method_has_the_same_defaults():
    from neurodyn.theory.laws import LAWS

    f = cached_compiled("erf")
    for name in f.names():
        params = __import__("inspect").signature(getattr(f, name)).parameters
        assert params["sigma_b2"].default == 0, name
        assert list(params)[:len(LAWS[name].variables)] == list(LAWS[name].variables)
    assert f.chi_2(1.0, 2.0) == f.chi_2(1.0, 2.0, 0)
    with pytest.raises(ValueError, match="needs q_star"):
        f.c_map(0.5, 2.0, 0.1)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        f.chi_c(1.5, 2.0, 0.1, 1.0)


@pytest.mark.parametrize("name", ["tanh", "relu"])
def test_compiled_laws_pickle(name):
    """A CompiledLaws survives pickling (sweeps send it to other processes) and gives the same numbers."""
    import pickle

    f = cached_compiled(name)
    g = pickle.loads(pickle.dumps(f))
    assert g.names() == f.names() and g.activation == f.activation
    for law_name, point in (("q_map", dict(q="0.7")), ("c_map", dict(c="0.3", q_star="0.9"))):
        point = dict(point, sigma_w2="1.9", sigma_b2="0.1")
        a = f.evaluate_at([law_name], point, dps=20)[law_name]
        b = g.evaluate_at([law_name], point, dps=20)[law_name]
        assert a.value == b.value and a.error == b.error
    assert g.chi_1(0.5, 2.0) == f.chi_1(0.5, 2.0)


def test_tactic_registry():
    from neurodyn.theory.laws import describe_method
    from neurodyn.theory.tactics import TACTICS, tactic

    names = [t.name for t in TACTICS]
    assert len(set(names)) == len(names)
    for t in TACTICS:
        assert t.description and t.inputs <= {1, 2} and t.inputs
        assert tactic(t.name) is t and describe_method(t.name) == t.description
    assert {t.name for t in TACTICS if 1 in t.inputs} >= {"catalogue", "symmetry", "gaussian-exponential",
                                                          "termwise", "price"}
    assert {t.name for t in TACTICS if 2 in t.inputs} >= {"catalogue", "symmetry", "mehler",
                                                          "gaussian-exponential", "price"}


@pytest.mark.parametrize("name", ["relu", "erf", "tanh", "gelu", "elu"])
def test_steps_render_text_and_latex_from_one_source(name):
    """Plain text and LaTeX of every step come from one source: text free of LaTeX markup."""
    from neurodyn.theory.latex import text_latex

    for law in cached_laws(name):
        for step in law.steps:
            text, tex = step.description, step.tex
            assert "\\" not in text and "$" not in text, (law.name, text)
            assert text and tex
            if "$" not in tex:
                assert tex == text_latex(text), (law.name, tex)


def test_a_law_that_is_not_finite_is_undefined_with_a_note():
    """A constant phi has chi_1 = 0 and the curvature maps divide by it: undefined, never zoo in a law."""
    import sympy

    from neurodyn.numerics import compile_laws, fixed_point
    from neurodyn.theory import Activation
    from neurodyn.theory.laws import derive_uncached

    laws = derive_uncached(Activation.parse("2"))
    assert not any(law.defined and law.expr.has(sympy.zoo, sympy.nan, sympy.oo) for law in laws)
    assert not laws.Rbar_map.defined and "division by zero" in laws.Rbar_map.note
    fp = fixed_point(compile_laws(laws), "1.5", "0.05", dps=10, two_input=True)
    assert str(fp.q_star) == "6.050000000" and fp.phase == "ordered" and "at once" in fp.notes["xi_c"]
