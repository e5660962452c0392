"""The ledger's account of a run's model spend, as the reports print it."""

from __future__ import annotations

from typing import Any


def dollars(value: float) -> str:
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def spend_lines(spend: dict[str, Any]) -> list[str]:
    """Billed = counted + not counted + unused, and what cached answers cost when made;
    nothing for a run that made no model call (agents without a model)."""
    if not spend or not (spend["calls"] or spend["cached_calls"] or spend["failed_tries"]):
        return []
    lines = [
        f"model spend (ledger of every call): {dollars(spend['billed'])} billed in "
        f"{spend['calls']} calls = {dollars(spend['counted'])} used by counted attempts + "
        f"{dollars(spend['not_counted'])} by attempts not counted (infrastructure errors, "
        f"budget cuts) + {dollars(spend['unused'])} on samples no attempt used "
        f"(run overhead); {spend['failed_tries']} failed tries billed nothing."
    ]
    if spend["cached_calls"]:
        lines.append(
            f"cached: {spend['cached_calls']} calls answered from the response cache cost "
            f"$0 now; those samples cost {dollars(spend['cached_when_made'])} when they were "
            "made (the figure to compare prompts or models by)."
        )
    return lines
