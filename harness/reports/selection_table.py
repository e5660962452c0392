"""The selection table: each stored selector's solve rate at k beside the oracle, the share of
the gap it recovers and what it cost, computed from the store alone.

At k = n a selector scores the verdict of the patch it stored as its choice. At k < n it scores
the expected verdict of what it would choose from a random k-subset of the task's attempts: its
`narrow` (pure) re-run on the subset's pool with the evidence stored at n (every k-subset when
there are at most `samples` of them, else `samples` seeded random ones), as `vote` is measured.
A selector whose decision is not exact on subsets (`exact_at_subsets = False`) is shown at k = n
only. Verdicts are read here, by the report, never by a selector.

gap share = (selector - mean single attempt) / (oracle - mean single attempt), at each k; the
mean single attempt is the solve rate at k = 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from harness.reports.metrics import bootstrap_means, pass_at_k_matrix, percentile_interval
from harness.reports.rundata import EMPTY_PATCH_HASH, RunData, TaskOutcomes
from harness.reports.selection import VOTE_SAMPLES, selection_matrix
from harness.selection.base import CandidateView, Chain, Pool, SelectionError
from harness.selection.registry import build_selector
from harness.store import Store


@dataclass
class SelectorLine:
    name: str
    rate: list[float]  # at each k (NaN where not measured)
    low: list[float]
    high: list[float]
    gap_share: list[float]
    test_seconds: float = 0.0  # test time the selection's evidence rests on, all tasks
    dollars: float = 0.0
    tasks_selected: int = 0
    errors: int = 0


@dataclass
class SelectionTable:
    run: str
    ks: list[int]
    tasks: int
    oracle: list[float]
    mean_single: float
    lines: list[SelectorLine] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _pool(task: TaskOutcomes, hashes: dict[int, str], patches: dict[str, str]) -> Pool:
    grouped: dict[str, list[int]] = {}
    for position, attempt_id in enumerate(task.attempt_ids):
        digest = hashes.get(attempt_id, EMPTY_PATCH_HASH)
        if digest == EMPTY_PATCH_HASH:
            continue
        grouped.setdefault(digest, []).append(position)
    return Pool(tuple(
        CandidateView(digest, patches.get(digest, ""), tuple(positions))
        for digest, positions in grouped.items()
    ))


def _subsets(n: int, k: int, samples: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    # Every subset when there are no more of them than attempts either (k = 1, k = n - 1): a
    # sample of 200 of 250 single attempts would put noise where the answer is exact.
    if math.comb(n, k) <= max(samples, n):
        return list(combinations(range(n), k))
    return [tuple(rng.choice(n, size=k, replace=False)) for _ in range(samples)]


def selector_matrix(
    chain: Chain, tasks: list[TaskOutcomes], ks: list[int], stored: dict, hashes: dict[int, str],
    patches: dict[str, str], seed: int = 0, samples: int = VOTE_SAMPLES,
) -> np.ndarray:
    """Per-task score (rows) at each k (columns); NaN at k < n when the chain is not exact
    on subsets."""
    rng = np.random.default_rng(seed)
    out = np.full((len(tasks), len(ks)), np.nan)
    for row, task in enumerate(tasks):
        pool = _pool(task, hashes, patches)
        verdict = {}
        for position, attempt_id in enumerate(task.attempt_ids):
            verdict[hashes.get(attempt_id, EMPTY_PATCH_HASH)] = bool(task.resolved[position])
        record = stored.get(task.instance_id)
        evidence = [stage.get("data", {}) for stage in
                    ((record.evidence or {}).get("stages", []) if record is not None else [])]
        if len(evidence) != len(chain.stages):
            evidence = [{} for _ in chain.stages]  # no (or failed) evidence: stages pass on
        for column, k in enumerate(ks):
            if k >= task.n:
                if record is not None and not record.error:
                    out[row, column] = float(verdict.get(record.patch_hash, False))
                else:
                    pick = chain.pick(pool, evidence)
                    out[row, column] = float(pick is not None and verdict[pick.patch_hash])
                continue
            if not chain.exact_at_subsets:
                continue
            scores = []
            for subset in _subsets(task.n, k, samples, rng):
                pick = chain.pick(pool.subset(subset), evidence)
                scores.append(pick is not None and verdict[pick.patch_hash])
            out[row, column] = float(np.mean(scores)) if scores else 0.0
    return out


def _curve(matrix: np.ndarray, bootstrap: int, seed: int) -> tuple[list, list, list]:
    rate, low, high = [], [], []
    for column in range(matrix.shape[1]):
        values = matrix[:, column]
        if np.isnan(values).any():
            rate.append(math.nan)
            low.append(math.nan)
            high.append(math.nan)
            continue
        draws = bootstrap_means(values, samples=bootstrap, seed=seed)
        lo, hi = percentile_interval(draws)
        rate.append(float(values.mean()))
        low.append(float(np.ravel(lo)[0]))
        high.append(float(np.ravel(hi)[0]))
    return rate, low, high


def gap_share(rate: float, oracle: float, single: float) -> float:
    gap = oracle - single
    if math.isnan(rate) or gap <= 1e-12:
        return math.nan
    return (rate - single) / gap


def selection_table(
    store: Store, run: RunData, ks: list[int] | None = None, selectors: list[str] | None = None,
    seed: int = 0, bootstrap: int = 1000, samples: int = VOTE_SAMPLES,
) -> SelectionTable:
    """The table for one stored run: `selectors` (default every one stored for the run) with
    vote and first beside."""
    tasks = run.counted
    max_k = run.max_k
    if ks is None:
        from harness.reports.metrics import ks_for

        ks = ks_for(max_k)
    ks = [k for k in ks if k <= max_k]
    ns = np.array([t.n for t in tasks])
    cs = np.array([t.c for t in tasks])
    oracle = pass_at_k_matrix(ns, cs, ks).mean(axis=0) if tasks else np.zeros(len(ks))
    single = float((cs / ns).mean()) if tasks else 0.0
    table = SelectionTable(run.name, ks, len(tasks), [float(v) for v in oracle], single)
    records = store.selections(run.name)
    names = selectors if selectors is not None else sorted({r.selector for r in records})
    for method in ("vote", "first"):
        if method in names:
            continue
        matrix = selection_matrix(tasks, ks, method, seed=seed, samples=samples)
        rate, low, high = _curve(matrix, bootstrap, seed)
        shares = [gap_share(r, o, single) for r, o in zip(rate, oracle, strict=True)]
        table.lines.append(SelectorLine(method, rate, low, high, shares,
                                        tasks_selected=len(tasks)))
    hashes = store.attempt_hashes(run.name)
    patches: dict[str, str] = {}
    for name in names:
        try:
            chain = build_selector(name)
        except SelectionError as error:
            table.notes.append(f"{name}: not measured: {error}")
            continue
        stored = {r.instance_id: r for r in records if r.selector == name}
        matrix = selector_matrix(chain, tasks, ks, stored, hashes, patches, seed, samples)
        rate, low, high = _curve(matrix, bootstrap, seed)
        counted = {t.instance_id for t in tasks}
        shares = [gap_share(r, o, single) for r, o in zip(rate, oracle, strict=True)]
        line = SelectorLine(
            name, rate, low, high, shares,
            test_seconds=sum(r.test_seconds for r in stored.values() if r.instance_id in counted),
            dollars=sum(r.dollars for r in stored.values() if r.instance_id in counted),
            tasks_selected=sum(1 for i in counted if i in stored and not stored[i].error),
            errors=sum(1 for i in counted if i in stored and stored[i].error),
        )
        table.lines.append(line)
        missing = len(counted) - line.tasks_selected
        if missing:
            table.notes.append(
                f"{name}: no stored selection on {missing} of {len(counted)} tasks (not run, or "
                "failed): there its stages decide without evidence"
            )
        if not chain.exact_at_subsets:
            table.notes.append(f"{name}: measured at k = n only (its decision needs the "
                               "subset's own model calls)")
    return table


def _pct(value: float) -> str:
    return "-" if math.isnan(value) else f"{100 * value:.1f}%"


def _cell(line: SelectorLine, i: int) -> str:
    if math.isnan(line.rate[i]):
        return "-"
    gap = "" if math.isnan(line.gap_share[i]) else f" ({100 * line.gap_share[i]:+.0f}% gap)"
    return f"{_pct(line.rate[i])} [{100 * line.low[i]:.1f}, {100 * line.high[i]:.1f}]{gap}"


def selection_sections(table: SelectionTable) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of the two tables, shared by the text, markdown and HTML reports:
    oracle, mean single attempt, then each selector with a column per k; then the costs."""
    header = ["", *[f"k={k}" for k in table.ks]]
    rows = [
        ["oracle (hidden tests)", *[_pct(v) for v in table.oracle]],
        ["mean single attempt", *[_pct(table.mean_single) for _ in table.ks]],
    ]
    rows += [[line.name, *[_cell(line, i) for i in range(len(table.ks))]]
             for line in table.lines]
    cost_header = ["selector", "tasks selected", "errors", "test seconds", "per task",
                   "dollars"]
    cost_rows = [
        [line.name, str(line.tasks_selected), str(line.errors), f"{line.test_seconds:.0f}",
         f"{line.test_seconds / max(1, line.tasks_selected):.1f}", f"${line.dollars:.4f}"]
        for line in table.lines
    ]
    return [
        (f"selection on run {table.run} ({table.tasks} tasks): solve rate of the one patch "
         "each selector picks [95% interval] (share of the gap from the mean single attempt "
         "to the oracle it recovers)", header, rows),
        ("cost of selection, apart from evaluation's: the test runs its evidence rests on",
         cost_header, cost_rows),
    ]


