"""Bounded symbolic work: no SymPy call may hang, in any thread, on any OS.

Two tools, one for each side of a process boundary:

* :func:`run_in_worker` runs a function in a child process and kills it when its
  ``timeout`` passes (:class:`BudgetExceeded`). It works from any thread of the
  caller and touches no timer or signal handler of the caller. With the ``fork``
  start method (Linux, macOS) the child inherits the already-imported SymPy and
  the function may be a closure; elsewhere (``spawn``) it must be picklable.
* :func:`time_limit` / :func:`bounded` are the budgets *inside* that worker: they
  interrupt pure-Python work (all of SymPy) with SIGALRM, which works in the main
  thread of a Unix process, such as the worker. They nest (an inner budget never
  outlives the outer one and gives the outer one back its timer), and they never
  cancel or replace a timer they did not set: where they cannot interrupt (off the
  main thread, without SIGALRM, or while someone else's ITIMER_REAL runs) the block
  is refused with :class:`BudgetExceeded` (or run unbounded with ``optional=True``).

>>> with time_limit(1.0):
...     1 + 1
2
>>> run_in_worker(pow, 2, 10, timeout=30, what="a power")
1024
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
import signal
import threading
import time
import traceback
import warnings

from .errors import BudgetExceeded, WorkerError

__all__ = ["time_limit", "bounded", "remaining", "run_in_worker", "generous", "budget_scale"]

_deadline: float | None = None       # the innermost active budget of this process (main thread only)
_scale: float = 1.0                  # every budget is multiplied by this (see generous())


def budget_scale() -> float:
    """The factor every budget is multiplied by (1 unless inside :func:`generous`)."""
    return _scale


@contextlib.contextmanager
def generous(factor: float):
    """Multiply every budget started inside the block by ``factor`` (restored on leaving).

    The committed derivation cache is rebuilt this way, so that what users see
    does not depend on how busy the machine that built it was.

    >>> with generous(4):
    ...     budget_scale()
    4.0
    >>> budget_scale()
    1.0
    """
    global _scale
    if not factor >= 1:
        raise ValueError(f"generous() takes a factor >= 1, got {factor!r}")
    old = _scale
    _scale = old * float(factor)
    try:
        yield
    finally:
        _scale = old


def _foreign_timer() -> bool:
    """True when an ITIMER_REAL that no budget of ours set is running."""
    return _deadline is None and signal.getitimer(signal.ITIMER_REAL)[0] > 0


def _can_interrupt() -> bool:
    return (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
            and not _foreign_timer())


def remaining() -> float | None:
    """Seconds left in the innermost active budget, or None when there is none."""
    return None if _deadline is None else _deadline - time.monotonic()


@contextlib.contextmanager
def time_limit(seconds: float, what: str = "symbolic work", *, optional: bool = False):
    """Run the block for at most ``seconds``; raise :class:`BudgetExceeded` after.

    Budgets nest: an inner budget never outlives the outer one, and on leaving it
    the outer one's timer and handler are restored (an outer budget that ran out
    meanwhile fires at once). Where the block cannot be interrupted (outside the
    main thread, without SIGALRM, or while a timer not set here is running) it is
    refused (BudgetExceeded), or, with ``optional=True`` (for steps that are cheap
    on any input the parser accepts), run without a budget.

    >>> with time_limit(5.0):
    ...     with time_limit(1.0):
    ...         pass
    ...     remaining() > 4
    True
    >>> remaining() is None
    True
    """
    global _deadline
    seconds = seconds * _scale
    if not _can_interrupt():
        if optional:
            yield
            return
        why = ("time budgets need the main thread of a Unix process; use run_in_worker"
               if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread()
               else "a timer not set by neurodyn is running")
        raise BudgetExceeded(f"{what}: {why}; skipped")
    now = time.monotonic()
    outer = _deadline
    deadline = now + seconds if outer is None else min(outer, now + seconds)
    if deadline - now <= 0:
        raise BudgetExceeded(f"{what}: no time left in the budget")
    live = [True]              # the handler raises at most once, and never once the block is left

    def _alarm(signum, frame):
        if live[0]:
            live[0] = False
            raise BudgetExceeded(f"{what}: ran out of its {seconds:g} s budget")

    previous = signal.signal(signal.SIGALRM, _alarm)
    _deadline = deadline
    signal.setitimer(signal.ITIMER_REAL, deadline - now)
    try:
        yield
    finally:
        try:
            live[0] = False
        finally:
            _release(_alarm, previous, outer)


def _release(handler, previous, outer) -> None:
    """Leave a budget: disarm its timer and give the outer budget (if any) its own back."""
    global _deadline
    _deadline = outer
    if signal.getsignal(signal.SIGALRM) is not handler:
        return                  # someone replaced our handler (and maybe set a timer): leave theirs alone
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
    if outer is not None:
        # an exhausted outer budget fires at once through its own handler
        signal.setitimer(signal.ITIMER_REAL, max(outer - time.monotonic(), 1e-6))


def bounded(fn, *args, seconds: float, what: str = "symbolic work", **kwargs):
    """Call ``fn(*args, **kwargs)`` within a time budget (see :func:`time_limit`)."""
    with time_limit(seconds, what):
        return fn(*args, **kwargs)


# ----------------------------------------------------------------------------------------
# Worker processes
# ----------------------------------------------------------------------------------------
class _RemoteTraceback(Exception):
    """The worker's traceback, attached as ``__cause__`` of a re-raised exception."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return self.text


