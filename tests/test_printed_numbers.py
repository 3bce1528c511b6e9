"""Every printed number agrees with a rerun at higher precision within its printed error.

A generic property of the JSON outputs (``FixedPoint.to_json()``,
``CriticalPoint.to_json()``): at ``dps = d`` and ``d + 15`` every
``{"value", "error"}`` pair must satisfy ``|v_d - v_(d+15)| <= e_d + e_(d+15)``,
print at most ``d`` significant digits, and its error must support the digits
printed (the last printed digit is not below the error's decade by more than one).
The grid covers catalogue and user activations; ordered, chaotic and critical
points; q* = 0 and c* = 0. The fast grid runs in the suite, the big one is slow.
"""

from functools import lru_cache

import mpmath
import pytest

from neurodyn.numerics import compile_laws, critical_point, fixed_point
from neurodyn.theory import Activation, catalog, derive


@lru_cache(maxsize=None)
def compiled(name):
    """A catalogue name or a user expression in x, compiled once."""
    act = catalog.get(name) if name in catalog.names() else Activation.parse(name)
    return compile_laws(derive(act))


def _numbers(obj, path=""):
    """Yield (path, value text, error text) for every {"value", "error"} pair in a JSON tree."""
    if isinstance(obj, dict):
        if set(obj) == {"value", "error"} and isinstance(obj["value"], str):
            yield path, obj["value"], obj["error"]
            return
        for key, val in obj.items():
            yield from _numbers(val, f"{path}.{key}")
    elif isinstance(obj, list):
        for i, val in enumerate(obj):
            yield from _numbers(val, f"{path}[{i}]")


def _significant(text):
    digits = text.lstrip("-").split("e")[0].replace(".", "").lstrip("0")
    return len(digits)


def _check_pair(low, high, dps):
    a, b = dict((p, (v, e)) for p, v, e in _numbers(low)), dict((p, (v, e)) for p, v, e in _numbers(high))
    assert a, "no numbers printed"
    assert set(a) == set(b), (set(a) ^ set(b))
    with mpmath.workdps(dps + 40):
        for path, (v1, e1) in a.items():
            v2, e2 = b[path]
            if v1 in ("inf", "nan"):
                assert v2 == v1, path
                continue
            x1, x2, err1, err2 = (mpmath.mpf(t) for t in (v1, v2, e1, e2))
            assert abs(x1 - x2) <= err1 + err2, (path, v1, e1, v2, e2)
            assert _significant(v1) <= dps, (path, v1)
            if err1 > 0 and x1 != 0:
                # the printed digits are supported: the last digit's unit is not far below the error
                lead = mpmath.floor(mpmath.log10(abs(x1)))
                unit = mpmath.mpf(10) ** (lead - _significant(v1) + 1)
                assert unit >= err1 / 100, (path, v1, e1)


def _fixed(name, sw2, sb2, dps, two_input, q0=1.0):
    return fixed_point(compiled(name), sw2, sb2, dps=dps, two_input=two_input, q0=q0).to_json()


FIXED_FAST = [
    ("tanh", "0.8", "0", True, 1.0),          # ordered, q* = 0, xi_c = -1/ln 0.8
    ("tanh", "1.5", "0", True, 1.0),          # chaotic, c* = 0 exactly
    ("erf", "2", "0.05", True, 1.0),          # chaotic
    ("cos", "1.5", "0.1", False, 1.0),        # V'(q*) < 0
    ("x^3/3 + x", "0.5", "0.05", False, 0.1),  # user polynomial, from a small q0
]
FIXED_SLOW = [
    ("tanh", "2.25", "0.05", True, 1.0),
    ("tanh", "1", "0", True, 1.0),             # critical, q* = 0
    ("selu", "1", "0", True, 1.0),             # c* ~ 1e-63
    ("relu", "1.5", "0.1", True, 1.0),
    ("erf", "0.5", "0.05", True, 1.0),
    ("tanh(x^3)", "4", "0.05", False, 1.0),    # two attractors
    ("max(0,x) - 0.5*max(0,x-1)", "1", "0.1", False, 1.0),
    ("tanh", "3000", "0.05", False, 1.0),
]


@pytest.mark.parametrize("name, sw2, sb2, two_input, q0", FIXED_FAST, ids=lambda v: str(v))
def test_fixed_point_numbers_agree_at_two_precisions(name, sw2, sb2, two_input, q0):
    _check_pair(_fixed(name, sw2, sb2, 12, two_input, q0), _fixed(name, sw2, sb2, 27, two_input, q0), 12)


@pytest.mark.slow
@pytest.mark.parametrize("name, sw2, sb2, two_input, q0", FIXED_SLOW, ids=lambda v: str(v))
def test_fixed_point_numbers_agree_at_two_precisions_big_grid(name, sw2, sb2, two_input, q0):
    _check_pair(_fixed(name, sw2, sb2, 15, two_input, q0), _fixed(name, sw2, sb2, 30, two_input, q0), 15)


@pytest.mark.parametrize("name, sb2", [("tanh", "0.05"), ("tanh", "0")])
def test_critical_point_numbers_agree_at_two_precisions(name, sb2):
    low = critical_point(compiled(name), sb2, dps=10).to_json()
    high = critical_point(compiled(name), sb2, dps=25).to_json()
    _check_pair(low, high, 10)


@pytest.mark.slow
@pytest.mark.parametrize("name, sb2", [("erf", "0.05"), ("sigmoid", "0.05"), ("erf", "0")])
def test_critical_point_numbers_agree_at_two_precisions_big_grid(name, sb2):
    _check_pair(critical_point(compiled(name), sb2, dps=15).to_json(),
                critical_point(compiled(name), sb2, dps=30).to_json(), 15)


def test_the_check_can_fail():
    """The comparison rejects a printed value that its error does not cover."""
    good = {"x": {"value": "0.5000", "error": "1e-4"}}
    bad = {"x": {"value": "0.5003", "error": "1e-5"}}
    with pytest.raises(AssertionError):
        _check_pair(good, bad, 4)
