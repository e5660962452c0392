"""Flaky instances, handled as the "Large Language Monkeys" authors handled them: a task whose
validation saw a test change status between identical runs is flaky; a candidate's tests on
it can be rerun N times and the majority verdict kept (`run --reruns N`, every rerun stored in
`evaluation_reruns`), and a report can leave flaky tasks out (`report --exclude-flaky`), as the
paper's 266-problem subset of Lite did.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select

from harness.evaluation.status import EvalStatus
from harness.store import Store, ValidationRecord


def flaky_instances(
    store: Store, instance_ids: Iterable[str] | None = None
) -> dict[str, list[str]]:
    """instance id -> its flaky tests, by each instance's latest validation that found any
    (only those of `instance_ids` when given)."""
    wanted = set(instance_ids) if instance_ids is not None else None
    latest: dict[str, ValidationRecord] = {}
    with store.reading() as session:
        for record in session.scalars(select(ValidationRecord).order_by(ValidationRecord.id)):
            if wanted is None or record.instance_id in wanted:
                latest[record.instance_id] = record
        return {
            instance_id: list(record.flaky_tests)
            for instance_id, record in sorted(latest.items())
            if record.flaky_tests
        }


@dataclass(frozen=True)
class RunVerdict:
    """One run of a candidate's tests: its status and the listed tests that counted against."""

    status: EvalStatus
    failing: tuple[str, ...] = ()


def majority_index(runs: Sequence[RunVerdict]) -> int:
    """The index of the run whose verdict stands for all: the first resolved one when more
    than half resolved, else the first unresolved one (a tie is not a majority to resolve)."""
    if not runs:
        raise ValueError("no runs to take a majority of")
    resolved = [index for index, run in enumerate(runs) if run.status.resolved]
    if 2 * len(resolved) > len(runs):
        return resolved[0]
    return next(index for index, run in enumerate(runs) if not run.status.resolved)
