"""``neurodyn list``: the built-in activations and their parameters."""

from __future__ import annotations

from neurodyn.theory import catalog


def run(args, out) -> int:
    for name in catalog.names():
        entry = catalog.ENTRIES[name]
        print(f"{catalog.describe(name):55s} {entry.summary}", file=out)
    return 0


def register(sub) -> None:
    p = sub.add_parser("list", help="list the built-in activations")
    p.set_defaults(run=run, parser=p)
