"""Where the rerun rules and the flaky-task query used to live; kept for callers of the old
names. The pure rules are harness.evaluation.reruns; the query is Store.flaky_instances."""

from __future__ import annotations

from collections.abc import Iterable

from harness.evaluation.reruns import (
    NOT_RUN,
    Rerun,
    RunVerdict,
    majority_index,
    needs_more_runs,
    output_digest,
    rerun_of,
)
from harness.store.validations import ValidationQueries

__all__ = [
    "NOT_RUN", "Rerun", "RunVerdict", "flaky_instances", "majority_index", "needs_more_runs",
    "output_digest", "rerun_of",
]


def flaky_instances(
    store: ValidationQueries, instance_ids: Iterable[str] | None = None
) -> dict[str, list[str]]:
    return store.flaky_instances(instance_ids)