def render_selection_table(table: SelectionTable, markdown: bool = False) -> str:
    out: list[str] = []
    for title, header, rows in selection_sections(table):
        if out:
            out.append("")
        out.append(title)
        out += _table(header, rows, markdown)
    out += [f"note: {note}" for note in table.notes]
    return "\n".join(out)


def selection_table_json(table: SelectionTable) -> dict:
    """The table as plain data for `report --format json` (NaN, a k not measured, as null)."""
    def clean(values: list[float]) -> list[float | None]:
        return [None if math.isnan(v) else round(v, 6) for v in values]

    return {
        "run": table.run, "ks": table.ks, "tasks": table.tasks, "oracle": clean(table.oracle),
        "mean_single": None if math.isnan(table.mean_single) else round(table.mean_single, 6),
        "selectors": [
            {"name": line.name, "rate": clean(line.rate), "low": clean(line.low),
             "high": clean(line.high), "gap_share": clean(line.gap_share),
             "test_seconds": round(line.test_seconds, 3), "dollars": round(line.dollars, 6),
             "tasks_selected": line.tasks_selected, "errors": line.errors}
            for line in table.lines
        ],
        "notes": table.notes,
    }


def _table(header: list[str], rows: list[list[str]], markdown: bool) -> list[str]:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        return lines + ["| " + " | ".join(row) + " |" for row in rows]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*header)] + [fmt.format(*row) for row in rows]
