"""Benchmark: finite-network simulator throughput against a plain numpy matmul of the same shapes.

Three fractions, each ``time(plain matmul) / time(simulator)`` for the same networks, widths,
depth and columns, timed interleaved in the same process (median of ``--repeat`` runs):

* **kernel chain vs direct matmul** (issue 12's target, >= 50%): the kernel chain
  (:func:`neurodyn.numerics.montecarlo.kernel_chain`, samplers A and B of docs/finite_width.md
  §4.2, estimators included) against only the matrix products a direct forward pass of the
  same networks needs, ``(n x n) @ (n x k)`` per network and layer (weights not even drawn);
* **kernel chain vs its own matmuls**: against the chain's own batched products
  ``(B, n, k) @ (B, k, k)`` and ``(B, k, n) @ (B, n, k)`` per layer: how much of the chain's
  time is overhead beyond its linear algebra (random numbers, activations, estimators);
* **jets sampler (explicit weights) vs its matmul**: :func:`simulate_jets` with
  ``method="weights"`` against ``W @ X`` of its shapes alone.

Run: ``python benchmarks/bench_montecarlo.py [--repeat N]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from neurodyn.numerics.montecarlo import CHAIN_BLOCK, chain_columns, kernel_chain, simulate_jets
from neurodyn.theory import catalog

SW2, SB2 = 6.25, 0.09


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def chain_case(act, n, depth, networks, k_pair_curve):
    pair, curve = k_pair_curve
    k = len(chain_columns(pair, curve))
    rng = np.random.default_rng(0)
    stack = max(1, min(networks, 2**21 // (n * n)))       # networks per batched direct product
    W = rng.standard_normal((stack, n, n))
    X = rng.standard_normal((stack, n, k))
    B = max(1, CHAIN_BLOCK // (n * k))
    Z = rng.standard_normal((B, n, k))
    R = rng.standard_normal((B, k, k))
    batches = -(-networks // B)

    def sim():
        kernel_chain(act, SW2, SB2, q0=1.0, c0=0.9 if pair else None, depth=depth, width=n, networks=networks,
                     seed=1, curve=curve, progress=False)

    def direct():                      # the products of a direct forward pass: networks x (depth - 1) layers,
        out = np.empty((stack, n, k))  # batched over networks as one numpy matmul
        for _ in range(-(-networks // stack) * (depth - 1)):
            np.matmul(W, X, out=out)

    def own():                         # the chain's own batched products, same batches and layers
        for _ in range(batches * depth):
            z = np.matmul(Z, R)
            np.matmul(z.transpose(0, 2, 1), z)

    return k, sim, direct, own


def jets_case(act, n, depth, networks):
    rng = np.random.default_rng(0)
    W = rng.standard_normal((n, n))
    X = rng.standard_normal((n, 4))    # the sampler's columns at dim 1: h, J, H, h2

    def sim():
        simulate_jets(act, SW2, SB2, q0=1.0, layers=depth, width=n, networks=networks, seed=1, method="weights")

    def plain():
        out = np.empty((n, 4))
        for _ in range(networks * depth):
            np.matmul(W, X, out=out)

    return sim, plain


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    act = catalog.get("tanh")
    print(f"tanh, sigma_w2={SW2}, sigma_b2={SB2}; fraction = time(plain matmul) / time(simulator), "
          f"median of {args.repeat}")
    worst = []
    for n, depth, networks in ((50, 12, 4000), (200, 12, 1000), (800, 12, 250)):
        for pair_curve in ((False, False), (True, True)):
            k, sim, direct, own = chain_case(act, n, depth, networks, pair_curve)
            ts, td, to = [], [], []
            for _ in range(args.repeat):          # interleaved, same process
                ts.append(timed(sim))
                td.append(timed(direct))
                to.append(timed(own))
            s, d, o = (statistics.median(t) for t in (ts, td, to))
            worst.append(d / s)
            rate = networks * n * depth / s
            print(f"  kernel chain  n={n:<4} k={k} depth={depth} networks={networks:<5}: {s:7.3f} s "
                  f"({rate:.3g} neuron-layers/s); vs direct matmul {100 * d / s:6.0f}%, "
                  f"vs own matmuls {100 * o / s:4.0f}%")
    for n, depth, networks in ((200, 6, 40), (800, 6, 10)):
        sim, plain = jets_case(act, n, depth, networks)
        ts, tp = [], []
        for _ in range(args.repeat):
            ts.append(timed(sim))
            tp.append(timed(plain))
        s, p = statistics.median(ts), statistics.median(tp)
        print(f"  jets, weights n={n:<4} depth={depth} networks={networks:<5}: {s:7.3f} s; vs its matmul W @ X "
              f"{100 * p / s:5.1f}%  (bound by drawing the n^2 weights)")
    print(f"  kernel chain vs direct matmul, smallest fraction: {100 * min(worst):.0f}% (target >= 50%)")


if __name__ == "__main__":
    main()
