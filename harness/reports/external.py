"""External results as runs: an official SWE-bench run summary (``resolved_ids``), a resolved
list such as the experiments repository's ``results/results.json`` or
``lite_resolved/<system>.json`` (``resolved``), a per-instance map ({id: {"resolved": bool}})
or a plain JSON list of resolved ids. Each task counts as one attempt: pass@1 only, dollars
unknown, and its patch is assumed non-empty (the files do not say)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from harness.reports.rundata import RunData, TaskOutcomes, repo_of

FILE_PREFIX = "file:"


class ExternalResultError(ValueError):
    pass


def looks_external(argument: str) -> bool:
    """`file:PATH`, or a path to an existing file (a run id never names a file)."""
    return argument.startswith(FILE_PREFIX) or Path(argument).is_file()


def _path_of(argument: str) -> Path:
    return Path(argument[len(FILE_PREFIX) :] if argument.startswith(FILE_PREFIX) else argument)


def read_resolved(argument: str) -> tuple[str, set[str], set[str] | None]:
    """(name, resolved ids, the task set if the file states one)."""
    path = _path_of(argument)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ExternalResultError(f"{path}: no such file") from None
    except json.JSONDecodeError as error:
        raise ExternalResultError(f"{path}: not JSON ({error})") from None
    name = path.stem
    universe: set[str] | None = None
    if isinstance(data, list):
        resolved = data
    elif isinstance(data, dict) and "resolved_ids" in data:
        # The official harness's run summary: every id list it has names a task it ran on.
        resolved = data["resolved_ids"]
        listed = data.get("submitted_ids") or [
            i
            for key in ("completed_ids", "empty_patch_ids", "error_ids", "unresolved_ids")
            for i in data.get(key, [])
        ]
        universe = set(listed) | set(resolved) if listed else None
    elif isinstance(data, dict) and isinstance(data.get("resolved"), list):
        resolved = data["resolved"]
        name = str(data.get("system") or name)
    elif isinstance(data, dict) and data and all(
        isinstance(v, dict) and "resolved" in v for v in data.values()
    ):
        resolved = [i for i, v in data.items() if v["resolved"]]
        universe = set(data)
    else:
        raise ExternalResultError(
            f"{path}: not a result file this tool reads; expected a run summary with "
            "'resolved_ids', a JSON object with a 'resolved' list, a map of "
            "{instance_id: {'resolved': true|false}}, or a JSON list of resolved ids"
        )
    if not all(isinstance(i, str) for i in resolved):
        raise ExternalResultError(f"{path}: resolved ids must be strings")
    return name, set(resolved), universe


def external_run(argument: str, universe: list[str] | None = None) -> RunData:
    """A run from a result file. `universe` (the task set) is needed when the file lists only
    resolved ids: every other task of the universe counts as unresolved."""
    name, resolved, stated = read_resolved(argument)
    notes = []
    if stated is not None:
        tasks = sorted(stated)
    elif universe is not None:
        tasks = sorted(universe)
        notes.append(
            f"the file lists resolved ids only: measured on the {len(tasks)} tasks it is "
            "compared with (every other one counts as unresolved)"
        )
    else:
        raise ExternalResultError(
            f"{_path_of(argument)} lists resolved ids only, so its task set is unknown: give "
            "it beside a run of this store, or name the task set with --tasks FILE (a "
            "SWE-bench JSON/JSONL)"
        )
    outside = resolved - set(tasks)
    if outside:
        notes.append(f"{len(outside)} resolved ids outside the task set are not counted")
    outcomes = [
        TaskOutcomes(
            instance_id=instance_id,
            repo=repo_of(instance_id),
            resolved=np.array([instance_id in resolved]),
            cluster=np.array([1]),
            dollars=np.array([0.0]),
        )
        for instance_id in tasks
    ]
    return RunData(
        name=name, agent="external", k_requested=1, tasks=outcomes, external=True,
        dollars_known=False, notes=notes,
    )
