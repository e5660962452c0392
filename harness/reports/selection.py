"""Selection: one patch per task, chosen without the hidden tests (what a leaderboard accepts).

Two selectors:

- ``vote``: majority vote over normalized patches (attempts.patch_hash); empty patches never
  vote. At k it is the expected score over random k-subsets of a task's attempts, ties broken
  uniformly at random. It is exact where that is cheap (k = n, or every non-empty patch of the
  task has the same verdict, so only "is there any non-empty patch" matters); otherwise it is a
  seeded average over random k-subsets (`VOTE_SAMPLES` per task).
- ``first``: the first non-empty attempt. Attempts are exchangeable, so at k the first
  non-empty attempt of a random k-subset is a uniformly random non-empty attempt, present with
  probability pass@k(n, m, k) for m non-empty attempts: exact, (1 - C(n-m,k)/C(n,k)) * c/m.

For an export (one patch per task from all attempts) `pick` is deterministic: vote takes the
largest class, ties to the class that appeared first; first takes the lowest attempt index.

Choosing by test outcome (the oracle) is what solve rate at k measures; it is never a
selection, because it needs the hidden tests.

The other selectors (consensus, regression, behavior, compositions, a user's own by import
path) live in harness/selection; `python -m harness select` stores their choices and
harness.reports.selection_table scores them beside these two.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.reports.metrics import pass_at_k_table
from harness.reports.rundata import TaskOutcomes

SELECTORS = ("vote", "first")
VOTE_SAMPLES = 200
# Names a user may reach for that would choose by the hidden tests.
ORACLE_NAMES = frozenset({"oracle", "best", "resolved", "gold", "any", "tests", "pass", "passk"})


class OracleSelectionError(ValueError):
    """A selection that looks at test outcomes: refused, since a leaderboard's tests are
    hidden at submission time."""


def check_selector(name: str) -> str:
    key = name.strip().lower().replace("@", "").replace("-", "").replace("_", "")
    if key in ORACLE_NAMES:
        raise OracleSelectionError(
            f"--select {name} would choose each task's patch by its test outcome. A "
            "leaderboard's tests are hidden at submission time, so that score (the oracle, "
            "'solve rate at k') is not one a system can achieve; a package built that way "
            f"would be a false claim. Choose one of: {', '.join(SELECTORS)}."
        )
    if name not in SELECTORS:
        raise ValueError(f"unknown selection {name!r}; choose one of: {', '.join(SELECTORS)}")
    return name


def first_at_k(task: TaskOutcomes, ks: Sequence[int]) -> np.ndarray:
    m = task.non_empty
    if m == 0:
        return np.zeros(len(ks))
    present = np.array([pass_at_k_table(task.n, k)[m] for k in ks])
    return present * (task.c / m)


def _cluster_verdicts(task: TaskOutcomes) -> np.ndarray:
    verdicts = np.zeros(int(task.cluster.max()) + 1 if task.n else 1, dtype=bool)
    verdicts[task.cluster] = task.resolved
    verdicts[0] = False
    return verdicts


def _vote_at_n(task: TaskOutcomes) -> float:
    sizes = np.bincount(task.cluster)
    sizes[0] = 0
    if sizes.max() == 0:
        return 0.0
    tied = np.flatnonzero(sizes == sizes.max())
    return float(_cluster_verdicts(task)[tied].mean())


def vote_at_k(
    task: TaskOutcomes,
    ks: Sequence[int],
    rng: np.random.Generator,
    samples: int = VOTE_SAMPLES,
) -> np.ndarray:
    """Expected majority-vote score over random k-subsets, for each k (ascending)."""
    n = task.n
    m = task.non_empty
    if m == 0:
        return np.zeros(len(ks))
    verdicts = _cluster_verdicts(task)
    non_empty_verdicts = verdicts[1 : int(task.cluster.max()) + 1]
    if non_empty_verdicts.all() or not non_empty_verdicts.any():
        value = float(non_empty_verdicts[0])
        return np.array([value * pass_at_k_table(n, k)[m] for k in ks])
    clusters = int(task.cluster.max()) + 1
    order = rng.permuted(np.tile(task.cluster, (samples, 1)), axis=1)
    # Uniform tie-break: a fixed random offset below 1 per (sample, class) never reorders
    # different counts but orders equal ones at random.
    offsets = rng.random((samples, clusters)) * 0.5
    offsets[:, 0] = -np.inf
    counts = np.zeros(samples * clusters)
    base = (np.arange(samples) * clusters)[:, None]
    out = np.empty(len(ks))
    done = 0
    for column, k in enumerate(ks):
        if k == 1:  # one attempt: it wins if it is not empty
            out[column] = task.c / n
            continue
        if k == n:
            out[column] = _vote_at_n(task)
            continue
        counts += np.bincount(
            (base + order[:, done:k]).ravel(), minlength=samples * clusters
        )
        done = k
        table = counts.reshape(samples, clusters)
        winner = (table + offsets).argmax(axis=1)
        voted = table[:, 1:].sum(axis=1) > 0
        out[column] = float((verdicts[winner] & voted).mean())
    return out


def selection_matrix(
    tasks: Sequence[TaskOutcomes],
    ks: Sequence[int],
    method: str,
    seed: int = 0,
    samples: int = VOTE_SAMPLES,
) -> np.ndarray:
    """Per-task selection score (rows) at each k (columns, ascending)."""
    check_selector(method)
    ks = list(ks)
    if ks != sorted(ks):
        raise ValueError("ks must be ascending")
    rng = np.random.default_rng(seed)
    rows = []
    for task in tasks:
        if method == "first":
            rows.append(first_at_k(task, ks))
        else:
            rows.append(vote_at_k(task, ks, rng, samples))
    return np.array(rows).reshape(len(tasks), len(ks))


def pick(task: TaskOutcomes, method: str) -> int | None:
    """The position (in the task's counted attempts) of the one patch to submit, or None when
    every attempt's patch is empty."""
    check_selector(method)
    if task.non_empty == 0:
        return None
    if method == "first":
        return int(np.flatnonzero(task.cluster > 0)[0])
    sizes = np.bincount(task.cluster)
    sizes[0] = 0
    tied = set(np.flatnonzero(sizes == sizes.max()).tolist())
    # Among tied classes, the one that appeared first.
    return next(i for i, c in enumerate(task.cluster.tolist()) if c in tied)


def vote_tally(task: TaskOutcomes) -> list[int]:
    """Sizes of the non-empty patch classes, largest first (what the vote saw)."""
    sizes = np.bincount(task.cluster)[1:]
    return sorted((int(s) for s in sizes if s), reverse=True)
