"""Derived laws and compiled callables, computed once per test session."""

from functools import lru_cache

from neurodyn.numerics import compile_laws
from neurodyn.theory import catalog, derive


@lru_cache(maxsize=None)
def laws(name, **params):
    return derive(catalog.get(name, **params))


@lru_cache(maxsize=None)
def compiled(name):
    return compile_laws(laws(name))
