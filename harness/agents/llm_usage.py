"""What an attempt's model calls used, summed for `Candidate.usage` and `Candidate.details`.

`Usage.model_dollars` is what was actually spent (a cached answer costs 0); the details say
how many calls were cached and what they would have cost without the cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.agents.base import Usage
from harness.models.ledger import SampleRef
from harness.models.llm import Completion


@dataclass
class Share:
    """One sample's part of a call (the whole call when it had one answer)."""

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    dollars: float | None
    dollars_if_uncached: float | None
    cached: bool
    model_seconds: float
    calls: int  # 1 for the sample whose attempt made (or fetched from cache) the call
    ref: SampleRef | None = None  # the sample in the ledger


def _part(total: int, parts: int, position: int) -> int:
    # Integer shares that add up exactly to the total.
    return total // parts + (1 if position < total % parts else 0)


def share_of(completion: Completion, parts: int, position: int, makes_call: bool) -> Share:
    def money(value: float | None) -> float | None:
        return None if value is None else value / parts

    return Share(
        input_tokens=_part(completion.input_tokens, parts, position),
        output_tokens=_part(completion.output_tokens, parts, position),
        cache_read_tokens=_part(completion.cache_read_tokens, parts, position),
        cache_write_tokens=_part(completion.cache_write_tokens, parts, position),
        dollars=money(completion.dollars),
        dollars_if_uncached=money(completion.dollars_if_uncached),
        cached=completion.cached,
        model_seconds=completion.model_seconds / parts,
        calls=1 if makes_call else 0,
        ref=SampleRef(completion.call_id, position) if completion.call_id is not None else None,
    )


class UsageTally:
    def __init__(self) -> None:
        self.input_tokens = 0
        self.output_tokens = 0
        self.cache_read_tokens = 0
        self.cache_write_tokens = 0
        self.dollars: float | None = 0.0
        self.dollars_if_uncached: float | None = 0.0
        self.calls = 0
        self.cached_calls = 0
        self.model_seconds = 0.0
        self.samples: list[SampleRef] = []

    def add(self, share: Share | Completion) -> None:
        if isinstance(share, Completion):
            share = share_of(share, 1, 0, makes_call=True)
        self.input_tokens += share.input_tokens
        self.output_tokens += share.output_tokens
        self.cache_read_tokens += share.cache_read_tokens
        self.cache_write_tokens += share.cache_write_tokens
        # Unknown stays unknown: one unpriced call makes the attempt's dollars unknown.
        self.dollars = None if self.dollars is None or share.dollars is None else (
            self.dollars + share.dollars
        )
        self.dollars_if_uncached = (
            None
            if self.dollars_if_uncached is None or share.dollars_if_uncached is None
            else self.dollars_if_uncached + share.dollars_if_uncached
        )
        self.calls += share.calls
        self.cached_calls += share.calls if share.cached else 0
        self.model_seconds += share.model_seconds
        if share.ref is not None:
            self.samples.append(share.ref)

    def usage(self) -> Usage:
        return Usage(
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_read_tokens=self.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens,
            model_dollars=self.dollars,
        )

    def details(self) -> dict[str, Any]:
        return {
            "model_calls": self.calls,
            "cached_calls": self.cached_calls,
            "dollars_spent": self.dollars,
            "dollars_if_uncached": self.dollars_if_uncached,
            "model_seconds": round(self.model_seconds, 4),
        }
