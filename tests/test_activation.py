import mpmath
import pytest
import sympy

from neurodyn.theory import Activation, catalog
from neurodyn.theory.errors import ActivationError
from neurodyn.theory.symbols import x


def test_catalogue_has_the_required_names():
    required = {"linear", "relu", "leaky_relu", "abs", "elu", "selu", "gelu", "silu", "swish", "mish",
                "softplus", "tanh", "erf", "sigmoid", "hard_tanh", "softsign", "sin", "cos", "gaussian"}
    assert required <= set(catalog.names())


def test_kinks():
    assert catalog.get("relu").kinks == (0,)
    assert catalog.get("hard_tanh").kinks == (-1, 1)
    assert catalog.get("tanh").kinks == ()


@pytest.mark.parametrize("name", catalog.names())
@pytest.mark.parametrize("order", [1, 2])
def test_derivatives_against_numeric_differentiation(name, order):
    act = catalog.get(name)
    fn = sympy.lambdify(x, act.piecewise, "mpmath")
    dn = sympy.lambdify(x, act.derivative(order), "mpmath")
    with mpmath.workdps(30):
        for point in ("-2.3", "-0.7", "0.45", "1.6"):
            p = mpmath.mpf(point)
            if any(abs(p - float(k)) < 0.05 for k in act.kinks):
                continue
            numeric = mpmath.diff(fn, p, order)
            assert abs(dn(p) - numeric) <= mpmath.mpf(10) ** -20 * (1 + abs(numeric))


def test_jumps():
    assert catalog.get("relu").jumps(1) == ((0, 1),)
    assert catalog.get("elu", alpha=1).jumps(1) == ()       # C^1 when alpha = 1
    assert catalog.get("elu", alpha=2).jumps(1) == ((0, -1),)
    assert catalog.get("tanh").is_continuous(3)


def test_family_parameters_are_exact():
    assert catalog.get("leaky_relu", alpha="0.2").expr == sympy.Max(x / 5, x)


@pytest.mark.parametrize("text, fragment", [
    ("exp(x**2)", "grows like exp"),
    ("exp(x^2/100)", "grows like exp"),
    ("log(x)", "not a finite real"),
    ("1/x", "not a finite real"),
    ("1/(x - 0.3)", "pole"),
    ("sqrt(x)", "not a finite real"),
])
def test_bad_activations(text, fragment):
    with pytest.raises(ActivationError, match=fragment):
        Activation.parse(text)


def test_unknown_catalogue_name_and_parameter():
    with pytest.raises(ActivationError, match="unknown activation"):
        catalog.get("nope")
    with pytest.raises(ActivationError, match="no parameter"):
        catalog.get("relu", alpha=1)
    with pytest.raises(ActivationError, match="alpha"):
        catalog.get("leaky_relu", alpha=2)


def test_kink_at_an_irrational_point():
    act = Activation.parse("where(x > sqrt(2), x, 0)")
    assert act.kinks == (sympy.sqrt(2),)
    assert act.jumps(0) == ((sympy.sqrt(2), sympy.sqrt(2)),)
    act = Activation.parse("where(x^2 > sqrt(3), x, 0)")
    assert [sympy.simplify(k**4) for k in act.kinks] == [3, 3]
    assert float(act.kinks[0]) < 0 < float(act.kinks[1])


def test_max_of_polynomials_kinks_at_the_crossings():
    act = Activation.parse("max(x, x^3/2)")
    assert act.kinks == (-sympy.sqrt(2), 0, sympy.sqrt(2))
    fn = sympy.lambdify(x, act.piecewise, "mpmath")
    for p in ("-2", "-1", "-0.3", "0.4", "1", "1.3", "1.5", "3"):
        v = mpmath.mpf(p)
        assert fn(v) == max(v, v**3 / 2)


@pytest.mark.parametrize("text", [
    "where(sin(x) > 0, 1, 0)",        # infinitely many kinks
    "max(x, 2*tanh(x))",              # transcendental crossing points
    "where(x^5 > 1 + x, x, 0)",       # degree > 4
    "where(x > sqrt(-2), x, 0)",      # a comparison with a complex number
])
def test_unsupported_kinks_are_one_line_activation_errors(text):
    try:
        Activation.parse(text)
    except ActivationError as exc:
        assert "\n" not in str(exc)
    else:
        pytest.fail(f"{text} should be refused")


def test_an_outer_budget_running_out_while_splitting_stays_a_budget_error():
    from neurodyn.theory.activation import pieces_of
    from neurodyn.theory.budget import time_limit
    from neurodyn.theory.errors import BudgetExceeded

    hard = sympy.Max(*[x**3 / k - k for k in range(1, 9)]) * sympy.Max(x, x**3 / 2)
    with pytest.raises(BudgetExceeded):
        with time_limit(0.05, "tactic"):
            pieces_of(hard)


def test_splitting_a_product_of_piecewise_derivatives_is_quick():
    """Found by tests/test_fuzz.py: merging pieces by simplify took ~35 s here (and ran out of budget)."""
    import time

    from neurodyn.theory.activation import pieces_of

    act = Activation.parse("silu(max(2*x, pi*x))")
    started = time.monotonic()
    pieces = pieces_of(act.piecewise * act.derivative(1) * act.derivative(2), seconds=60)
    assert time.monotonic() - started < 5
    assert [p.hi for p in pieces[:-1]] == [0]
