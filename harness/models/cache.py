"""The response cache: a model call with the same model, messages, parameters, `n` and sample
index is answered from the store, so a rerun that did not change the prompt costs nothing.

The sample index is part of the key because k samples of one prompt are meant to differ: the
cache returns sample i's answer for sample i, never sample 0's for all.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from harness.store import ModelResponseRecord, Store


@dataclass(frozen=True)
class StoredResponse:
    texts: list[str]
    finish_reasons: list[str]
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    dollars: float | None
    seconds: float
    # Each choice's tool calls when the call offered tools (see Completion.tool_calls).
    tool_calls: list[list[dict[str, Any]]] | None = None


def cache_key(
    model: str, messages: list[dict[str, Any]], params: dict[str, Any], n: int, sample: str
) -> str:
    canonical = json.dumps(
        {"model": model, "messages": messages, "params": params, "n": n, "sample": sample},
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _pack(response: StoredResponse) -> list[Any]:
    """The texts column: plain strings, or for a call that offered tools one object per
    choice holding its text and its tool calls (the column is JSON: no schema change)."""
    if response.tool_calls is None:
        return list(response.texts)
    return [{"content": text, "tool_calls": calls}
            for text, calls in zip(response.texts, response.tool_calls, strict=True)]


def _unpack(column: list[Any]) -> tuple[list[str], list[list[dict[str, Any]]] | None]:
    if not any(isinstance(item, dict) for item in column):
        return [str(item) for item in column], None
    return ([str(item.get("content") or "") for item in column],
            [list(item.get("tool_calls") or []) for item in column])


class ResponseCache:
    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, key: str) -> StoredResponse | None:
        row = self.store.response(key)
        if row is None:
            return None
        texts, tool_calls = _unpack(list(row.texts))
        return StoredResponse(
            texts=texts, tool_calls=tool_calls,
            finish_reasons=list(row.finish_reasons),
            input_tokens=row.input_tokens,
            output_tokens=row.output_tokens,
            cache_read_tokens=row.cache_read_tokens,
            cache_write_tokens=row.cache_write_tokens,
            dollars=row.dollars,
            seconds=row.seconds,
        )

    def put(
        self, key: str, model: str, n: int, sample: str, params: dict[str, Any],
        response: StoredResponse,
    ) -> None:
        record = ModelResponseRecord(
            key=key, model=model, n=n, sample=sample, params=params,
            texts=_pack(response), finish_reasons=response.finish_reasons,
            input_tokens=response.input_tokens, output_tokens=response.output_tokens,
            cache_read_tokens=response.cache_read_tokens,
            cache_write_tokens=response.cache_write_tokens,
            dollars=response.dollars, seconds=response.seconds,
        )
        # False when another worker stored the same call meanwhile: either answer will do.
        self.store.add_response(record)
