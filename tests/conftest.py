"""Shared test fixtures.

* Every test runs with mpmath's global precision saved and restored, so a test that
  changes ``mpmath.mp.dps`` (directly or through a bug in the code under test) cannot
  leak its precision into the tests that run after it.
* The derivation cache's user folder is a fresh temporary folder for the session
  (``XDG_CACHE_HOME``), so tests neither read nor fill the user's own cache; the
  committed catalogue entries are used as a user would use them.
* ``reference`` gives the parsed independent reference data,
  tests/reference/fixed_points.json (written by tests/reference/make_reference.py,
  which never imports neurodyn).
"""

import json
import os
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

import mpmath
import pytest

TESTS_DIR = Path(__file__).resolve().parent
REFERENCE_PATH = TESTS_DIR / "reference" / "fixed_points.json"

# tests import their helper modules (cache.py, quadref.py) as top-level modules
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))


# set before any test imports neurodyn, and inherited by the subprocesses the CLI tests start
_USER_CACHE = tempfile.TemporaryDirectory(prefix="neurodyn-test-cache-")
os.environ["XDG_CACHE_HOME"] = _USER_CACHE.name


@pytest.fixture(autouse=True)
def _restore_mpmath_precision():
    """Save mpmath's working precision before each test and restore it afterwards."""
    prec = mpmath.mp.prec
    try:
        yield
    finally:
        mpmath.mp.prec = prec  # dps follows from prec


@lru_cache(maxsize=1)
def load_reference():
    """The reference data as a dict (parsed once per session; treat it as read-only)."""
    return json.loads(REFERENCE_PATH.read_text())


@pytest.fixture(scope="session")
def reference():
    """Parsed tests/reference/fixed_points.json (keys "cases", "two_input_cases", ...)."""
    return load_reference()
