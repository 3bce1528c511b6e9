"""Time budgets for symbolic work: no SymPy call may hang (DESIGN section 5).

:func:`time_limit` interrupts pure-Python work (all of SymPy) with SIGALRM when
it runs in the main thread of a Unix process. Outside the main thread a
budgeted call cannot be interrupted, so it is refused at once with
:class:`BudgetExceeded` and the caller falls back, exactly as on a time-out.

>>> with time_limit(1.0):
...     1 + 1
2
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time

from .errors import BudgetExceeded

_deadline: float | None = None


def _can_interrupt() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def remaining() -> float | None:
    """Seconds left in the innermost active budget, or None when there is none."""
    return None if _deadline is None else _deadline - time.monotonic()


@contextlib.contextmanager
def time_limit(seconds: float, what: str = "symbolic work", *, optional: bool = False):
    """Run the block for at most ``seconds``; raise :class:`BudgetExceeded` after.

    Budgets nest: an inner budget never outlives the outer one. Outside the main
    thread the block cannot be interrupted: it is refused (BudgetExceeded), or, with
    ``optional=True`` (for steps that are cheap on any input the parser accepts),
    run without a budget.
    """
    global _deadline
    if not _can_interrupt():
        if optional:
            yield
            return
        raise BudgetExceeded(f"{what}: time budgets need the main thread; skipped")
    now = time.monotonic()
    outer = _deadline
    deadline = now + seconds if outer is None else min(outer, now + seconds)
    if deadline - now <= 0:
        raise BudgetExceeded(f"{what}: no time left in the budget")

    def _alarm(signum, frame):
        raise BudgetExceeded(f"{what}: ran out of its {seconds:g} s budget")

    previous = signal.signal(signal.SIGALRM, _alarm)
    _deadline = deadline
    signal.setitimer(signal.ITIMER_REAL, deadline - now)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        _deadline = outer
        if outer is not None:
            left = outer - time.monotonic()
            if left > 0:
                signal.signal(signal.SIGALRM, previous)
                signal.setitimer(signal.ITIMER_REAL, left)
            # an exhausted outer budget fires at once through its own handler
            elif previous is not None:
                signal.setitimer(signal.ITIMER_REAL, 1e-6)


def bounded(fn, *args, seconds: float, what: str = "symbolic work", **kwargs):
    """Call ``fn(*args, **kwargs)`` within a time budget (see :func:`time_limit`)."""
    with time_limit(seconds, what):
        return fn(*args, **kwargs)
