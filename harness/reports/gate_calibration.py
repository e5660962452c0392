"""How often `compare` cries wolf, and how often it catches a real drop: runs simulated from
known per-task success rates (a seeded stand-in for an agent whose behaviour is fixed), so
the truth is known and the verdicts can be counted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.reports.compare import IMPROVED, REGRESSED, compare_runs
from harness.reports.rundata import RunData, TaskOutcomes


def simulated_run(name: str, rates: Sequence[float], attempts: int,
                  rng: np.random.Generator) -> RunData:
    """A run whose task i resolves each attempt with probability rates[i], independently."""
    tasks = []
    for number, rate in enumerate(rates):
        resolved = rng.random(attempts) < rate
        tasks.append(TaskOutcomes(
            instance_id=f"sim__task-{number}", repo="sim/task", resolved=resolved,
            cluster=np.where(resolved, 1, 0), dollars=np.zeros(attempts),
        ))
    return RunData(name=name, agent="simulated", k_requested=attempts, tasks=tasks)


@dataclass
class GateRates:
    pairs: int
    verdicts: Counter

    @property
    def alarms(self) -> int:
        return self.verdicts[REGRESSED] + self.verdicts[IMPROVED]

    def share(self, verdict: str) -> float:
        return self.verdicts[verdict] / self.pairs


def gate_rates(
    baseline_rates: Sequence[float], candidate_rates: Sequence[float], attempts: int,
    k: int, pairs: int, alpha: float = 0.05, seed: int = 0, samples: int = 2000,
    test: str = "permutation",
) -> GateRates:
    """Verdicts over `pairs` independent (baseline, candidate) run pairs."""
    rng = np.random.default_rng(seed)
    verdicts: Counter = Counter()
    for pair in range(pairs):
        base = simulated_run("base", baseline_rates, attempts, rng)
        cand = simulated_run("cand", candidate_rates, attempts, rng)
        result = compare_runs(base, cand, k=k, alpha=alpha, samples=samples, seed=pair,
                              test=test)
        verdicts[result.verdict] += 1
    return GateRates(pairs, verdicts)
