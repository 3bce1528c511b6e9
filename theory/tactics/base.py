"""The tactic framework: what a tactic is, the problem it is given, how tactics are run.

A :class:`Tactic` evaluates ``E[f(u1) g(u2)]`` for a :class:`Problem`: one
input (``u1 = u2 = u ~ N(0, v)``, covariance ``(v, v, v)``) or two inputs
(``(u1, u2) ~ N(0, [[v11, v12], [v12, v22]])``). Every tactic has the same
signature, ``function(problem) -> (value, steps)``, and raises
:class:`TacticFailed` when it does not apply; its description (LaTeX, the
words of a methods section) is written once, in the :class:`Tactic`.
:func:`run_tactics` tries tactics in order, each within a time budget
(:func:`neurodyn.theory.budget.time_limit`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import sympy

from ..budget import time_limit
from ..errors import BudgetExceeded, NeurodynError
from ..expectation import ExpectationResult, Step, UnevaluatedExpectation

__all__ = ["Tactic", "TacticFailed", "Problem", "run_tactics", "tidy", "TACTIC_SECONDS"]

#: Default time budget of one tactic, seconds.
TACTIC_SECONDS = 4.0


class TacticFailed(NeurodynError):
    """A tactic does not apply to (or could not finish) the expectation it was given."""


@dataclass(frozen=True)
class Problem:
    """``E[f(u1) g(u2)]`` as a tactic sees it.

    ``inputs`` is 1 (``u1 = u2 = u ~ N(0, v11)``; then ``v11 == v12 == v22``) or 2.
    ``seconds`` is the budget of one tactic (for tactics that bound inner steps);
    ``one_input`` evaluates a one-input expectation ``E[h(u)]``, ``u ~ N(0, v)``,
    with the non-recursive tactics (Price's theorem uses it at zero covariance).
    """

    f: sympy.Expr
    g: sympy.Expr
    v11: sympy.Expr
    v12: sympy.Expr
    v22: sympy.Expr
    inputs: int
    seconds: float = TACTIC_SECONDS
    one_input: Callable | None = field(default=None, compare=False, repr=False)

    @property
    def v(self) -> sympy.Expr:
        """The variance of a one-input problem."""
        return self.v11

    @property
    def integrand(self) -> sympy.Expr:
        """``f(x) g(x)``: the integrand of a one-input problem."""
        return self.f * self.g

    @property
    def cov(self) -> tuple:
        return (self.v11, self.v12, self.v22)


@dataclass(frozen=True)
class Tactic:
    """A way to evaluate Gaussian expectations in closed form.

    ``description`` (LaTeX) says how it works, once, for docstrings, steps and
    documents; ``inputs`` lists the numbers of inputs it applies to (1, 2 or
    both); ``function(problem) -> (value, steps)`` raises :class:`TacticFailed`
    when it does not apply. An ``exact`` tactic's result needs no numeric check.
    """

    name: str
    description: str
    inputs: frozenset
    function: Callable
    exact: bool = False

    def applies_to(self, problem: Problem) -> bool:
        return problem.inputs in self.inputs

    def __call__(self, problem: Problem):
        return self.function(problem)


def run_tactics(tactics, problem: Problem, verify, unevaluated, *, seconds: float,
                deadline: float | None) -> ExpectationResult:
    """Try ``tactics`` (those that apply to ``problem``) in order, each within its budget.

    A closed form is accepted only after ``verify(value)`` (skipped for an exact
    tactic); the first accepted wins. When none does, the result is ``unevaluated``
    with a note per tactic saying why it failed. Any error inside a tactic or its
    check, the project's own (:class:`~neurodyn.theory.errors.NeurodynError`) or one
    raised inside SymPy on an input it cannot handle, means that the tactic failed,
    never the derivation.
    """
    notes = []
    for tactic in tactics:
        if not tactic.applies_to(problem):
            continue
        name = tactic.name
        budget = seconds if deadline is None else min(seconds, deadline - time.monotonic())
        if budget <= 0.05:
            notes.append(f"{name}: skipped, the derivation's time budget is spent")
            continue
        try:
            with time_limit(budget, f"tactic {name}"):
                value, steps = tactic(problem)
                if not tactic.exact:
                    verify(value)
        except NeurodynError as exc:       # TacticFailed, ClosedFormMismatch, BudgetExceeded, ...
            # the project's own error inside a tactic (e.g. a budget running out in a helper
            # that turns it into an ActivationError) means this tactic failed, not the derivation
            notes.append(f"{name}: {exc}")
            continue
        except Exception as exc:           # noqa: BLE001 - SymPy raises many types on odd input
            notes.append(f"{name}: failed inside SymPy ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")
            continue
        return ExpectationResult(value, True, name, tuple(steps), tuple(notes))
    return ExpectationResult(unevaluated, False, "unevaluated",
                             (Step.text("no tactic found a closed form; the expectation stays unevaluated "
                                        "and is integrated numerically", unevaluated),), tuple(notes))


def _factor_radicands(expr):
    """sqrt(4q^2+4q+1) -> 2q+1 for positive q: factor the bases of fractional powers."""
    return expr.replace(
        lambda e: e.is_Pow and e.exp.is_Rational and not e.exp.is_Integer and e.base.is_Add,
        lambda e: sympy.factor(e.base) ** e.exp)


def tidy(expr, seconds=1.5) -> sympy.Expr:
    """A cheap simplification within a budget (the raw form is kept if time runs out).

    Expressions holding unevaluated expectations are left as they are: simplify
    would fold the piecewise integrands out of the expectation.

    >>> from neurodyn.theory.symbols import q
    >>> tidy(sympy.sqrt(4*q**2 + 4*q + 1))
    2*q + 1
    """
    if expr.has(UnevaluatedExpectation):
        return expr
    expr = _factor_radicands(sympy.expand(expr))
    try:
        with time_limit(seconds, "simplify"):
            out = sympy.simplify(expr)
    except BudgetExceeded:
        return expr
    out = _factor_radicands(out)
    return out if sympy.count_ops(out) <= sympy.count_ops(expr) else expr
