"""Paired comparison of two runs on the same tasks: the CI gate for agent prompts.

Per task, solved-at-k is the task's unbiased pass@k in each run. The change in solve rate is
the mean of the per-task differences.

Two runs of one unchanged agent differ by sampling noise at two levels: which tasks were
drawn, and, within each task, which of its attempts happened to succeed. A bootstrap over
tasks alone ignores the second and calls noise a regression on small task sets. So the
verdict comes from a stratified permutation test (`test="permutation"`, the default): under
"no change" the attempts of both runs on one task are exchangeable, so each task's successes
are re-dealt at random between the runs (keeping each run's attempt count), many times, and
the p-value is the share of re-deals whose change is at least as large as the one seen. Its
false-alarm rate is at most alpha by construction (benchmarks/compare_false_alarm.py
measures it). The interval shown is a two-level bootstrap: tasks, then attempts within each
task.

When the counts cannot give a p-value below alpha whatever the runs did (one task, few
attempts), the verdict is "too few tasks or attempts", never a guess; the smallest change
the comparison could detect is always reported.

McNemar's exact test on a yes/no per task (pass@k >= 0.5) and the two-level bootstrap
interval can decide instead (`test="mcnemar"`, `test="bootstrap"`):

- regressed: the change is significantly below zero and at least `min_effect` in size;
- improved: the change is significantly above zero and at least `min_effect` in size;
- no detectable change otherwise.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from harness.reports.metrics import pass_at_k_matrix, pass_at_k_table, percentile_interval
from harness.reports.rundata import RunData

REGRESSED, IMPROVED, NO_CHANGE = "regressed", "improved", "no detectable change"
TOO_FEW = "too few tasks or attempts"
TESTS = ("permutation", "bootstrap", "mcnemar")


class ComparisonError(ValueError):
    """The two runs cannot be compared as they are; the message says how to align them."""


@dataclass
class TaskDelta:
    instance_id: str
    repo: str
    baseline: float  # pass@k
    candidate: float
    baseline_solved: bool  # pass@k >= 0.5
    candidate_solved: bool

    @property
    def status(self) -> str:
        if self.baseline_solved and not self.candidate_solved:
            return REGRESSED
        if self.candidate_solved and not self.baseline_solved:
            return IMPROVED
        return NO_CHANGE


@dataclass
class Comparison:
    baseline: str
    candidate: str
    k: int
    alpha: float
    min_effect: float
    test: str
    baseline_rate: float
    candidate_rate: float
    delta: float
    delta_low: float
    delta_high: float
    p_bootstrap: float
    mcnemar_regressed: int  # baseline solved, candidate not
    mcnemar_improved: int
    p_mcnemar: float
    verdict: str
    bootstrap_samples: int
    tasks: list[TaskDelta]
    notes: list[str] = field(default_factory=list)
    p_permutation: float = 1.0
    # The smallest p-value these per-task counts can give, and the smallest change (in solve
    # rate, 0..1) that would be significant at alpha: what the comparison can detect.
    p_smallest: float = 0.0
    detectable: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for row in data["tasks"]:
            row["status"] = TaskDelta(**row).status
        return data


def mcnemar_exact(regressed: int, improved: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test of the discordant pairs at 1/2."""
    total = regressed + improved
    if total == 0:
        return 1.0
    tail = sum(math.comb(total, i) for i in range(min(regressed, improved) + 1)) / 2**total
    return min(1.0, 2 * tail)


def align(baseline: RunData, candidate: RunData, how: str | None) -> tuple[list[str], list[str]]:
    """The task ids to compare, and notes on what alignment did."""
    base = {t.instance_id for t in baseline.counted}
    cand = {t.instance_id for t in candidate.counted}
    if base == cand:
        return sorted(base), []
    only_base, only_cand = sorted(base - cand), sorted(cand - base)
    if how != "intersect":
        raise ComparisonError(
            f"the runs' task sets differ: {len(only_base)} tasks only in {baseline.name} "
            f"({', '.join(only_base[:5])}{'...' if len(only_base) > 5 else ''}), "
            f"{len(only_cand)} only in {candidate.name} "
            f"({', '.join(only_cand[:5])}{'...' if len(only_cand) > 5 else ''}); pass "
            "--align intersect to compare on the tasks both have"
        )
    common = sorted(base & cand)
    if not common:
        raise ComparisonError("the runs have no task in common")
    return common, [
        f"aligned on the {len(common)} tasks both runs have; left out {len(only_base)} only "
        f"in {baseline.name} and {len(only_cand)} only in {candidate.name}"
    ]


