r"""How each law is written: its left-hand side in plain text and in LaTeX.

The law registry (:mod:`neurodyn.theory.laws`) records every law's notation
here when the law is registered, so that printing (:mod:`neurodyn.theory.latex`)
needs no knowledge of how laws are derived.

>>> Notation("V(q)", r"V(q)").tex
'V(q)'
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Notation", "LAW_NOTATION", "register_notation", "notation_of", "GROUP_TITLES", "group_title"]


@dataclass(frozen=True)
class Notation:
    """A law's left-hand side: ``text`` (plain, e.g. ``chi_1(q)``) and ``tex`` (``\\chi_1(q)``)."""

    text: str
    tex: str


#: Notation of every registered law, by law name (filled by the law registry).
LAW_NOTATION: dict = {}


def register_notation(name: str, notation: Notation) -> None:
    """Record the notation of the law ``name`` (replacing an earlier one)."""
    LAW_NOTATION[name] = notation


def notation_of(name: str) -> Notation | None:
    """The notation of the law ``name``, or None when no such law is registered."""
    return LAW_NOTATION.get(name)


#: What each group of laws (``neurodyn.theory.laws.LAW_GROUPS``) is called in headings.
GROUP_TITLES = {
    "single-input": "The laws of one input",
    "two-input": "The laws of two inputs",
    "geometry": "The geometry of the signal manifold",
}


def group_title(group: str) -> str:
    """The heading of the group of laws ``group`` (any group has one).

    >>> group_title("two-input"), group_title("finite-width")
    ('The laws of two inputs', 'Finite width')
    """
    return GROUP_TITLES.get(group, group.replace("-", " ").capitalize())
