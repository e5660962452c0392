"""Solve rate at k and dollars at k, from per-task attempt counts.

Solve rate at k is coverage (oracle pass@k): the chance that at least one of k attempts drawn
without replacement from a task's n attempts is correct, 1 - C(n-c, k) / C(n, k) (Chen et al.
2021), averaged over tasks. It is reported only for k <= n.
"""

from __future__ import annotations

from collections.abc import Sequence

STANDARD_KS = (1, 2, 5, 10, 25, 50, 100, 250)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate for one task with n attempts of which c are correct."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    # The product form avoids the huge binomials of n = 250.
    miss = 1.0
    for i in range(n - c + 1, n + 1):
        miss *= 1.0 - k / i
    return 1.0 - miss


def ks_for(max_n: int, ks: Sequence[int] = STANDARD_KS) -> list[int]:
    chosen = [k for k in ks if k <= max_n]
    if max_n >= 1 and max_n not in chosen and max_n > (chosen[-1] if chosen else 0):
        chosen.append(max_n)
    return chosen


# --- vectorized forms, for reports over many tasks and many k ---------------------------------


def pass_at_k_table(n: int, k: int):
    """pass@k for one n and every c in 0..n at once, as a numpy array indexed by c.

    Same product as `pass_at_k`: the chance of no correct attempt among k is
    prod_{i=n-c+1}^{n} (1 - k/i); the factor for i = k is zero, so once c > n - k the
    product stays zero and pass@k is exactly 1.
    """
    import numpy as np

    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
    factors = 1.0 - k / np.arange(n, 0, -1, dtype=float)
    miss = np.concatenate(([1.0], np.cumprod(factors)))
    miss[n - k + 1 :] = 0.0
    return 1.0 - miss


def pass_at_k_matrix(ns, cs, ks: Sequence[int]):
    """pass@k per task (rows) and per k (columns); every k must be <= every task's n."""
    import numpy as np

    ns = np.asarray(ns, dtype=int)
    cs = np.asarray(cs, dtype=int)
    result = np.empty((len(ns), len(ks)), dtype=float)
    for n in np.unique(ns):
        rows = ns == n
        for column, k in enumerate(ks):
            result[rows, column] = pass_at_k_table(int(n), k)[cs[rows]]
    return result


def bootstrap_means(values, samples: int = 1000, seed: int = 0):
    """Means of `values` (tasks x columns) over `samples` resamples of the tasks with
    replacement: an array samples x columns. Resampling is done as multinomial weights, so
    memory stays samples x tasks whatever the number of columns."""
    import numpy as np

    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    size = values.shape[0]
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(size, np.full(size, 1.0 / size), size=samples)
    return weights @ values / size


def percentile_interval(draws, level: float = 0.95):
    """Two-sided percentile interval along the first axis of bootstrap draws."""
    import numpy as np

    tail = (1.0 - level) / 2
    return np.quantile(draws, tail, axis=0), np.quantile(draws, 1.0 - tail, axis=0)
