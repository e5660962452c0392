"""Per-task attempt outcomes of one run, read from the store in one query: the input of every
analysis (report, selection, scaling fit, compare). External result files produce the same
shape (see harness.reports.external)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from harness.patches import patch_hash
from harness.store import EvalStatus, Store
from harness.store.spend import cached_cost_by_attempt, run_spend

EMPTY_PATCH_HASH = patch_hash("")


class UnknownRunError(LookupError):
    pass


@dataclass
class TaskOutcomes:
    """The counted attempts of one task (evaluated, not infrastructure errors), in attempt order.

    cluster: 0 for an empty patch, otherwise the patch's class of equal normalized patches,
    numbered 1, 2, ... by first appearance. Attempts of one cluster share one evaluation, so
    one verdict.
    """

    instance_id: str
    repo: str
    resolved: np.ndarray  # bool per attempt
    cluster: np.ndarray  # int per attempt
    dollars: np.ndarray  # model + compute dollars per attempt (unknown model price counts 0)
    attempt_ids: list[int] = field(default_factory=list)  # store ids; empty for external runs
    unknown_price: int = 0
    error: str | None = None  # why the run has no attempt on this task

    @property
    def n(self) -> int:
        return int(self.resolved.size)

    @property
    def c(self) -> int:
        return int(self.resolved.sum())

    @property
    def non_empty(self) -> int:
        return int((self.cluster > 0).sum())


@dataclass
class RunData:
    name: str
    agent: str
    k_requested: int
    tasks: list[TaskOutcomes]  # every task of the run, counted attempts or not
    external: bool = False
    dollars_known: bool = True  # False when any counted attempt's model price is unknown
    vcpu_hour_dollars: float = 0.0
    attempts_pending: int = 0
    infra_errors: int = 0
    budget_cut: int = 0  # attempts a budget cut short: kept, not counted, made again later
    # The run's model spend from the ledger (harness.store.spend.RunSpend.to_json()).
    spend: dict = field(default_factory=dict)
    # Per attempt id: what its samples answered from the response cache cost when made.
    cached_by_attempt: dict[int, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def counted(self) -> list[TaskOutcomes]:
        """Tasks with at least one counted attempt: the ones every rate is averaged over."""
        return [t for t in self.tasks if t.n > 0]

    @property
    def max_k(self) -> int:
        """The largest k every counted task reached."""
        counted = self.counted
        return min(t.n for t in counted) if counted else 0


def repo_of(instance_id: str) -> str:
    """owner/name from a SWE-bench instance id such as 'django__django-11039'."""
    owner, _, rest = instance_id.partition("__")
    name = rest.rsplit("-", 1)[0] if rest else ""
    return f"{owner}/{name}" if name else owner


def known_runs(store: Store) -> list[str]:
    return store.run_ids()


def load_run(store: Store, run_id: str) -> RunData:
    stored = store.run_rows(run_id)
    if stored is None:
        known = store.run_ids()
        hint = f"; runs in this store: {', '.join(known[-10:])}" if known else ""
        raise UnknownRunError(f"no run {run_id!r} in {store.url}{hint}")
    run, run_tasks, rows, verdicts = stored.run, stored.tasks, stored.attempts, stored.verdicts
    agent, k, price = run.agent, run.k, run.vcpu_hour_dollars

    per_second = price / 3600.0
    collected: dict[int, tuple[list, list, list, list]] = {
        row.task_id: ([], [], [], []) for row in run_tasks
    }
    unknown: dict[int, int] = dict.fromkeys(collected, 0)
    pending = infra = cut = 0
    for row in rows:
        task_id, model_dollars, evaluation_id = row.task_id, row.model_dollars, row.evaluation_id
        if row.error_kind == "infra":
            infra += 1
            continue
        if row.error_kind == "budget_cut":
            cut += 1
            continue
        if evaluation_id is None:
            pending += 1
            continue
        resolved, hashes, dollars, ids = collected[task_id]
        status, digest = verdicts[evaluation_id]
        resolved.append(status == EvalStatus.RESOLVED)
        # Evaluations are keyed by (task, normalized patch hash): the hash names the class.
        hashes.append(digest)
        dollars.append((model_dollars or 0.0) + row.compute_seconds * per_second)
        ids.append(row.attempt_id)
        unknown[task_id] += int(model_dollars is None)

    tasks = []
    for row in run_tasks:
        resolved, hashes, dollars, ids = collected[row.task_id]
        tasks.append(
            TaskOutcomes(
                instance_id=row.instance_id,
                repo=row.repo or repo_of(row.instance_id),
                resolved=np.array(resolved, dtype=bool),
                cluster=clusters_of(hashes),
                dollars=np.array(dollars, dtype=float),
                attempt_ids=ids,
                unknown_price=unknown[row.task_id],
                error=row.error,
            )
        )
    return RunData(
        name=run_id,
        agent=agent,
        k_requested=k,
        tasks=tasks,
        dollars_known=all(t.unknown_price == 0 for t in tasks),
        vcpu_hour_dollars=price,
        attempts_pending=pending,
        infra_errors=infra,
        budget_cut=cut,
        spend=run_spend(store, run_id).to_json(),
        cached_by_attempt=cached_cost_by_attempt(store, run_id),
    )


def clusters_of(hashes: list[str]) -> np.ndarray:
    """Cluster numbers for patch hashes: 0 for the empty patch, then 1, 2, ... in order of
    first appearance."""
    numbers: dict[str, int] = {EMPTY_PATCH_HASH: 0}
    out = np.empty(len(hashes), dtype=np.int64)
    for position, digest in enumerate(hashes):
        number = numbers.get(digest)
        if number is None:
            number = numbers[digest] = len(numbers)
        out[position] = number
    return out
