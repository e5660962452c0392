"""What a report says about suspicious evaluations: resolved and resolved-but-suspicious apart.

A suspicious evaluation keeps its verdict, so solve rates count it; this summary says how many
resolved attempts carry the flag, and which tasks were solved only by flagged attempts (the
solve rate would drop without them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.evaluation.status import EvalStatus
from harness.store import Store
from harness.store.suspicion import FlaggedAttempt, flagged_attempts


@dataclass
class SuspicionSummary:
    flagged: list[FlaggedAttempt] = field(default_factory=list)
    # instance id -> why, for tasks whose every resolved attempt is flagged.
    solved_only_by_flagged: dict[str, str] = field(default_factory=dict)

    @property
    def resolved_flagged(self) -> list[FlaggedAttempt]:
        return [f for f in self.flagged if f.status is EvalStatus.RESOLVED]

    def lines(self, resolved_attempts: int) -> list[str]:
        if not self.flagged:
            return []
        flagged = len(self.resolved_flagged)
        out = [
            f"resolved: {resolved_attempts - flagged} attempts; resolved-but-suspicious: "
            f"{flagged} (verdicts kept; {len(self.flagged)} suspicious evaluations in all, "
            "see `show` for each reason)"
        ]
        for instance_id, why in sorted(self.solved_only_by_flagged.items()):
            out.append(f"  {instance_id}: solved only by suspicious attempts: {why[:200]}")
        return out


def summarize(store: Store, run_id: str, resolved_by_task: dict[str, int]) -> SuspicionSummary:
    """`resolved_by_task`: instance id -> resolved counted attempts of the run."""
    with store.reading() as session:
        flagged = flagged_attempts(session, run_id)
    summary = SuspicionSummary(flagged=flagged)
    per_task: dict[str, list[FlaggedAttempt]] = {}
    for attempt in summary.resolved_flagged:
        per_task.setdefault(attempt.instance_id, []).append(attempt)
    for instance_id, attempts in per_task.items():
        if len(attempts) >= resolved_by_task.get(instance_id, 0):
            summary.solved_only_by_flagged[instance_id] = attempts[0].suspicion
    return summary
