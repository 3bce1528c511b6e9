"""``derive(activation) -> Laws``: the cached, bounded derivation users call.

Three layers, each with one job:

* :func:`neurodyn.theory.laws.derive_uncached` runs the law registry's builders
  (pure SymPy, every tactic under a time budget);
* :mod:`neurodyn.theory.cache` keeps derived laws: the catalogue's entries are
  committed with the package (rebuilt with generous budgets, so what users see
  does not depend on the speed of the machine that built them), a user's own
  expressions are kept in the user cache;
* :func:`neurodyn.theory.budget.run_in_worker` runs a derivation that is not
  cached in a child process, where its budgets work whatever thread or OS the
  caller is on, and which is stopped if it overruns.

>>> from neurodyn.theory import catalog
>>> laws = derive(catalog.get("erf"))
>>> laws.q_map.expr
sigma_b2 + 2*sigma_w2*asin(2*q/(2*q + 1))/pi
>>> import threading
>>> box = []
>>> t = threading.Thread(target=lambda: box.append(derive(catalog.get("relu"))))
>>> t.start(); t.join()
>>> box[0].q_map.closed          # budgets work off the main thread too
True
"""

from __future__ import annotations

from . import cache
from .activation import Activation
from .budget import run_in_worker
from .errors import BudgetExceeded
from .laws import DERIVE_SECONDS, Laws, derive_uncached

__all__ = ["derive", "WORKER_GRACE"]

#: Seconds a derivation's worker may run past the derivation's own budget before it is stopped.
WORKER_GRACE = 15.0


def _ran_out_of_time(laws: Laws) -> bool:
    """True when some tactic was stopped by its time budget (the result depends on the machine)."""
    return any("budget" in note for law in laws for note in law.notes)


def derive(activation: Activation, seconds: float = DERIVE_SECONDS) -> Laws:
    """Derive the mean-field laws of ``activation`` (every law of the registry).

    Catalogue activations come from the committed derivation cache (instant, and
    the same on every machine); other expressions are derived in a worker process
    within ``seconds`` (each tactic within its own budget) and kept in the user
    cache when no budget ran out. A law with no closed form is an expression
    holding unevaluated Gaussian expectations, and its ``notes`` say what was
    tried. A non-default ``seconds`` always derives afresh.

    Parameters
    ----------
    activation : Activation
        From :func:`neurodyn.theory.catalog.get` or :meth:`Activation.parse`.
    seconds : float
        Time budget of the whole derivation.

    Returns
    -------
    Laws
    """
    if not isinstance(activation, Activation):
        raise TypeError(f"derive() needs an Activation, got {type(activation).__name__}")
    default = seconds == DERIVE_SECONDS
    if default:
        cached = cache.load(activation)
        if cached is not None:
            return cached
    what = f"deriving {activation.name}"
    try:
        laws = run_in_worker(derive_uncached, activation, seconds, timeout=seconds + WORKER_GRACE, what=what)
    except BudgetExceeded:
        # the worker overran even its grace period: every expectation stays unevaluated
        laws = run_in_worker(derive_uncached, activation, 0.0, timeout=WORKER_GRACE, what=what)
    if default and not _ran_out_of_time(laws):
        cache.store(activation, laws)
    return laws
