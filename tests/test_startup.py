"""Start-up of a catalogue query (issue 9): stored programs, loaded without SymPy, same digits.

A catalogue entry's compiled laws are stored as generated source
(:func:`neurodyn.numerics.compile.store_program`) and loaded without SymPy
(:func:`~neurodyn.numerics.compile.load_stored`). These tests check that the loaded
laws give exactly the numbers of the SymPy path, that ``neurodyn fixed-point NAME
--single-input`` then imports no SymPy (and only its own command module), and that a
program written for anything else than the current code and versions is never used.
The speed itself is measured by benchmarks/bench_startup.py.
"""

import json
import os
import subprocess
import sys

import mpmath
import numpy as np
import pytest
import sympy

from cache import compiled
from neurodyn.numerics.compile import load_stored, store_program
from neurodyn.numerics.fixedpoint import fixed_point
from neurodyn.numerics.quadrature import IntegrandBundle, StoredBundle, expect_mp, expect_np
from neurodyn.theory import cache as derivation_cache
from neurodyn.theory import catalog
from neurodyn.theory.symbols import x

#: smooth with unevaluated expectations (tanh, gelu), closed forms (erf), kinked at 0 (relu, elu), at +-1 (hard_tanh)
NAMES = ("tanh", "gelu", "erf", "relu", "elu", "hard_tanh")
SINGLE = ("q_map", "chi_par", "chi_1", "chi_2")
COMMAND = ["fixed-point", "tanh", "--sigma-w2", "2.25", "--sigma-b2", "0.05", "--dps", "50", "--single-input"]


@pytest.fixture
def only_user_programs(tmp_path, monkeypatch):
    """The committed folder without its programs (the laws stay): only the user cache's programs count.

    A fresh committed program would (rightly) be used whatever the user cache holds; the tests
    that spoil or remove a program need it out of the way. Returns the folder, for subprocesses.
    """
    folder = tmp_path / "derived_laws"
    folder.mkdir()
    for path in derivation_cache.PACKAGE_DIR.iterdir():
        if path.name.endswith(".pickle"):
            (folder / path.name).symlink_to(path)
    monkeypatch.setattr(derivation_cache, "PACKAGE_DIR", folder)
    return folder


def _stored(name):
    """Write ``name``'s program into the (test session's private) user cache and load it back."""
    if derivation_cache.load(catalog.get(name)) is None:      # programs are kept only for cached laws
        pytest.skip(f"the laws of {name} are not cached (stale committed cache: `neurodyn cache --rebuild`)")
    assert store_program(name, compiled(name), user=True) is not None
    f = load_stored(name)
    assert f is not None
    return f


@pytest.mark.parametrize("name", NAMES)
def test_a_stored_program_gives_the_same_digits_as_sympy(name):
    f, g = compiled(name), _stored(name)
    assert g.names() == f.names()
    names = [n for n in SINGLE if n in f.names()]
    for q in ("0.3", "1.7", "25"):
        a = f.evaluate(names, q, "1.9", "0.07", dps=40)
        b = g.evaluate(names, q, "1.9", "0.07", dps=40)
        for n in names:
            assert (a[n].value, a[n].error) == (b[n].value, b[n].error), (name, n, q)
    qs = np.array([1e-3, 0.5, 3.0, 40.0])
    a, b = f.evaluate(names, qs, 1.9, 0.07), g.evaluate(names, qs, 1.9, 0.07)
    for n in names:
        np.testing.assert_array_equal(a[n], b[n])
    assert fixed_point(g, "1.9", "0.07", dps=30).to_json() == fixed_point(f, "1.9", "0.07", dps=30).to_json()


def test_a_stored_program_belongs_to_the_cache_key_of_its_entry():
    path = store_program("tanh", compiled("tanh"), user=True)
    record = json.loads(path.read_text())
    assert record["key"] == derivation_cache.key(catalog.get("tanh"))
    assert record["fast"] == derivation_cache.program_fields("tanh")
    assert record["fast"]["sympy"] == sympy.__version__ and record["fast"]["mpmath"] == mpmath.__version__


