"""Benchmark of issue 9's start-up goal: a whole ``neurodyn`` process against the naive script.

Runs, as separate processes, alternately (so that both see the same machine load):

* ``neurodyn fixed-point tanh --sigma-w2 2.25 --sigma-b2 0.05 --dps 50 --single-input``
  (``python -m neurodyn ...`` with this interpreter);
* ``python benchmarks/naive_fixed_point.py`` (``mp.quad`` on the real line + secant
  ``findroot`` at 55 digits).

Prints the wall and the CPU (user + sys) time of each, min and median over the
repeats, and the ratios naive / neurodyn (the goal is >= 2). Both printed q* must
agree to their 50 digits, or the benchmark fails. One untimed run of each comes
first (it also writes the user-cache program when the committed one is stale).

Run: ``python benchmarks/bench_startup.py [--repeat N]``
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENGINE = [sys.executable, "-m", "neurodyn", "fixed-point", "tanh", "--sigma-w2", "2.25", "--sigma-b2", "0.05",
          "--dps", "50", "--single-input"]
NAIVE = [sys.executable, str(HERE / "naive_fixed_point.py")]


def run(cmd):
    """(wall seconds, CPU seconds of the child, stdout) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=os.environ.copy())
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def q_star(text: str) -> str:
    match = re.search(r"q_star\s*=\s*([0-9.]+)", text) or re.fullmatch(r"\s*([0-9.]+)\s*", text)
    if match is None:
        raise SystemExit(f"no q* in the output:\n{text}")
    return match.group(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    engine_q, naive_q = q_star(run(ENGINE)[2]), q_star(run(NAIVE)[2])
    if engine_q[:52] != naive_q[:52]:
        raise SystemExit(f"the two q* disagree: {engine_q} vs {naive_q}")
    times = {"neurodyn": [], "naive": []}
    for _ in range(args.repeat):
        times["neurodyn"].append(run(ENGINE)[:2])
        times["naive"].append(run(NAIVE)[:2])
    print(f"q* = {engine_q} (both)   load average {os.getloadavg()[0]:.2f}, {args.repeat} repeats")
    stats = {}
    for name, rows in times.items():
        walls, cpus = [r[0] for r in rows], [r[1] for r in rows]
        stats[name] = (min(walls), statistics.median(walls), min(cpus), statistics.median(cpus))
        print(f"{name:9s} wall min {stats[name][0]:.3f} s  median {stats[name][1]:.3f} s   "
              f"CPU min {stats[name][2]:.3f} s  median {stats[name][3]:.3f} s")
    ratio = [stats["naive"][i] / stats["neurodyn"][i] for i in range(4)]
    print(f"ratio naive/neurodyn: wall min {ratio[0]:.2f}  median {ratio[1]:.2f}   "
          f"CPU min {ratio[2]:.2f}  median {ratio[3]:.2f}   (goal >= 2)")


if __name__ == "__main__":
    main()
