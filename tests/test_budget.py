"""Bounded symbolic work: worker processes from any thread, SIGALRM budgets that respect others' timers."""

import os
import pickle
import signal
import threading
import time

import pytest
import sympy

from neurodyn.theory.budget import remaining, run_in_worker, time_limit
from neurodyn.theory.errors import ActivationError, BudgetExceeded, WorkerError


def _spin(seconds_inside):
    """Busy pure-Python work under an inner SIGALRM budget; says whether the budget stopped it."""
    try:
        with time_limit(seconds_inside, "spin"):
            while True:
                pass
    except BudgetExceeded:
        return "stopped"


def _in_thread(fn):
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:     # noqa: BLE001 - handed to the test
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_worker_from_a_thread_runs_symbolic_work_with_working_budgets():
    x = sympy.Symbol("x")

    def work():
        with time_limit(10, "integral"):
            value = sympy.integrate(sympy.exp(-x**2), (x, -sympy.oo, sympy.oo))
        return value, _spin(0.2)

    assert threading.current_thread() is threading.main_thread()
    value, spun = _in_thread(lambda: run_in_worker(work, timeout=30, what="test"))
    assert value == sympy.sqrt(sympy.pi)
    assert spun == "stopped"


def test_worker_returns_result_and_takes_closures_and_kwargs():
    offset = 5
    assert run_in_worker(lambda a, b=0: a + b + offset, 1, b=2, timeout=30) == 8


def test_hanging_worker_is_stopped_after_its_timeout():
    started = time.monotonic()
    with pytest.raises(BudgetExceeded, match="hang.*0.5 s"):
        run_in_worker(time.sleep, 60, timeout=0.5, what="hang")
    assert time.monotonic() - started < 3


def test_hanging_worker_is_stopped_from_a_thread_too():
    def spin_forever():
        while True:
            pass

    started = time.monotonic()
    with pytest.raises(BudgetExceeded):
        _in_thread(lambda: run_in_worker(spin_forever, timeout=0.5))
    assert time.monotonic() - started < 3


def test_worker_exceptions_come_back_with_their_type():
    def bad():
        raise ActivationError("no such activation")

    with pytest.raises(ActivationError, match="no such activation") as info:
        run_in_worker(bad, timeout=30)
    assert "bad" in str(info.value.__cause__)          # the worker's traceback
    with pytest.raises(ZeroDivisionError):
        run_in_worker(lambda: 1 / 0, timeout=30)


def test_unpicklable_exception_or_result_and_dying_worker_are_worker_errors():
    class Local(Exception):
        pass

    def raise_local():
        raise Local("local class")

    with pytest.raises(WorkerError, match="Local: local class"):
        run_in_worker(raise_local, timeout=30)
    with pytest.raises(WorkerError, match="cannot be pickled"):
        run_in_worker(lambda: (lambda: 1), timeout=30)
    with pytest.raises(WorkerError, match="died"):
        run_in_worker(os._exit, 3, timeout=30)


def test_worker_leaves_callers_timer_and_handler_alone():
    fired = []

    def handler(signum, frame):
        fired.append(signum)

    old = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 30)
        run_in_worker(_spin, 0.1, timeout=30)
        left = signal.getitimer(signal.ITIMER_REAL)[0]
        assert 20 < left <= 30
        assert signal.getsignal(signal.SIGALRM) is handler
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert not fired


def test_time_limit_never_cancels_a_callers_itimer():
    fired = []

    def handler(signum, frame):
        fired.append(signum)

    old = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.4)
        with pytest.raises(BudgetExceeded, match="timer not set by neurodyn"):
            with time_limit(5, "inner"):
                pass
        with time_limit(5, "cheap step", optional=True):     # runs, unbounded, timer untouched
            pass
        assert signal.getsignal(signal.SIGALRM) is handler
        assert 0 < signal.getitimer(signal.ITIMER_REAL)[0] <= 0.4
        time.sleep(0.6)
        assert fired == [signal.SIGALRM]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_nested_budgets_restore_the_outer_deadline_and_timer():
    before = signal.getsignal(signal.SIGALRM)
    with time_limit(20, "outer"):
        outer_left = remaining()
        with time_limit(1, "inner"):
            assert remaining() <= 1
        assert abs(remaining() - outer_left) < 0.5
        assert signal.getitimer(signal.ITIMER_REAL)[0] > 15      # the outer timer is armed again
        assert _spin(0.1) == "stopped"                          # an inner budget that runs out
        assert abs(remaining() - outer_left) < 1
        assert signal.getitimer(signal.ITIMER_REAL)[0] > 15
    assert remaining() is None
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0
    assert signal.getsignal(signal.SIGALRM) is before


def test_outer_budget_that_ran_out_inside_an_inner_one_fires():
    started = time.monotonic()
    with pytest.raises(BudgetExceeded, match="outer"):
        with time_limit(0.3, "outer"):
            with time_limit(5, "inner"):          # capped by the outer budget
                while True:
                    pass
    assert time.monotonic() - started < 2
    assert remaining() is None
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0


def test_alarm_after_the_block_leaves_no_stale_deadline():
    """An alarm that arrives once the block is done (here: simulated by firing the handler
    during the release) must neither raise nor leave the budget's deadline behind."""
    with time_limit(10, "outer"):
        with time_limit(5, "inner"):
            handler = signal.getsignal(signal.SIGALRM)
        handler(signal.SIGALRM, None)        # the inner budget's handler, late: a no-op now
        assert remaining() > 5               # the outer deadline, not the inner one
    assert remaining() is None


def test_time_limit_off_the_main_thread_is_refused_not_silent():
    def attempt():
        with time_limit(1, "tactic"):
            return "ran"

    with pytest.raises(BudgetExceeded, match="run_in_worker"):
        _in_thread(attempt)


def test_laws_pickle_through_a_worker():
    from neurodyn.theory import catalog, derive

    laws = run_in_worker(lambda: derive(catalog.get("erf")), timeout=60, what="derive erf")
    again = pickle.loads(pickle.dumps(laws))
    assert again.chi_1.expr == laws.chi_1.expr
    assert laws.chi_1.closed


def test_the_module_has_no_active_budget_after_the_tests():
    assert remaining() is None


def test_derive_relu_through_a_worker_from_a_thread_keeps_its_closed_forms():
    """On a thread, in-process SIGALRM budgets refuse every tactic; a worker process does not."""
    from neurodyn.theory import catalog, derive

    relu = catalog.get("relu")
    laws = _in_thread(lambda: run_in_worker(derive, relu, timeout=120, what="derive relu"))
    assert laws.q_map.closed and laws.chi_1.closed and laws.c_map.closed


def test_spawn_start_method_runs_picklable_functions(monkeypatch):
    """Where fork is missing (Windows) workers are spawned: fn must pickle, and says so if not."""
    import multiprocessing

    from neurodyn.theory import budget

    monkeypatch.setattr(budget, "_context", lambda: multiprocessing.get_context("spawn"))
    assert run_in_worker(pow, 2, 5, timeout=60) == 32
    with pytest.raises(WorkerError, match="must pickle"):
        run_in_worker(lambda: 1, timeout=60)
