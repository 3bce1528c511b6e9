"""``neurodyn cache``: the committed derivation cache of the catalogue.

The catalogue's derived laws ship with the package (``theory/derived_laws/``),
so that ``derive tanh`` and the gallery are instant and the same on every
machine. Any change to the derivation code (a ``theory/*.py`` file) makes them
stale: ``--check`` says so (exit 1), ``--rebuild`` derives them afresh, each in a
worker process with generous time budgets.
"""

from __future__ import annotations

import sys

from neurodyn.theory import cache, catalog

from .options import UsageError


def run(args, out) -> int:
    if args.check:
        if args.names:
            raise UsageError("--check takes no names")
        from neurodyn.numerics.compile import program_checks
        problems = cache.check(program_checks())
        if problems:
            print(f"neurodyn: error: derivation cache: {len(problems)} problem(s): {'; '.join(problems)}; "
                  "run `neurodyn cache --rebuild`", file=sys.stderr)
            return 1
        print(f"derivation cache: every catalogue entry is fresh ({cache.PACKAGE_DIR})", file=out)
        return 0
    cache.rebuild(args.names or None, out=out)
    from neurodyn.numerics.compile import store_program         # the generated source of each entry's laws
    for name in args.names or catalog.names():
        store_program(name)
    return 0


def register(sub) -> None:
    p = sub.add_parser("cache", help="check or rebuild the committed derivation cache of the catalogue")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--rebuild", action="store_true", help="derive the catalogue entries afresh")
    mode.add_argument("--check", action="store_true", help="exit 1 when an entry is stale or missing")
    p.add_argument("names", nargs="*", help="catalogue names to rebuild (default: all)")
    p.set_defaults(run=run, parser=p)
