"""`replay`: candidates taken from prediction files in SWE-bench's format.

Each row (`instance_id, model_name_or_path, model_patch`) is one attempt. Several files, or
several rows for one instance, are several attempts, in file order then row order.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from harness.agents.base import AttemptContext, AttemptError, Candidate
from harness.sandboxes.base import Sandbox
from harness.tasks import TaskView


class PredictionFileError(ValueError):
    pass


@dataclass(frozen=True)
class Prediction:
    instance_id: str
    model_name_or_path: str
    model_patch: str
    source: str  # file:line, kept with the attempt


def _whole_file(path: Path, data: bytes) -> list[tuple[int, object]] | None:
    """The rows of a file holding one JSON document (a list, or {instance_id: row}); None
    for JSON Lines."""
    head = data.lstrip()[:1]
    if head != b"[" and not (path.suffix == ".json" and head == b"{"):
        return None
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise PredictionFileError(
            f"{path}:{line}: not UTF-8 (byte {data[error.start]:#04x}); a JSON prediction "
            "file must be UTF-8"
        ) from None
    except json.JSONDecodeError as error:
        raise PredictionFileError(f"{path}:{error.lineno}: not valid JSON: {error.msg}") from None
    # The official harness also accepts {instance_id: prediction}.
    rows = document.values() if isinstance(document, dict) else document
    return list(enumerate(rows, start=1))


def _rows(path: Path) -> list[tuple[int, object]]:
    """(line number, row or the reason it is unusable) for each non-blank row.

    A JSON Lines row that is not UTF-8 is skipped with its line number, not decoded with
    replacement: a patch whose bytes were changed would be a different candidate."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PredictionFileError(
            f"cannot read prediction file {path}: {error.strerror or error}"
        ) from None
    whole = _whole_file(path, data)
    if whole is not None:
        return whole
    rows: list[tuple[int, object]] = []
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            rows.append((number, PredictionFileError(
                f"not UTF-8 (byte {raw[error.start]:#04x} at column {error.start + 1})"
            )))
            continue
        if line.strip():
            try:
                rows.append((number, json.loads(line)))
            except json.JSONDecodeError as error:
                rows.append((number, PredictionFileError(f"not valid JSON: {error.msg}")))
    return rows


def load_predictions(paths: list[Path]) -> tuple[dict[str, list[Prediction]], list[str]]:
    """Predictions by instance, and the problems of rows that were skipped."""
    by_instance: dict[str, list[Prediction]] = {}
    problems: list[str] = []
    for path in paths:
        if not path.is_file():
            raise PredictionFileError(f"prediction file not found: {path}")
        rows = _rows(path)
        if not rows:
            raise PredictionFileError(f"prediction file {path} is empty: it has no predictions")
        for number, row in rows:
            where = f"{path}:{number}"
            if isinstance(row, Exception):
                problems.append(f"{where}: skipped: {row}")
                continue
            if not isinstance(row, dict) or not isinstance(row.get("instance_id"), str):
                problems.append(f"{where}: skipped: a prediction needs a string instance_id")
                continue
            patch = row.get("model_patch")
            if patch is not None and not isinstance(patch, str):
                problems.append(f"{where}: skipped: model_patch must be a string or null")
                continue
            prediction = Prediction(
                instance_id=row["instance_id"],
                model_name_or_path=str(row.get("model_name_or_path") or path.stem),
                # A null patch is the system's way of saying it produced nothing.
                model_patch=patch or "",
                source=where,
            )
            by_instance.setdefault(prediction.instance_id, []).append(prediction)
    if not by_instance:
        shown = "; ".join(problems[:3])
        raise PredictionFileError(f"no usable prediction in {', '.join(map(str, paths))}: {shown}")
    return by_instance, problems


class ReplayAgent:
    name = "replay"
    uses_sandbox = False
    changes_sandbox = False

    def __init__(self, paths: list[str | Path]) -> None:
        if not paths:
            raise PredictionFileError("the replay agent needs at least one --predictions file")
        self.paths = [Path(path) for path in paths]
        self.predictions, self.problems = load_predictions(self.paths)
        digest = hashlib.sha256()
        for path in self.paths:
            digest.update(path.read_bytes())
        self.definition_hash = digest.hexdigest()

    def max_attempts(self, task: TaskView) -> int | None:
        return len(self.predictions.get(task.instance_id, []))

    def attempt(self, context: AttemptContext, sandbox: Sandbox | None) -> Candidate:
        rows = self.predictions.get(context.task.instance_id, [])
        if context.index >= len(rows):
            return Candidate(
                patch="",
                error=AttemptError.AGENT,
                error_message=f"no prediction number {context.index + 1} for this instance",
            )
        prediction = rows[context.index]
        return Candidate(
            patch=prediction.model_patch,
            details={"source": prediction.source, "model": prediction.model_name_or_path},
        )
