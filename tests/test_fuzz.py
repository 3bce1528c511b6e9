"""Property-based fuzzing over a grammar of activation expressions.

For any expression the grammar makes (compositions of the parser's functions and of
the catalogue's activations, kinks at odd places, a parameter), parsing, ``derive``
with a small budget and a low-precision fixed point either succeed or raise one of
the project's own errors (:class:`NeurodynError`), never anything else, and keep to
their time budgets. Each example runs in a worker process, so a hang is a
:class:`BudgetExceeded` of the whole example and fails the test instead of stalling it.
"""

import time
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from neurodyn.theory import Activation, derive
from neurodyn.theory.budget import run_in_worker
from neurodyn.theory.errors import BudgetExceeded, NeurodynError

DERIVE_SECONDS = 3.0
#: What derive may take beyond its budget: the steps between two budget checks.
DERIVE_SLACK = 4.0
#: Whole example (parse + derive + fixed point), the worker's own limit.
EXAMPLE_SECONDS = 45.0

SMOOTH = ["tanh", "erf", "sin", "cos", "atan", "asinh", "sigmoid", "softplus", "softsign", "gelu",
          "silu", "mish", "gaussian"]
KINKED = ["relu", "abs", "elu", "selu", "hard_tanh", "leaky_relu", "sign", "step"]
ODD_POINTS = ["0", "1", "-1/3", "sqrt(2)", "-sqrt(3)/2", "pi/4", "E", "0.7", "a"]
NUMBERS = ["2", "0.5", "-1", "3/7", "sqrt(2)", "pi", "a"]

#: Kinks at irrational or non-polynomial points, crossings of polynomials.
KINKED_ATOMS = ["max(x, x^3/2)", "min(x^2 - 2, 1 - x^2)", "abs(x^3 - 2)", "sign(x - sqrt(2))",
                "max(x, a*x^2)", "where(x^4 > 2, x, -x/2)", "where(x > sqrt(2), x, 0)", "max(0, x - pi)"]

leaves = st.one_of(
    st.just("x"),
    st.sampled_from(NUMBERS).map(lambda k: f"{k}*x"),
    st.sampled_from(NUMBERS),
    st.sampled_from(KINKED_ATOMS),
)


def _extend(inner):
    return st.one_of(
        st.tuples(st.sampled_from(SMOOTH + KINKED), inner).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(inner, st.sampled_from(["+", "-", "*"]), inner).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        st.tuples(st.sampled_from(["max", "min"]), inner, inner).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
        st.tuples(st.sampled_from(["x", "x^2", "x^3/2", "2*x - 1"]), st.sampled_from([">", "<"]),
                  st.sampled_from(ODD_POINTS), inner, inner)
        .map(lambda t: f"where({t[0]} {t[1]} {t[2]}, {t[3]}, {t[4]})"),
        st.tuples(inner, st.sampled_from(["2", "3", "(1/2)"])).map(lambda t: f"({t[0]})^{t[1]}"),
        st.tuples(st.sampled_from(NUMBERS), inner).map(lambda t: f"x*tanh({t[0]}*({t[1]}))"),
    )


expressions = st.recursive(leaves, _extend, max_leaves=5)
parameters = st.sampled_from(["0.5", "1.5", "-2", "1/3"])


def _example(text: str, a: str) -> dict:
    """Runs in the worker: parse, derive within its budget, fixed point at 10 digits."""
    from neurodyn.numerics import compile_laws, fixed_point

    times = {}
    started = time.monotonic()
    outcome = "fixed point"
    try:
        act = Activation.parse(text, params={"a": a})
        times["parse"] = time.monotonic() - started
        started = time.monotonic()
        laws = derive(act, seconds=DERIVE_SECONDS)
        times["derive"] = time.monotonic() - started
        started = time.monotonic()
        fixed_point(compile_laws(laws), "1.5", "0.05", dps=10)
        times["fixed point"] = time.monotonic() - started
    except NeurodynError as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    return {"outcome": outcome, "times": times}


@pytest.mark.slow
@settings(max_examples=25, derandomize=True, deadline=timedelta(seconds=EXAMPLE_SECONDS + 15),
          suppress_health_check=[HealthCheck.too_slow], database=None)
@given(text=expressions, a=parameters)
@example(text="where(x > sqrt(2), x, 0)", a="1")
@example(text="max(x, x^3/2)", a="1")
def test_parse_derive_fixed_point_fail_only_with_our_errors_and_on_time(text, a):
    try:
        result = run_in_worker(_example, text, a, timeout=EXAMPLE_SECONDS, what=f"fuzz example {text!r}")
    except BudgetExceeded as exc:
        pytest.fail(f"{text!r} (a = {a}) took more than {EXAMPLE_SECONDS} s: {exc}")
    # anything but NeurodynError raised in the worker propagates here and fails the test
    assert result["times"].get("derive", 0) <= DERIVE_SECONDS + DERIVE_SLACK, (text, a, result)


def _parse_only(text: str, a: str) -> str:
    try:
        act = Activation.parse(text, params={"a": a})
        act.jumps(0), act.jumps(1)
    except NeurodynError as exc:
        return f"{type(exc).__name__}: {exc}"
    return "ok"


PARSE_SECONDS = 20.0


@pytest.mark.slow
@settings(max_examples=40, derandomize=True, deadline=timedelta(seconds=PARSE_SECONDS + 10),
          suppress_health_check=[HealthCheck.too_slow], database=None)
@given(text=expressions, a=parameters)
def test_parse_and_kinks_fail_only_with_our_errors(text, a):
    try:
        outcome = run_in_worker(_parse_only, text, a, timeout=PARSE_SECONDS, what=f"parse {text!r}")
    except BudgetExceeded as exc:
        pytest.fail(f"{text!r} (a = {a}): {exc}")
    if outcome != "ok":
        assert "\n" not in outcome
