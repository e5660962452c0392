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


class ResponseCache:
    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, key: str) -> StoredResponse | None:
        row = self.store.response(key)
        if row is None:
            return None
        return StoredResponse(
            texts=list(row.texts),
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
            texts=response.texts, finish_reasons=response.finish_reasons,
            input_tokens=response.input_tokens, output_tokens=response.output_tokens,
            cache_read_tokens=response.cache_read_tokens,
            cache_write_tokens=response.cache_write_tokens,
            dollars=response.dollars, seconds=response.seconds,
        )
        # False when another worker stored the same call meanwhile: either answer will do.
        self.store.add_response(record)