def choose_k(baseline: RunData, candidate: RunData, ids: list[str], k: int | None) -> int:
    smallest = min(
        t.n for run in (baseline, candidate) for t in run.counted if t.instance_id in set(ids)
    )
    if k is None:
        if baseline.k_requested != candidate.k_requested:
            raise ComparisonError(
                f"the runs made different numbers of attempts per task ({baseline.name}: "
                f"{baseline.k_requested}, {candidate.name}: {candidate.k_requested}); pass "
                f"--k K with K at most {smallest} to compare solve rate at the same k"
            )
        k = min(baseline.k_requested, smallest)
        if k < baseline.k_requested:
            raise ComparisonError(
                f"some tasks have only {smallest} counted attempts of {k} requested "
                "(pending evaluations or infrastructure errors); finish the runs or pass "
                f"--k {smallest}"
            )
        return k
    if not 1 <= k <= smallest:
        raise ComparisonError(
            f"--k {k} is out of range: every task must have at least k counted attempts in "
            f"both runs, and the smallest number is {smallest}"
        )
    return k


def compare_runs(
    baseline: RunData,
    candidate: RunData,
    k: int | None = None,
    alpha: float = 0.05,
    min_effect: float = 0.0,
    align_tasks: str | None = None,
    test: str = "permutation",
    samples: int = 10000,
    seed: int = 0,
) -> Comparison:
    if test not in TESTS:
        raise ComparisonError(f"unknown test {test!r}: {', '.join(TESTS)}")
    if not 0 < alpha < 1:
        raise ComparisonError("--alpha must be between 0 and 1")
    ids, notes = align(baseline, candidate, align_tasks)
    k = choose_k(baseline, candidate, ids, k)
    by_id = [
        {t.instance_id: t for t in run.counted} for run in (baseline, candidate)
    ]
    rates = []
    counts = []
    for tasks in by_id:
        chosen = [tasks[i] for i in ids]
        ns, cs = np.array([t.n for t in chosen]), np.array([t.c for t in chosen])
        counts.append((ns, cs))
        rates.append(pass_at_k_matrix(ns, cs, [k])[:, 0])
    base, cand = rates
    differences = cand - base
    rng = np.random.default_rng(seed)
    draws = two_level_bootstrap(counts[0], counts[1], k, samples, rng)
    low, high = (float(v) for v in percentile_interval(draws, 1 - alpha))
    p_boot = float(min(1.0, 2 * min((draws <= 0).mean(), (draws >= 0).mean())))
    if np.all(differences == 0):
        p_boot = 1.0
    null = permutation_null(counts[0], counts[1], k, samples, rng)
    observed = float(differences.mean())
    p_perm, p_smallest, detectable = permutation_summary(null, observed, alpha)
    deltas = [
        TaskDelta(i, by_id[0][i].repo, float(b), float(c), bool(b >= 0.5), bool(c >= 0.5))
        for i, b, c in zip(ids, base, cand, strict=True)
    ]
    regressed = sum(d.status == REGRESSED for d in deltas)
    improved = sum(d.status == IMPROVED for d in deltas)
    p_mcnemar = mcnemar_exact(regressed, improved)
    delta = float(differences.mean())
    if test == "bootstrap":
        below, above = high < 0, low > 0
    else:
        significant = (p_mcnemar if test == "mcnemar" else p_perm) < alpha
        below, above = significant and delta < 0, significant and delta > 0
    if below and delta <= -min_effect:
        verdict = REGRESSED
    elif above and delta >= min_effect:
        verdict = IMPROVED
    else:
        verdict = NO_CHANGE
    # A null with no spread (every re-deal gives the same solve rates) is no noise and no
    # change: nothing to refuse.
    if test == "permutation" and p_smallest >= alpha and detectable > 0:
        verdict = TOO_FEW
        notes = [*notes, (
            f"too few tasks or attempts to detect any change at alpha {alpha}: the smallest "
            f"p-value {len(ids)} tasks with these attempt counts can give is "
            f"{p_smallest:.3f}; add tasks or attempts"
        )]
    elif min_effect > 0 and detectable > min_effect and verdict == NO_CHANGE:
        notes = [*notes, (
            f"too few tasks or attempts to detect a change of {100 * min_effect:.1f} points: "
            f"only changes of {100 * detectable:.1f} points or more can be told from noise here"
        )]
    return Comparison(
        baseline=baseline.name, candidate=candidate.name, k=k, alpha=alpha,
        min_effect=min_effect, test=test, baseline_rate=float(base.mean()),
        candidate_rate=float(cand.mean()), delta=delta, delta_low=low, delta_high=high,
        p_bootstrap=p_boot, mcnemar_regressed=regressed, mcnemar_improved=improved,
        p_mcnemar=p_mcnemar, verdict=verdict, bootstrap_samples=samples, tasks=deltas,
        notes=notes + baseline.notes + candidate.notes, p_permutation=p_perm,
        p_smallest=p_smallest, detectable=detectable,
    )


