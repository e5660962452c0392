"""Selection on a stored run: for each task, the distinct candidates of its attempts, each
stage's `gather`, then the chain's pick; all stored (harness/store/selections.py).

A task whose stored selection was made by the same selector over the same candidates is not
redone (no sandbox is started); its test runs are reused by any other selector that needs them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from harness.patches import patch_hash
from harness.selection.base import CandidateView, Chain, ModelAccess, Pool, SelectionContext
from harness.selection.environment import runner_for_task
from harness.selection.llm.access import model_access
from harness.store import Store
from harness.store.selections import AttemptInput, SelectionInput

EMPTY = patch_hash("")


def pool_of(attempts: list[AttemptInput]) -> Pool:
    """One candidate per distinct non-empty normalized patch, by first appearance; positions
    are the attempts' order among the task's counted attempts."""
    grouped: dict[str, list[tuple[int, AttemptInput]]] = {}
    for position, attempt in enumerate(attempts):
        if attempt.patch_hash == EMPTY or not attempt.patch.strip():
            continue
        grouped.setdefault(attempt.patch_hash, []).append((position, attempt))
    candidates = []
    for digest, members in grouped.items():
        candidates.append(CandidateView(
            patch_hash=digest,
            patch=members[0][1].patch,
            attempts=tuple(position for position, _ in members),
            trajectories=tuple(attempt.trajectory for _, attempt in members),
            model_dollars=sum(attempt.model_dollars or 0.0 for _, attempt in members),
            details=tuple(attempt.details for _, attempt in members),
        ))
    return Pool(tuple(candidates))


@dataclass
class SelectionSummary:
    selector: str
    tasks: int = 0
    chosen: int = 0  # tasks with a pick
    reused: int = 0  # tasks whose stored selection stood
    errors: list[str] = field(default_factory=list)
    test_runs: int = 0
    new_test_seconds: float = 0.0
    dollars: float = 0.0


def _incomplete(evidence: dict | None) -> bool:
    """Whether a stage marked its evidence incomplete (an LLM stage stopped by its budget):
    the task is decided again next time, as a budget-cut attempt is made again."""
    stages = (evidence or {}).get("stages") or []
    return any((stage.get("data") or {}).get("incomplete") for stage in stages)


def select_run(
    store: Store,
    run_id: str,
    chain: Chain,
    sandboxes=None,
    models: ModelAccess | None = None,
    workers: int = 1,
    log: Callable[[str], None] | None = None,
    redo: bool = False,
    instances: list[str] | None = None,
) -> SelectionSummary:
    """Runs `chain` on every task of the stored run (or those of `instances`, in that order).
    `sandboxes` (a SandboxFactory) is needed when a stage runs tests; `models` defaults to the
    LLM stages' own, billed under the ledger run id `<run>/select/<chain>`
    (harness.selection.llm.access). Raises LookupError for an unknown run."""
    log = log or (lambda line: None)
    if models is None and chain.needs_models:
        # LLM stages bill their calls under the selection's own ledger run id.
        models = model_access(chain, run_id)
    inputs = store.selection_inputs(run_id)
    if inputs is None:
        raise LookupError(f"no run {run_id!r} in {store.url}")
    if instances is not None:
        by_id = {task.view.instance_id: task for task in inputs}
        inputs = [by_id[instance_id] for instance_id in instances if instance_id in by_id]
    run = store.run(run_id)
    price = run.vcpu_hour_dollars if run is not None else 0.0
    done = {record.instance_id: record for record in store.selections(run_id, chain.name)}
    summary = SelectionSummary(chain.name, tasks=len(inputs))

    def one(task: SelectionInput) -> None:
        pool = pool_of(task.attempts)
        hashes = sorted(pool.hashes)
        previous = done.get(task.view.instance_id)
        if not redo and _stands(previous, hashes):
            summary.reused += 1
            summary.chosen += previous.patch_hash is not None
            return
        decided = _decide(store, run_id, chain, task, pool, sandboxes, models, price, log)
        _save(store, run_id, chain, task.view.instance_id, hashes, decided)
        summary.chosen += decided.chosen is not None
        summary.test_runs += sum(item.runs for item in decided.evidence)
        summary.new_test_seconds += sum(item.test_seconds for item in decided.evidence)
        summary.dollars += sum(item.dollars for item in decided.evidence)
        if decided.error:
            summary.errors.append(f"{task.view.instance_id}: {decided.error}")

    if workers <= 1:
        for task in inputs:
            one(task)
    else:
        with ThreadPoolExecutor(workers) as pool_executor:
            list(pool_executor.map(one, inputs))
    return summary


def _stands(previous, hashes: list[str]) -> bool:
    """A stored selection stands when it was made without error over the same candidates and
    no stage left it incomplete."""
    return (
        previous is not None and not previous.error
        and (previous.evidence or {}).get("candidates") == hashes
        and not _incomplete(previous.evidence)
    )


@dataclass
class _Decided:
    chosen: str | None
    evidence: list
    error: str
    seconds: float


def _decide(
    store: Store,
    run_id: str,
    chain: Chain,
    task: SelectionInput,
    pool: Pool,
    sandboxes,
    models: ModelAccess | None,
    price: float,
    log: Callable[[str], None],
) -> _Decided:
    """Each stage's gather, then the chain's pick; one task's trouble is recorded, not fatal."""
    started = time.monotonic()
    instance_id = task.view.instance_id
    holder = None
    evidence: list = []
    chosen = None
    error = ""
    try:
        runner = None
        if pool and chain.needs_sandbox:
            if sandboxes is None:
                raise RuntimeError(f"{chain.name} runs tests: it needs sandboxes")
            runner, holder = runner_for_task(store, run_id, instance_id, sandboxes, price, log)
        context = SelectionContext(task.view, pool, runner, models, seed=0, log=log,
                                   run_id=run_id)
        if pool:
            evidence = chain.gather(context)
            pick = chain.pick(pool, [item.data for item in evidence])
            chosen = pick.patch_hash if pick is not None else None
    except Exception as failure:  # noqa: BLE001 - one task's trouble is recorded, not fatal
        # (`except ... as error` would unbind `error` when the block ends.)
        error = f"{type(failure).__name__}: {failure}"
        log(f"{instance_id}: selection failed: {error}")
    finally:
        if holder is not None:
            holder.close()
    return _Decided(chosen, evidence, error, time.monotonic() - started)


def _save(
    store: Store, run_id: str, chain: Chain, instance_id: str, hashes: list[str],
    decided: _Decided,
) -> None:
    evidence = decided.evidence
    # Runs two stages share (the regression suite of regression+behavior) count once.
    costs = {key: cost for item in evidence for key, cost in item.run_costs.items()}
    # Dollars the selection rests on: its test runs' compute (made now or earlier) and the
    # model calls its stages made.
    dollars = sum(d for _, d in costs.values()) + sum(e.model_dollars for e in evidence)
    store.save_selection(
        run_id, chain.name, instance_id,
        patch_hash=decided.chosen,
        evidence={
            "candidates": hashes,
            "stages": [{"name": stage.name, "data": item.data}
                       for stage, item in zip(chain.stages, evidence, strict=False)],
        },
        test_seconds=sum(seconds for seconds, _ in costs.values()),
        new_test_seconds=sum(item.test_seconds for item in evidence),
        test_runs=sum(item.runs for item in evidence),
        dollars=dollars, seconds=decided.seconds, error=decided.error,
    )
