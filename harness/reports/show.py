"""One attempt as a person reads it (`python -m harness show RUN INSTANCE ATTEMPT`).

Shows what the attempt cost (tokens, dollars spent and what the response cache saved), how it
ended, its whole trajectory (prompts, answers, commands and their output) and its patch. All
from the store; nothing is re-run.
"""

from __future__ import annotations

import json
from typing import Any

from harness.store import Store
from harness.store.spend import attempt_samples


class ShowError(LookupError):
    pass


def _dollars(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.6f}"


def _message_text(entry: dict[str, Any], prompts: dict[tuple[int, str], str]) -> str:
    if "content" in entry:
        return str(entry["content"])
    if "same_as_attempt" in entry:
        shared = prompts.get((int(entry["same_as_attempt"]), str(entry.get("role"))))
        if shared is not None:
            return shared
        return f"(same prompt as attempt {entry['same_as_attempt']}, not stored here)"
    return json.dumps(entry, sort_keys=True)


def render_attempt(store: Store, run_id: str, instance_id: str, index: int,
                   max_chars: int = 0) -> str:
    """The attempt as text; `max_chars` > 0 clips each message to that many characters."""
    if store.run(run_id) is None:
        raise ShowError(f"no run {run_id!r} in {store.url}")
    by_index = store.task_attempts(run_id, instance_id)
    attempt = by_index.get(index)
    if attempt is None:
        have = ", ".join(str(i) for i in sorted(by_index)) or "none"
        raise ShowError(
            f"run {run_id!r} has no attempt {index} on {instance_id!r} (attempts: {have})"
        )
    evaluation = attempt.evaluation
    verdict = evaluation.status.value if evaluation is not None else "not evaluated yet"
    flags = []
    if evaluation is not None and evaluation.fault:
        flags.append(f"what happened: {evaluation.fault}")
    if evaluation is not None and evaluation.suspicious:
        flags.append(f"suspicious (verdict kept): {evaluation.suspicion}")
    # Attempts of the oneshot agent point at the prompt stored with another attempt.
    prompts: dict[tuple[int, str], str] = {}
    for entry in attempt.trajectory or []:
        if isinstance(entry, dict) and "same_as_attempt" in entry:
            other = by_index.get(int(entry["same_as_attempt"]))
            for message in (other.trajectory or []) if other else []:
                if isinstance(message, dict) and "content" in message:
                    prompts.setdefault(
                        (other.index, str(message.get("role"))), str(message["content"])
                    )
    details = attempt.details or {}
    lines = [
        f"run {run_id}  instance {instance_id}  attempt {index}",
        f"outcome: {attempt.error_kind or 'candidate'}"
        + (f" ({attempt.error_message})" if attempt.error_message else "")
        + f"; evaluation: {verdict}",
        *flags,
        f"tokens: input {attempt.input_tokens}, output {attempt.output_tokens}, cache read "
        f"{attempt.cache_read_tokens}, cache write {attempt.cache_write_tokens}",
        f"dollars spent: {_dollars(attempt.model_dollars)}; without the response cache: "
        f"{_dollars(details.get('dollars_if_uncached'))}; model calls "
        f"{details.get('model_calls', '?')} ({details.get('cached_calls', 0)} cached)",
        f"wall time {attempt.seconds:.1f} s, sandbox compute {attempt.compute_seconds:.1f} "
        "vCPU-s",
    ]
    samples = attempt_samples(store, attempt.id)
    if samples:
        cached = [use for use in samples if use.outcome == "cached"]
        made = sum(use.dollars_when_made or 0.0 for use in cached)
        lines.append(
            f"ledger: {len(samples)} samples of model calls "
            f"{', '.join(str(use.call_id) for use in samples)}"
            + (f"; {len(cached)} from the response cache, which cost {_dollars(made)} when made"
               if cached else "")
        )
    lines.append("")
    for number, entry in enumerate(attempt.trajectory or [], start=1):
        if not isinstance(entry, dict):
            lines.append(f"--- [{number}] {entry!r}")
            continue
        role = entry.get("role", "?")
        facts = []
        for key in ("step", "cached", "input_tokens", "output_tokens", "dollars", "command",
                    "exit_code", "timed_out", "seconds", "finish_reason", "format_error"):
            if key in entry and key != "command":
                facts.append(f"{key}={entry[key]}")
        lines.append(f"--- [{number}] {role}" + (f"  ({', '.join(facts)})" if facts else ""))
        text = _message_text(entry, prompts)
        for call in entry.get("tool_calls") or []:  # mini-swe-agent's bash tool calls
            text += f"\n[tool call] {(call.get('function') or {}).get('arguments', '')}"
        if max_chars and len(text) > max_chars:
            text = text[:max_chars] + f"\n... ({len(text) - max_chars} more characters)"
        lines.append(text.rstrip("\n"))
    lines += ["", "--- patch", attempt.patch.rstrip("\n") or "(empty)"]
    return "\n".join(lines) + "\n"