def _pass_at_k_of(ns: np.ndarray, draws: np.ndarray, k: int) -> np.ndarray:
    """pass@k for a draws x tasks array of success counts, task t having ns[t] attempts."""
    out = np.empty(draws.shape, dtype=float)
    for n in np.unique(ns):
        columns = ns == n
        out[:, columns] = pass_at_k_table(int(n), k)[draws[:, columns]]
    return out


def permutation_null(
    baseline: tuple[np.ndarray, np.ndarray], candidate: tuple[np.ndarray, np.ndarray],
    k: int, samples: int, rng: np.random.Generator,
) -> np.ndarray:
    """The change in solve rate under "no change": each task's successes of both runs
    re-dealt at random between them (hypergeometric), `samples` times."""
    (nb, cb), (nc, cc) = baseline, candidate
    good = cb + cc
    dealt = rng.hypergeometric(
        np.broadcast_to(good, (samples, good.size)),
        np.broadcast_to(nb + nc - good, (samples, good.size)),
        np.broadcast_to(nb, (samples, good.size)),
    )
    return (_pass_at_k_of(nc, good - dealt, k) - _pass_at_k_of(nb, dealt, k)).mean(axis=1)


def permutation_summary(null: np.ndarray, observed: float,
                        alpha: float) -> tuple[float, float, float]:
    """(two-sided p-value, smallest p-value attainable, smallest significant change)."""
    size = np.abs(null)
    tolerance = 1e-12
    count = null.size + 1
    p_value = float((1 + (size >= abs(observed) - tolerance).sum()) / count)
    p_smallest = float((1 + (size >= size.max() - tolerance).sum()) / count)
    detectable = float(np.quantile(size, 1 - alpha))
    return min(1.0, p_value), min(1.0, p_smallest), detectable


def two_level_bootstrap(
    baseline: tuple[np.ndarray, np.ndarray], candidate: tuple[np.ndarray, np.ndarray],
    k: int, samples: int, rng: np.random.Generator,
) -> np.ndarray:
    """Change in solve rate over resamples of tasks (paired) and, within each task, of each
    run's attempts (binomial at the task's observed rate)."""
    (nb, cb), (nc, cc) = baseline, candidate
    size = nb.size
    weights = rng.multinomial(size, np.full(size, 1.0 / size), size=samples)
    drawn_b = rng.binomial(np.broadcast_to(nb, (samples, size)), cb / nb)
    drawn_c = rng.binomial(np.broadcast_to(nc, (samples, size)), cc / nc)
    change = _pass_at_k_of(nc, drawn_c, k) - _pass_at_k_of(nb, drawn_b, k)
    return (weights * change).sum(axis=1) / size


