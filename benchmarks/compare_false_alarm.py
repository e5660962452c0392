"""False alarms and power of `compare`, on runs of known behaviour.

Identical behaviour: both runs are drawn from the same per-task success rates; any verdict
but "no detectable change" (or "too few tasks or attempts") is a false alarm. Goal: at most
alpha. Power: the candidate's per-attempt success drops by 20 points on every task of a
demo-sized subset (13 tasks); the share of pairs called "regressed".

    PYTHONPATH=. python benchmarks/compare_false_alarm.py [--pairs 400]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

# Run the package of this checkout, not whichever one is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from harness.reports.compare import REGRESSED, TOO_FEW
from harness.reports.gate_calibration import gate_rates


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=400)
    parser.add_argument("--alpha", type=float, default=0.05)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    demo = list(rng.uniform(0.3, 0.8, 13))
    cases = [
        ("3 tasks, k=10 (the issue's case)", [0.2, 0.5, 0.8], 10, 10),
        ("3 tasks, k=1 of 10", [0.2, 0.5, 0.8], 10, 1),
        ("1 task, k=10", [0.4], 10, 10),
        ("13 tasks (demo size), k=1 of 10", demo, 10, 1),
        ("40 tasks, k=5 of 5", list(rng.uniform(0.0, 1.0, 40)), 5, 5),
    ]
    print(f"false alarms on runs of identical behaviour, alpha {args.alpha}, "
          f"{args.pairs} pairs each")
    for test in ("permutation", "bootstrap"):
        for label, rates, attempts, k in cases:
            started = time.monotonic()
            result = gate_rates(rates, rates, attempts, k, args.pairs, args.alpha, seed=1,
                                test=test)
            print(f"  {test:<11} {label:<34} false alarms {result.alarms:>3}/{result.pairs}"
                  f" = {result.alarms / result.pairs:.3f}  (ratio to alpha "
                  f"{result.alarms / result.pairs / args.alpha:.2f}); refused as too few: "
                  f"{result.verdicts[TOO_FEW]}  [{time.monotonic() - started:.1f} s]")
    dropped = [max(0.0, rate - 0.2) for rate in demo]
    for k in (1, 5):
        result = gate_rates(demo, dropped, 10, k, args.pairs, args.alpha, seed=2)
        print(f"power: a 20-point per-attempt drop on 13 demo-sized tasks, 10 attempts, k={k}:"
              f" regressed in {result.verdicts[REGRESSED]}/{result.pairs} = "
              f"{result.share(REGRESSED):.3f}")


if __name__ == "__main__":
    main()
