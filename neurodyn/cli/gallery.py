"""``neurodyn gallery``: regenerate ``derivations/``, a derivation document per built-in activation."""

from __future__ import annotations

import time

from neurodyn.reports.gallery import gallery


def run(args, out) -> int:
    start = time.monotonic()
    rows = gallery(args.output)
    for laws in rows:
        closed = [law.name for law in laws if law.defined and law.closed]
        left = [law.name for law in laws if law.defined and not law.closed]
        print(f"{laws.activation.name:12s} closed form: {', '.join(closed) or 'none'}; "
              f"Gaussian integrals: {', '.join(left) or 'none'}", file=out)
    print(f"wrote {len(rows)} documents and README.md to {args.output} in {time.monotonic() - start:.1f} s",
          file=out)
    return 0


def register(sub) -> None:
    p = sub.add_parser("gallery", help="regenerate derivations/: a document per built-in activation")
    p.add_argument("-o", "--output", default="derivations", help="folder (default: derivations)")
    p.set_defaults(run=run, parser=p)
