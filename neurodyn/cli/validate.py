"""``neurodyn validate``: seeded finite random networks against the theory, layer by layer and width by width.

For each width in ``--widths``, ``--networks`` independent networks of depth ``--depth``
are drawn with the exact kernel-chain sampler (docs/finite_width.md §4.2, samplers A and B;
:func:`neurodyn.numerics.montecarlo.validate_networks`). Layer 1 is the input layer: a pair
of inputs of squared length ``--q0`` and correlation ``--c0`` on a great circle. Per layer and
width it prints theory against measurement, with the standard error and the z-score, for
``q``, ``c``, ``chi_1`` (of the layer), ``metric``, ``Hsq`` (the curvature of the image of the
circle) and the curve ``length``. Then, per quantity and layer, the weighted fit of the
mean offset to ``coef/n`` across widths, beside the 1/n theory's prediction (null where
there is none).

JSON (``--json``): ``{"rows": [{"l", "width", "quantity", "theory", "mean", "stderr", "z",
"theory_1n"}], "fits": [{"quantity", "l", "coef_1n", "coef_1n_err", "predicted"}]}``.
"""

from __future__ import annotations

import json
import math

from neurodyn.numerics import compile_laws
from neurodyn.numerics.montecarlo import VALIDATE_QUANTITIES, validate_networks
from neurodyn.theory import derive

from .iterate import integer_option
from .options import activation_from, add_activation, add_variances, variance

__all__ = ["DEFAULT_WIDTHS", "DEFAULT_NETWORKS"]

DEFAULT_WIDTHS = "50,200,800"
#: About 20 s on one core at the default widths and depth 12.
DEFAULT_NETWORKS = 10000


def _widths(text: str) -> list[int]:
    parts = [p.strip() for p in str(text).split(",")]
    try:
        widths = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"--widths takes integers >= 2 separated by commas, got {text!r}") from None
    if min(widths) < 2:
        raise ValueError(f"--widths must be integers >= 2, got {text}")
    if len(set(widths)) != len(widths):
        raise ValueError(f"--widths has a repeated width: {text}")
    return widths


def _real(flag: str, text, low: float, high: float = math.inf, open_low: bool = False) -> float:
    """A finite number in ``[low, high]`` (``(low, high]`` with ``open_low``) given to ``flag``."""
    need = f"a finite number {'>' if open_low else '>='} {low:g}" + (f" and <= {high:g}" if high < math.inf else "")
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{flag} must be {need}, got {text!r}") from None
    if not math.isfinite(value) or value < low or (open_low and value == low) or value > high:
        raise ValueError(f"{flag} must be {need}, got {text}")
    return value


def _quantities(text: str) -> tuple:
    names = tuple(p.strip() for p in str(text).split(",") if p.strip())
    bad = [n for n in names if n not in VALIDATE_QUANTITIES]
    if bad or not names:
        raise ValueError(f"--quantities takes some of {','.join(VALIDATE_QUANTITIES)}, got {text!r}")
    return names


def run(args, out) -> int:
    act = activation_from(args)
    sw2, sb2 = variance(args, "w"), variance(args, "b")
    widths = _widths(args.widths)
    depth = integer_option("--depth", args.depth)
    networks = integer_option("--networks", args.networks, lowest=2)
    seed = integer_option("--seed", args.seed, lowest=0)
    bootstrap = integer_option("--bootstrap", args.bootstrap, lowest=0)
    q0 = _real("--q0", args.q0, 0.0, open_low=True)
    c0 = _real("--c0", args.c0, -1.0, 1.0)
    quantities = _quantities(args.quantities)
    w2 = _real("--sigma-w2", sw2, 0.0, open_low=True)
    b2 = _real("--sigma-b2", sb2, 0.0)
    f = compile_laws(derive(act))
    result = validate_networks(f, w2, b2, widths=widths, depth=depth, networks=networks, q0=q0,
                               c0=c0, seed=seed, quantities=quantities, bootstrap=bootstrap)
    if args.json:
        json.dump(result.to_json(), out, indent=1)
        print(file=out)
    else:
        print(result, file=out)
    out.flush()
    return 0


def register(sub) -> None:
    p = sub.add_parser("validate", help="seeded finite networks against the theory, with 1/n fits across widths")
    add_activation(p)
    add_variances(p)
    p.add_argument("--widths", default=DEFAULT_WIDTHS, help=f"widths, comma-separated, each >= 2 "
                                                            f"(default {DEFAULT_WIDTHS})")
    p.add_argument("--depth", default="12", help="number of layers, layer 1 being the input layer (default 12)")
    p.add_argument("--networks", default=str(DEFAULT_NETWORKS),
                   help=f"independent networks per width, >= 2 (default {DEFAULT_NETWORKS})")
    p.add_argument("--seed", default="0", help="seed of the random numbers (default 0)")
    p.add_argument("--q0", default="1", help="squared length per neuron of the inputs at layer 1, > 0 (default 1)")
    p.add_argument("--c0", default="0.9", help="correlation of the pair of inputs at layer 1, in [-1, 1] (default 0.9)")
    p.add_argument("--quantities", default=",".join(VALIDATE_QUANTITIES),
                   help=f"which quantities, comma-separated (default {','.join(VALIDATE_QUANTITIES)}; "
                        "Hsq needs a smooth activation)")
    p.add_argument("--bootstrap", default="0", help="bootstrap resamples for extra error bars (default 0: none)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run, parser=p)