def _summary_rows(c: Comparison) -> list[tuple[str, str]]:
    level = f"{100 * (1 - c.alpha):.0f}%"
    return [
        ("tasks", str(len(c.tasks))),
        (f"solve rate at k={c.k}, {c.baseline}", f"{100 * c.baseline_rate:.1f}%"),
        (f"solve rate at k={c.k}, {c.candidate}", f"{100 * c.candidate_rate:.1f}%"),
        ("change", f"{100 * c.delta:+.1f} points"),
        (f"{level} interval (bootstrap of tasks and of attempts within each task, "
         f"{c.bootstrap_samples} resamples)",
         f"{100 * c.delta_low:+.1f} to {100 * c.delta_high:+.1f} points"),
        ("permutation p-value (attempts re-dealt within tasks, two-sided)",
         f"{c.p_permutation:.4f}"),
        ("smallest change detectable here", f"{100 * c.detectable:.1f} points "
         f"(smallest attainable p {c.p_smallest:.4f})"),
        ("bootstrap p-value (two-sided)", f"{c.p_bootstrap:.4f}"),
        ("McNemar exact (solved at k = pass@k >= 0.5)",
         f"{c.mcnemar_regressed} regressed, {c.mcnemar_improved} improved, "
         f"p = {c.p_mcnemar:.4f}"),
        ("decided by", f"{c.test}, alpha {c.alpha}, minimum effect "
                       f"{100 * c.min_effect:.1f} points"),
    ]


def render_text(c: Comparison) -> str:
    lines = [f"compare {c.baseline} (baseline) -> {c.candidate} (candidate): {c.verdict}"]
    width = max(len(label) for label, _ in _summary_rows(c))
    lines += [f"  {label.ljust(width)}  {value}" for label, value in _summary_rows(c)]
    for status in (REGRESSED, IMPROVED):
        changed = [d for d in c.tasks if d.status == status]
        if changed:
            lines.append(f"{status} tasks ({len(changed)}):")
            lines += [
                f"  {d.instance_id}: pass@{c.k} {100 * d.baseline:.0f}% -> "
                f"{100 * d.candidate:.0f}%"
                for d in changed
            ]
    lines += [f"note: {note}" for note in c.notes]
    return "\n".join(lines)


def render_markdown(c: Comparison) -> str:
    mark = {REGRESSED: "❌", IMPROVED: "✅", NO_CHANGE: "➖", TOO_FEW: "❔"}[c.verdict]
    lines = [
        f"### {mark} Agent regression gate: {c.verdict}",
        "",
        f"`{c.baseline}` (baseline) → `{c.candidate}` (candidate), solve rate at k={c.k}",
        "",
        "| | |",
        "|---|---|",
    ]
    lines += [f"| {label} | {value} |" for label, value in _summary_rows(c)]
    for status in (REGRESSED, IMPROVED):
        changed = [d for d in c.tasks if d.status == status]
        if changed:
            lines += ["", f"<details><summary>{len(changed)} tasks {status}</summary>", ""]
            lines += ["| task | baseline | candidate |", "|---|---|---|"]
            lines += [
                f"| `{d.instance_id}` | {100 * d.baseline:.0f}% | {100 * d.candidate:.0f}% |"
                for d in changed
            ]
            lines += ["", "</details>"]
    if c.notes:
        lines += [""] + [f"- {note}" for note in c.notes]
    return "\n".join(lines) + "\n"


def junit_xml(c: Comparison) -> str:
    """One test case per task; a failure when the task regressed (solved at k in the
    baseline, not in the candidate)."""
    failures = sum(d.status == REGRESSED for d in c.tasks)
    suite = ET.Element(
        "testsuite",
        name=f"harness compare {c.baseline} -> {c.candidate}",
        tests=str(len(c.tasks)),
        failures=str(failures),
        errors="0",
        skipped="0",
    )
    for d in c.tasks:
        case = ET.SubElement(suite, "testcase", classname=d.repo, name=d.instance_id)
        detail = (
            f"pass@{c.k}: {d.baseline:.3f} in {c.baseline}, {d.candidate:.3f} in {c.candidate}"
        )
        if d.status == REGRESSED:
            failure = ET.SubElement(case, "failure", message=f"regressed: {detail}")
            failure.text = detail
        else:
            ET.SubElement(case, "system-out").text = f"{d.status}: {detail}"
    suites = ET.Element("testsuites")
    suites.append(suite)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)
