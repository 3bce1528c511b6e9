"""Self-consistency of the independent reference data (tests/reference/fixed_points.json).

These tests do not use neurodyn: they check that the stored reference values obey the
schema and the identities that tie them together, and that values computed by different
parts of make_reference.py (different code paths) agree where they overlap.
"""

import mpmath
import pytest
from mpmath import mpf

NEW_KEYS = ("two_input_cases", "critical_cases", "attractor_cases", "large_sigma_cases")


def significant_digits(text):
    digits = text.lstrip("-").split("e")[0].replace(".", "").lstrip("0")
    return len(digits)


def numbers(entry):
    for key, value in entry.items():
        if key in ("activation", "params", "sigma_w2", "sigma_b2", "note", "phase", "digits",
                   "exists"):
            continue
        if isinstance(value, str):
            yield key, value
        elif isinstance(value, list):
            for v in value:
                if isinstance(v, str):
                    yield key, v
                elif isinstance(v, dict):
                    yield from numbers(v)
        elif isinstance(value, dict):
            yield from numbers(value)


def close(a, b, digits):
    a, b = mpf(a), mpf(b)
    return abs(a - b) <= mpf(10) ** (1 - digits) * max(abs(a), abs(b), mpf(10) ** -digits)


def test_schema_keys_present(reference):
    for key in NEW_KEYS:
        assert reference[key], key
    fields = {
        "two_input_cases": {"activation", "params", "sigma_w2", "sigma_b2", "q_star", "chi_1",
                            "c_star", "chi_c_star", "xi_c", "phase", "digits"},
        "critical_cases": {"activation", "params", "sigma_b2", "exists", "sigma_w2", "q_star",
                           "chi_2", "slope_V", "fold_sigma_w2", "note", "digits"},
        "attractor_cases": {"activation", "params", "sigma_w2", "sigma_b2", "stable_q_stars",
                            "unstable_q_stars", "digits"},
        "large_sigma_cases": {"activation", "sigma_w2", "sigma_b2", "q_star", "chi_1", "digits"},
    }
    for key, required in fields.items():
        for entry in reference[key]:
            assert required <= set(entry), (key, required - set(entry))


@pytest.mark.parametrize("key", NEW_KEYS)
def test_numbers_are_decimal_strings_within_their_digits(reference, key):
    for entry in reference[key]:
        assert isinstance(entry["digits"], int) and entry["digits"] >= 15, entry
        for name, text in numbers(entry):
            mpf(text)  # parses
            assert significant_digits(text) <= entry["digits"], (key, name, text)


def test_two_input_identities(reference):
    with mpmath.workdps(60):
        for e in reference["two_input_cases"]:
            d = e["digits"]
            chi_1 = mpf(e["chi_1"])
            assert e["phase"] == ("ordered" if chi_1 < 1 else "chaotic"), e
            if e["phase"] == "ordered":
                assert e["c_star"] == "1" and close(e["chi_c_star"], e["chi_1"], d), e
            else:
                assert 0 <= mpf(e["c_star"]) < 1, e
            chi_c = mpf(e["chi_c_star"])
            if chi_c < 1:
                assert close(e["xi_c"], -1 / mpmath.log(chi_c), d - 2), e
            else:
                assert e["xi_c"] is None, e


def test_two_input_q_star_matches_the_one_input_generator(reference):
    """tanh (2.25, 0.05) is in both lists; the two computations share no code path."""
    one = {(c["activation"], c["sigma_w2"], c["sigma_b2"]): c for c in reference["cases"]}
    matched = 0
    for e in reference["two_input_cases"]:
        c = one.get((e["activation"], e["sigma_w2"], e["sigma_b2"]))
        if c is not None:
            matched += 1
            assert close(e["q_star"], c["q_star"], min(e["digits"], 45)), (e, c)
            assert close(e["chi_1"], c["chi_1"], min(e["digits"], 45)), (e, c)
    assert matched >= 1


def test_critical_cases_are_consistent(reference):
    for e in reference["critical_cases"]:
        if e["exists"]:
            assert mpf(e["slope_V"]) <= 1, e
            assert mpf(e["sigma_w2"]) > 0 and mpf(e["q_star"]) >= 0, e
        else:
            assert e["sigma_w2"] is None and e["q_star"] is None, e
            assert all(not (s["attracting"] and s["reached_from_q0_1"])
                       for s in e.get("solutions", [])), e


def test_attractor_slopes_classify_the_fixed_points(reference):
    for e in reference["attractor_cases"]:
        qs = sorted([mpf(q) for q in e["stable_q_stars"] + e["unstable_q_stars"]])
        assert len(qs) == len(e["slopes_V"]), e
        # between two attractors of a continuous 1-D map there is a repeller
        stable = {mpf(q) for q in e["stable_q_stars"]}
        kinds = ["s" if q in stable else "u" for q in qs]
        assert "ss" not in "".join(kinds), e