def test_a_stale_program_is_never_used(only_user_programs):
    path = store_program("tanh", compiled("tanh"), user=True)
    good = json.loads(path.read_text())
    try:
        for part, field, value in (("fast", "theory", "0" * 64), ("fast", "sympy", "0.0"),
                                   ("fast", "neurodyn", "0.0"), ("fast", "params", [["a", "1"]]),
                                   ("checks", "numerics", "0" * 64), ("checks", "format", -1)):
            bad = json.loads(json.dumps(good))
            bad[part][field] = value
            path.write_text(json.dumps(bad))
            assert load_stored("tanh") is None, (part, field)
    finally:
        path.write_text(json.dumps(good))
    assert load_stored("tanh") is not None
    assert load_stored("not_a_catalogue_name") is None


def _run(code, package_dir=None):
    if package_dir is not None:            # the subprocess sees the same committed folder as the test
        code = (f"import pathlib\nimport neurodyn.theory.cache as _c\n_c.PACKAGE_DIR = pathlib.Path({str(package_dir)!r})\n"
                + code)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    return done.stdout


_PROBE = ("import sys\nfrom neurodyn.cli import main\nrc = main({argv!r})\n"
          "print('MODULES', sorted(m for m in sys.modules if m.split('.')[0] in ('sympy', 'scipy')"
          " or m.startswith('neurodyn.cli.')))\n")


def test_fixed_point_single_input_of_a_catalogue_name_imports_no_sympy(reference):
    _stored("tanh")
    out = _run(_PROBE.format(argv=COMMAND))
    modules = eval(out.split("MODULES", 1)[1])          # noqa: S307 - our own printed list
    assert not [m for m in modules if m.split(".")[0] in ("sympy", "scipy")]
    assert modules == ["neurodyn.cli.fixed_point", "neurodyn.cli.options"]     # only its own command
    case = next(c for c in reference["cases"] if (c["activation"], c["sigma_w2"], c["sigma_b2"]) ==
                ("tanh", "2.25", "0.05"))
    assert f"q_star  = {case['q_star'][:52]}" in out
    assert f"chi_1   = {case['chi_1'][:51]}" in out


def test_without_a_fresh_program_the_command_derives_and_writes_one(only_user_programs):
    path = store_program("tanh", compiled("tanh"), user=True)
    fast = _run(_PROBE.format(argv=COMMAND), only_user_programs).split("MODULES")[0]
    record = json.loads(path.read_text())
    record["fast"]["theory"] = "0" * 64                   # as if the theory code had changed
    path.write_text(json.dumps(record))
    out = _run(_PROBE.format(argv=COMMAND), only_user_programs)
    assert "'sympy'" in out.split("MODULES", 1)[1]         # the SymPy path ran ...
    assert out.split("MODULES")[0] == fast                  # ... with the same output
    assert load_stored("tanh") is not None                  # and left a fresh program


@pytest.mark.parametrize("integrand", [sympy.Max(0, x) ** 2 * sympy.tanh(x),
                                       sympy.Piecewise((-1, x < -1), (x, x < sympy.Rational(1, 2)),
                                                       (sympy.Rational(1, 2), True)) ** 2])
def test_a_stored_kinked_bundle_is_the_same_bundle(integrand):
    bundle = IntegrandBundle([integrand, integrand ** 2])
    assert not bundle.smooth
    copy = StoredBundle(bundle.spec())
    for v in ("0.2", "3"):
        assert expect_mp(copy, mpmath.mpf(v), dps=30) == expect_mp(bundle, mpmath.mpf(v), dps=30)
    vs = np.array([0.0, 0.2, 3.0])
    for a, b in zip(expect_np(copy, vs), expect_np(bundle, vs)):
        np.testing.assert_array_equal(a, b)


def test_a_bundle_with_an_inexact_kink_is_not_stored():
    assert IntegrandBundle([sympy.Max(sympy.Rational(1, 3), x)]).spec() is None
    assert IntegrandBundle([sympy.Max(sympy.sqrt(2), x)]).spec() is None
    assert IntegrandBundle([sympy.Max(sympy.Rational(-3, 4), x)]).spec() is not None
