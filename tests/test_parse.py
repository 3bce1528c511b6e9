import os

import pytest
import sympy

from neurodyn.theory.errors import ActivationError
from neurodyn.theory.parse import parse_expression, parse_number
from neurodyn.theory.symbols import x


@pytest.mark.parametrize("text, expected", [
    ("x", x),
    ("x^2 + 1", x**2 + 1),
    ("max(0, x) + 0.1*x^2", sympy.Max(0, x) + x**2 / 10),
    ("tanh(log(1+exp(x)))", sympy.tanh(sympy.log(1 + sympy.exp(x)))),
    ("where(x > 0, x, 0.5*x)", sympy.Piecewise((x, x > 0), (x / 2, True))),
    ("2*pi*sin(x)", 2 * sympy.pi * sympy.sin(x)),
    ("abs(x - 1)", sympy.Abs(x - 1)),
])
def test_parses(text, expected):
    assert sympy.simplify(parse_expression(text) - expected) == 0


def test_decimals_are_exact():
    assert parse_expression("0.1*x") == x / 10
    assert parse_number("2.25") == sympy.Rational(9, 4)


def test_parameters_substituted():
    assert parse_expression("a*tanh(b*x)", {"a": "2", "b": "0.5"}) == 2 * sympy.tanh(x / 2)


@pytest.mark.parametrize("text, fragment", [
    ("__import__('os').system('touch /tmp/neurodyn_pwned')", "forbidden name"),
    ("x.__class__", "forbidden attribute"),
    ("x.real", "forbidden attribute"),
    ("lambda: 1", "forbidden construct"),
    ("open('f')", "unknown function"),
    ("eval('1')", "unknown function"),
    ("[x for x in y]", "forbidden construct"),
    ("'abc'", "forbidden literal"),
    ("x[0]", "forbidden construct"),
    ("sin(x=1)", "keyword"),
    ("y + 1", "unknown symbol"),
    ("x +", "cannot parse"),
    ("", "empty"),
    ("2**10**10", "too large"),
    ("sin", "is a function"),
    ("x" * 3000, "longer than"),
])
def test_rejected_without_running(text, fragment, tmp_path):
    marker = "/tmp/neurodyn_pwned"
    if os.path.exists(marker):
        os.remove(marker)
    with pytest.raises(ActivationError, match=fragment):
        parse_expression(text)
    assert not os.path.exists(marker)


def test_error_is_value_error():
    with pytest.raises(ValueError):
        parse_expression("foo(x)")


@pytest.mark.parametrize("text, expected", [
    ("x*sigmoid(x)", x / (1 + sympy.exp(-x))),
    ("softplus(x) - relu(x)", sympy.log(1 + sympy.exp(x)) - sympy.Max(0, x)),
    ("softsign(2*x)", 2 * x / (1 + sympy.Abs(2 * x))),
    ("gaussian(x/2)", sympy.exp(-x**2 / 4)),
    ("hard_tanh(x) + tanh(x)", sympy.Max(-1, sympy.Min(1, x)) + sympy.tanh(x)),
    ("swish(x) - silu(x)", sympy.S.Zero),
    ("gelu(x)", x * (1 + sympy.erf(x / sympy.sqrt(2))) / 2),
    ("elu(x - 1)", sympy.Piecewise((x - 1, x - 1 > 0), (sympy.exp(x - 1) - 1, True))),
])
def test_catalogue_functions_inside_expressions(text, expected):
    assert sympy.simplify(parse_expression(text) - expected) == 0


def test_every_catalogue_name_is_callable_and_matches_the_catalogue():
    from neurodyn.theory import catalog

    for name in catalog.names():
        assert parse_expression(f"{name}(x)") == catalog.get(name).expr, name


@pytest.mark.parametrize("text, fragment", [
    ("tahn", "unknown activation 'tahn': did you mean tanh\\? see `neurodyn list`"),
    ("Tanh", "did you mean tanh\\?"),
    ("sigmiod", "did you mean sigmoid\\?"),
    ("sigmod(x)", "unknown function 'sigmod'; did you mean sigmoid"),
    ("sigmoid", "is a function"),
    ("hard_tanh", "is a function"),
    ("sigmoid(x, 2)", "takes 1 argument"),
    ("relu(x=1)", "keyword"),
    ("_relu(x)", "forbidden name"),
])
def test_catalogue_names_refused_or_suggested(text, fragment):
    with pytest.raises(ActivationError, match=fragment):
        parse_expression(text)


def test_parameters_may_not_shadow_catalogue_names():
    with pytest.raises(ActivationError, match="bad parameter name"):
        parse_expression("relu*x", {"relu": "2"})


def test_catalogue_get_suggests_close_names():
    from neurodyn.theory import catalog

    with pytest.raises(ActivationError, match="did you mean tanh"):
        catalog.get("tahn")
