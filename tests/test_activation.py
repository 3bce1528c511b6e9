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
