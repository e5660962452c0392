"""A run's figures for the viewer, computed by `report`'s own code (build_report: load_run,
analyze, run_facts) and kept in memory until the run changes.

Computing them reads every attempt of the run (seconds for 75,000): the viewer does it once per
state of the run (harness.store.browse.run_fingerprint), in the background at start for the
newest runs, so a page that shows them answers in milliseconds. A run still `running` is
recomputed when its figures are older than REFRESH_SECONDS.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.reports.compare import Comparison, ComparisonError, compare_runs
from harness.reports.metrics import pass_at_k
from harness.reports.render import RunReport, build_report, fit_lines, run_facts, run_header
from harness.reports.rundata import RunData, TaskOutcomes, load_run
from harness.store import Store
from harness.store.browse import RunCounts, RunListRow
from harness.viewer.svg import solve_rate_curve

REFRESH_SECONDS = 15.0
KEPT_RUNS = 8


@dataclass
class TaskLine:
    """One task of a run in the run page's table."""

    instance_id: str
    repo: str
    n: int
    c: int
    distinct: int  # distinct non-empty patches
    empty: int
    rate_1: float | None
    rate_max: float | None
    error: str | None
    flaky: list[str]


@dataclass
class RunFigures:
    run_id: str
    report: RunReport
    data: RunData
    facts: list[str]
    header: list[str]
    fit: list[str]
    curve: str  # SVG
    tasks: list[TaskLine]
    flaky: dict[str, list[str]]
    rerun_counts: list[int]
    computed_at: float = field(default_factory=time.time)
    seconds: float = 0.0

    def task(self, instance_id: str) -> TaskOutcomes | None:
        return next((t for t in self.data.tasks if t.instance_id == instance_id), None)


@dataclass
class Compared:
    comparison: Comparison
    command: str  # the `compare` command that makes the same comparison


def compute(store: Store, run_id: str) -> RunFigures:
    """Raises harness.reports.rundata.UnknownRunError for a run the store lacks."""
    from harness.flaky import flaky_instances

    started = time.perf_counter()
    data = load_run(store, run_id)
    report = build_report(store, run_id, data=data)
    flaky = flaky_instances(store, [t.instance_id for t in data.tasks])
    max_k = report.analysis.max_k
    lines = []
    for task in data.tasks:
        clusters = set(task.cluster.tolist())
        lines.append(TaskLine(
            instance_id=task.instance_id, repo=task.repo, n=task.n, c=task.c,
            distinct=len(clusters - {0}), empty=int((task.cluster == 0).sum()),
            rate_1=task.c / task.n if task.n else None,
            rate_max=pass_at_k(task.n, task.c, max_k) if task.n and max_k else None,
            error=task.error, flaky=flaky.get(task.instance_id, []),
        ))
    return RunFigures(
        run_id=run_id, report=report, data=data, facts=run_facts(report),
        header=run_header(report.analysis), fit=fit_lines(report.analysis),
        curve=solve_rate_curve(report.analysis), tasks=lines, flaky=flaky,
        rerun_counts=sorted(store.rerun_counts(run_id).values()),
        seconds=time.perf_counter() - started,
    )


class FigureCache:
    """Figures of the runs seen last, each with the run's fingerprint when computed; one
    computation per run at a time (a second asker waits for the first)."""

    def __init__(self, store: Store, kept: int = KEPT_RUNS) -> None:
        self.store = store
        self.kept = kept
        self._entries: OrderedDict[Any, tuple[tuple, Any]] = OrderedDict()
        self._locks: dict[Any, threading.Lock] = {}
        self._guard = threading.Lock()
        self._made: dict[Any, float] = {}

    def _cached(self, key: Any, fingerprint: tuple, fresh: Callable[[Any], bool],
                make: Callable[[], Any]) -> Any:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                found = self._entries.get(key)
                if found is not None and found[0] == fingerprint and fresh(found[1]):
                    self._entries.move_to_end(key)
                    return found[1]
            value = make()
            with self._guard:
                self._entries[key] = (fingerprint, value)
                self._entries.move_to_end(key)
                while len(self._entries) > self.kept:
                    self._entries.popitem(last=False)
            return value

    def run(self, run_id: str) -> RunFigures | None:
        """The run's figures (computed now if the run changed since); None: no such run."""
        fingerprint = self.store.run_fingerprint(run_id)
        if fingerprint is None:
            return None
        running = fingerprint[1] == "running"

        def fresh(figures: RunFigures) -> bool:
            return not running or time.time() - figures.computed_at < REFRESH_SECONDS

        return self._cached(("run", run_id), fingerprint, fresh,
                            lambda: compute(self.store, run_id))

    def counts(self, row: RunListRow) -> RunCounts:
        """The runs list's counts of a run, kept while the run is unchanged (a stopped run's
        attempts change only when it is resumed, which marks it running again)."""
        running = row.status == "running"

        def fresh(counts: RunCounts) -> bool:
            return not running or time.time() - self._made[("counts", row.id)] < REFRESH_SECONDS

        def make() -> RunCounts:
            self._made[("counts", row.id)] = time.time()
            return self.store.run_counts(row.id)

        return self._cached(("counts", row.id), (row.updated_at, row.status), fresh, make)

    def comparison(self, baseline: str, candidate: str) -> Compared | str | None:
        """The prompt gate's comparison as `compare` makes it (permutation test, alpha 0.05,
        seed 0), or why the runs cannot be compared; None: a run is missing."""
        base, cand = self.run(baseline), self.run(candidate)
        if base is None or cand is None:
            return None
        key = ("compare", baseline, candidate)
        fingerprint = (base.computed_at, cand.computed_at)

        def make() -> Compared | str:
            command = f"python -m harness compare {baseline} {candidate}"
            try:
                return Compared(compare_runs(base.data, cand.data), command)
            except ComparisonError as error:
                refusal = str(error)
            # `compare` wants to be told how to align unlike runs; the viewer compares what
            # both have, at the largest k both reached, and says so.
            k = min(base.report.analysis.max_k, cand.report.analysis.max_k) or None
            try:
                comparison = compare_runs(base.data, cand.data, k=k, align_tasks="intersect")
            except ComparisonError as error:
                return f"{refusal}; and aligned: {error}"
            flags = f"--k {comparison.k} --align intersect"
            comparison.notes.insert(0, (
                f"compare refuses these runs as they are ({refusal}): shown here as "
                f"`compare {flags}` makes it"
            ))
            return Compared(comparison, f"{command} {flags}")

        return self._cached(key, fingerprint, lambda _: True, make)

    def warm(self, run_ids: list[str], figures: int) -> threading.Thread:
        """Computes, in a background thread, the figures of the first `figures` of `run_ids`
        (newest first), then the runs list's counts of them all (errors are left for the
        page that asks to show)."""

        def work() -> None:
            for run_id in run_ids[:figures]:
                try:
                    self.run(run_id)
                except Exception:  # noqa: BLE001 - the run's page will show the error
                    continue
            for row in self.store.run_list(limit=len(run_ids)):
                self.counts(row)

        thread = threading.Thread(target=work, name="viewer-warm", daemon=True)
        thread.start()
        return thread