def _context():
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _child(conn, fn, args, kwargs, timeout, what) -> None:
    """Body of the worker: run ``fn`` under its own budget, send back ("ok"|"error", payload)."""
    global _deadline
    _deadline = None            # nothing inherited: a forked child has no timers running
    if hasattr(signal, "setitimer"):
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
    try:
        with time_limit(timeout, what, optional=True):
            message = ("ok", fn(*args, **kwargs))
    except BaseException as exc:           # noqa: BLE001 - everything goes back to the caller
        message = ("error", (exc, "".join(traceback.format_exception(exc))))
    try:
        payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.loads(payload)              # an exception class may pickle but not unpickle
    except Exception as exc:               # noqa: BLE001
        if message[0] == "ok":
            detail = f"its result cannot be pickled ({type(exc).__name__}: {exc})"
        else:
            detail = f"{type(message[1][0]).__name__}: {message[1][0]}"
        payload = pickle.dumps(("unpicklable", (detail, message[1][1] if message[0] == "error" else "")))
    conn.send_bytes(payload)
    conn.close()


def run_in_worker(fn, *args, timeout: float, what: str = "symbolic work", **kwargs):
    """``fn(*args, **kwargs)`` in a child process, stopped after ``timeout`` seconds.

    Returns ``fn``'s result (it must pickle). An exception raised by ``fn`` is
    raised again here, same type and message (the worker's traceback is its
    ``__cause__``); one that cannot be pickled becomes :class:`WorkerError`, as
    does a worker that dies without answering. When ``timeout`` passes the worker
    is killed and :class:`BudgetExceeded` is raised. Inside the worker,
    :func:`time_limit` budgets work (it runs ``fn`` in its main thread) and are
    capped by ``timeout``. Callable from any thread; it sets no timer and no
    signal handler in the calling process.

    With the ``fork`` start method ``fn`` may be any callable (a closure, a
    lambda); with ``spawn`` (Windows) it must be picklable.

    >>> run_in_worker(lambda n: sum(range(n)), 10, timeout=30)
    45
    >>> run_in_worker(int, "x", timeout=30)
    Traceback (most recent call last):
    ...
    ValueError: invalid literal for int() with base 10: 'x'
    """
    if not timeout > 0:
        raise BudgetExceeded(f"{what}: no time left in the budget")
    ctx = _context()
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(sender, fn, args, kwargs, timeout, what),
                       name=f"neurodyn worker: {what}")
    start = time.monotonic()
    try:
        with warnings.catch_warnings():
            # Python >= 3.12 warns when a multi-threaded process forks; the child only runs fn
            warnings.filterwarnings("ignore", message=r".*use of fork\(\) may lead to deadlocks",
                                    category=DeprecationWarning)
            try:
                proc.start()
            except (pickle.PicklingError, AttributeError, TypeError) as exc:
                raise WorkerError(f"{what}: the function and its arguments must pickle with the "
                                  f"{ctx.get_start_method()} start method ({exc})") from exc
        sender.close()
        if not receiver.poll(max(timeout - (time.monotonic() - start), 0)):
            raise BudgetExceeded(f"{what}: ran out of its {timeout:g} s budget (worker stopped)")
        try:
            payload = receiver.recv_bytes()
        except EOFError:
            proc.join(1)
            raise WorkerError(f"{what}: the worker process died (exit code {proc.exitcode}) "
                              "without an answer") from None
    finally:
        receiver.close()
        if proc.pid is not None:             # started (spawn may fail to pickle fn first)
            if proc.is_alive():
                proc.kill()
            proc.join()
            proc.close()
    status, value = pickle.loads(payload)       # bytes from our own child only
    if status == "ok":
        return value
    if status == "unpicklable":
        detail, text = value
        raise WorkerError(f"{what}: {detail}") from (_RemoteTraceback(text) if text else None)
    exc, text = value
    raise exc from _RemoteTraceback(text)
