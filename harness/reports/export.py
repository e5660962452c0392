"""A leaderboard package from one run, in the layout of the SWE-bench experiments repository:

    all_preds.jsonl          one prediction per instance (instance_id, model_name_or_path,
                             model_patch), the chosen attempt's patch byte for byte
    preds.json               the same predictions as a JSON list, what `sb-cli submit` reads
    metadata.yaml            info (name, authors, logo, report, site), tags (checked, model,
                             org, os_model, os_system, system.attempts), assets
    <model>.<run>.json       the official evaluation summary (schema_version 2): id lists
    README.md                what was run and how each patch was chosen
    trajs/<id>.traj          the chosen attempt's trajectory (its details when none was stored)
    trajs/<id>.traj.json     --agent mini: the same attempt as mini-swe-agent's own trajectory file
    logs/<id>/               patch.diff, eval.sh, test_output.txt, report.json (official format)
    results/results.json     resolved, no_generation, no_logs: lists of instance ids (the
                             experiments repository's older summary)

The patch per task is chosen without the hidden tests (harness.reports.selection); an oracle
choice is refused. Everything comes from the store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.reports.rundata import RunData, TaskOutcomes
from harness.reports.selection import SELECTORS, check_selector, pick, vote_tally
from harness.store import EvalStatus, EvaluationRecord, Store, TestResultRecord
from harness.store.suspicion import suspicion_of


class SuspiciousSelectionError(ValueError):
    """The selection picked patches whose evaluation is flagged as tampering."""

# What the experiments repository's checklist asks that no store can show.
UNCHECKABLE = (
    "Does not use the `hints` field of SWE-bench: the harness hands agents `hints_text`; "
    "check your agent's prompt.",
    "Does not browse the web, or prevents lookup of SWE-bench solutions: not recorded.",
    "README.md: add the technical report, authors and links; the generated one only states "
    "how the run was made.",
    "metadata.yaml: fill in info.authors, info.logo, info.report and the org, model and "
    "os_model tags; check name, site and os_system.",
    "logs/ and trajs/ are usually uploaded to the organisers' bucket, not committed.",
)

_NOT_APPLIED = {EvalStatus.PATCH_FAILED, EvalStatus.EMPTY_PATCH}
_NO_TESTS = {EvalStatus.TEST_PATCH_FAILED, EvalStatus.TIMEOUT, EvalStatus.ERROR}


@dataclass
class ExportResult:
    out: Path
    predictions: int
    resolved: list[str]
    no_generation: list[str]
    no_logs: list[str]
    checklist: list[str] = field(default_factory=list)  # items this tool cannot check
    suspicious: dict[str, str] = field(default_factory=dict)  # exported anyway, when allowed
    # Instances whose chosen patch was decided by fail fast's stage 1: their logs hold the
    # FAIL_TO_PASS run alone (a FAIL_TO_PASS test failed there, so no full run was needed).
    stage_one: list[str] = field(default_factory=list)


def official_report(
    instance_id: str, patch: str, status: EvalStatus | None, tests: list[TestResultRecord]
) -> dict[str, Any]:
    """The per-instance report.json of the official harness, from a stored evaluation."""
    entry: dict[str, Any] = {
        "patch_is_None": False,
        "patch_exists": bool(patch.strip()),
        "patch_successfully_applied": status is not None and status not in _NOT_APPLIED,
        "resolved": status is EvalStatus.RESOLVED,
    }
    if status is not None and status not in _NOT_APPLIED and status not in _NO_TESTS:
        buckets = {
            kind: {"success": [], "failure": []}
            for kind in ("FAIL_TO_PASS", "PASS_TO_PASS", "FAIL_TO_FAIL", "PASS_TO_FAIL")
        }
        # Tests outside both lists (kind OTHER) are not reported, and FAIL_TO_FAIL /
        # PASS_TO_FAIL stay empty, as the official harness does by default.
        for test in sorted(tests, key=lambda t: t.id):
            if test.kind in ("FAIL_TO_PASS", "PASS_TO_PASS"):
                buckets[test.kind]["success" if test.passed else "failure"].append(test.name)
        entry["tests_status"] = buckets
    return {instance_id: entry}


def stored_picks(
    store: Store, run: RunData, method: str
) -> tuple[dict[str, tuple[TaskOutcomes, int | None]], dict[str, dict[str, Any]]]:
    """What a selector stored for the run (`python -m harness select RUN --selector NAME`):
    each task's chosen attempt position and the evidence beside it. Raises ValueError when the
    selector has no stored selection on this run."""
    from harness.selection.registry import check_not_oracle

    check_not_oracle(method)
    records = {r.instance_id: r for r in store.selections(run.name, method)}
    if not records:
        raise ValueError(
            f"no stored selection {method!r} on run {run.name}: run `python -m harness select "
            f"{run.name} --selector {method}` first, or choose one of: {', '.join(SELECTORS)}"
        )
    hashes = store.attempt_hashes(run.name)
    chosen: dict[str, tuple[TaskOutcomes, int | None]] = {}
    evidence: dict[str, dict[str, Any]] = {}
    for task in run.tasks:
        record = records.get(task.instance_id)
        position = None
        if record is not None and record.patch_hash is not None:
            position = next((i for i, a in enumerate(task.attempt_ids)
                             if hashes.get(a) == record.patch_hash), None)
        elif record is None and task.n:
            position = pick(task, "first")  # not selected: said in its selection.json
        chosen[task.instance_id] = (task, position)
        evidence[task.instance_id] = {
            "selector": method,
            "chosen_patch_hash": record.patch_hash if record else None,
            "stored": record is not None,
            "error": record.error if record else "no stored selection: the first non-empty",
            "test_seconds": record.test_seconds if record else 0.0,
            "dollars": record.dollars if record else 0.0,
            "evidence": record.evidence if record else {},
            "test_runs": store.selection_runs_of(task.instance_id) if record else [],
        }
    return chosen, evidence


def _model_name(run: RunData, details: dict[str, Any]) -> str:
    model = details.get("model") if isinstance(details, dict) else None
    return f"{run.name}" if not model else f"{run.name}__{model}"


Chosen = dict[str, tuple[TaskOutcomes, int | None]]  # instance -> (task, attempt position)


def export_run(
    store: Store,
    run: RunData,
    method: str,
    out: Path,
    name: str | None = None,
    site: str = "",
    oss: bool = False,
    model_name: str | None = None,
    allow_suspicious: bool = False,
) -> ExportResult:
    """Raises SuspiciousSelectionError, before writing anything, when a chosen patch's
    evaluation is flagged as tampering, unless `allow_suspicious`."""
    if run.external:
        raise ValueError(f"{run.name} is an external result: it has no stored patches to export")
    chosen, evidence = _choices(store, run, method)
    flagged = _flagged(store, chosen, allow_suspicious)
    for folder in ("trajs", "logs", "results"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    predictions, resolved, no_generation, no_logs, stage_one = [], [], [], [], []
    statuses: dict[str, EvalStatus] = {}
    models: set[str] = set()
    stored = store.exported_attempts(
        [task.attempt_ids[position] for task, position in chosen.values() if position is not None]
    )
    for instance_id in sorted(chosen):
        task, position = chosen[instance_id]
        found = stored.get(task.attempt_ids[position]) if position is not None else None
        attempt = found.attempt if found is not None else None
        patch = attempt.patch if attempt is not None else ""
        details = attempt.details if attempt is not None else {}
        if isinstance(details, dict) and details.get("model"):
            models.add(str(details["model"]))
        predictions.append({
            "instance_id": instance_id,
            "model_name_or_path": model_name or _model_name(run, details),
            "model_patch": patch,
        })
        _write_trajectory(out, run, method, task, position, attempt)
        if not patch.strip():
            no_generation.append(instance_id)  # never evaluated, as officially
            continue
        evaluation = found.evaluation if found is not None else None
        if evaluation is None:
            no_logs.append(instance_id)
            continue
        _write_logs(out, instance_id, patch, evaluation, found.tests, evidence.get(instance_id))
        statuses[instance_id] = evaluation.status
        if evaluation.decided_by_stage == 1:
            stage_one.append(instance_id)
        if evaluation.status is EvalStatus.RESOLVED:
            resolved.append(instance_id)

    with (out / "all_preds.jsonl").open("w") as handle:
        for prediction in predictions:
            handle.write(json.dumps(prediction) + "\n")
    (out / "preds.json").write_text(json.dumps(predictions, indent=2))
    results = {"no_generation": no_generation, "no_logs": no_logs, "resolved": resolved}
    (out / "results" / "results.json").write_text(json.dumps(results, indent=2))
    k = run.max_k
    model_name_of_run = predictions[0]["model_name_or_path"] if predictions else run.name
    summary = evaluation_summary(predictions, statuses, no_logs)
    summary_name = f"{model_name_of_run.replace('/', '__')}.{run.name}.json"
    (out / summary_name).write_text(json.dumps(summary, indent=4))
    metadata = _metadata(name or run.name, run.name, site, oss, sorted(models), method, k)
    (out / "metadata.yaml").write_text(yaml.safe_dump(metadata, sort_keys=False))
    checklist = _checklist(k, method)
    (out / "README.md").write_text(
        _readme(run, method, k, len(predictions), resolved, checklist, stage_one)
    )
    return ExportResult(
        out, len(predictions), resolved, no_generation, no_logs, checklist, flagged, stage_one
    )


def _choices(
    store: Store, run: RunData, method: str
) -> tuple[Chosen, dict[str, dict[str, Any]]]:
    """Each task's chosen attempt, by a built-in selection (computed here) or a selector whose
    picks `select` stored (with the evidence each pick rests on)."""
    if method not in SELECTORS:
        return stored_picks(store, run, method)
    check_selector(method)
    chosen: Chosen = {
        task.instance_id: (task, pick(task, method) if task.n else None) for task in run.tasks
    }
    return chosen, {}


def _flagged(store: Store, chosen: Chosen, allow_suspicious: bool) -> dict[str, str]:
    """The chosen patches flagged as tampering, by instance; refused unless allowed."""
    owners = {
        task.attempt_ids[position]: instance_id
        for instance_id, (task, position) in chosen.items() if position is not None
    }
    with store.reading() as session:
        flagged = {owners[a]: why for a, why in suspicion_of(session, owners).items()}
    if flagged and not allow_suspicious:
        first = min(flagged)
        raise SuspiciousSelectionError(
            f"the selection picked {len(flagged)} patches flagged as tampering with the tests "
            f"(e.g. {first}: {flagged[first][:200]}); pass --allow-suspicious to export them"
        )
    return flagged


def _write_logs(
    out: Path,
    instance_id: str,
    patch: str,
    evaluation: EvaluationRecord,
    tests: list[TestResultRecord],
    evidence: dict[str, Any] | None,
) -> None:
    """The official log folder of one instance, and what the selector chose by."""
    logs = out / "logs" / instance_id
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "patch.diff").write_text(patch)
    (logs / "eval.sh").write_text(evaluation.eval_script)
    (logs / "test_output.txt").write_text(evaluation.test_output)
    report = official_report(instance_id, patch, evaluation.status, tests)
    (logs / "report.json").write_text(json.dumps(report, indent=4))
    if evidence is not None:
        # What the selector chose by: its stages' evidence and every test run it rests on.
        (logs / "selection.json").write_text(json.dumps(evidence, indent=2, default=str))


def _metadata(
    name: str, run_name: str, site: str, oss: bool, models: list[str], method: str, k: int
) -> dict[str, Any]:
    return {
        # Kept at the top level too: older tools of the experiments repository read them there.
        "name": name,
        "oss": oss,
        "site": site,
        "verified": False,
        "info": {"name": name, "authors": "", "logo": "", "report": "", "site": site},
        "tags": {
            "checked": False,
            "model": models,
            "org": "",
            "os_model": False,
            "os_system": oss,
            # The leaderboard marks best-of-k systems: "2+" when one patch was chosen from
            # several attempts, "1" for a single attempt.
            "system": {"attempts": "2+" if k > 1 else "1"},
            "attempts_per_task": k,
            "selection": method,
            "harness_run": run_name,
        },
        "assets": {"logs": "logs/", "trajs": "trajs/"},
    }

def evaluation_summary(
    predictions: list[dict[str, Any]], statuses: dict[str, EvalStatus], no_logs: list[str]
) -> dict[str, Any]:
    """The official harness's run summary (schema_version 2) for the exported predictions.

    As officially: an empty patch is not evaluated; a run that timed out has no report, so it
    is an error; every other verdict is a completed instance, resolved or not. A chosen patch
    whose evaluation is missing (an infrastructure failure here) is an error and an
    infrastructure failure."""
    ids = sorted(p["instance_id"] for p in predictions)
    empty = sorted(p["instance_id"] for p in predictions if not p["model_patch"].strip())
    timed_out = sorted(i for i, s in statuses.items() if s is EvalStatus.TIMEOUT)
    completed = sorted(i for i, s in statuses.items() if s is not EvalStatus.TIMEOUT)
    resolved = sorted(i for i in completed if statuses[i] is EvalStatus.RESOLVED)
    unresolved = sorted(i for i in completed if statuses[i] is not EvalStatus.RESOLVED)
    errors = sorted(set(timed_out) | set(no_logs))
    reasons = {i: "evaluation missing: infrastructure error in the harness" for i in no_logs}
    reasons.update({i: "test run timed out" for i in timed_out})
    return {
        "total_instances": len(ids),
        "submitted_instances": len(ids),
        "completed_instances": len(completed),
        "resolved_instances": len(resolved),
        "unresolved_instances": len(unresolved),
        "infra_failure_instances": len(no_logs),
        "ambiguous_failure_instances": len(timed_out),
        "empty_patch_instances": len(empty),
        "error_instances": len(errors),
        "completed_ids": completed,
        "incomplete_ids": [],
        "empty_patch_ids": empty,
        "submitted_ids": ids,
        "resolved_ids": resolved,
        "unresolved_ids": unresolved,
        "infra_failure_ids": sorted(no_logs),
        "ambiguous_failure_ids": timed_out,
        "failure_reasons": dict(sorted(reasons.items())),
        "error_ids": errors,
        "schema_version": 2,
    }


def _write_trajectory(out, run, method, task, position, attempt) -> None:
    record: dict[str, Any] = {
        "instance_id": task.instance_id,
        "run": run.name,
        "selection": method,
        "attempts_counted": task.n,
        "vote_tally": vote_tally(task) if task.n else [],
    }
    if attempt is None:
        record["note"] = "no attempt produced a non-empty patch" if task.n else (
            f"no counted attempt{': ' + task.error if task.error else ''}"
        )
    else:
        record["attempt_index"] = attempt.index
        record["attempt_seed"] = attempt.seed
        if attempt.trajectory is not None:
            record["trajectory"] = attempt.trajectory
        else:
            record["details"] = attempt.details
    path = out / "trajs" / f"{task.instance_id}.traj"
    path.write_text(json.dumps(record, indent=2, default=str))
    from harness.agents.mini.trajectory import is_mini_attempt, write_mini_trajectory

    if attempt is not None and is_mini_attempt(attempt):
        # --agent mini: its own format too, as its batch runner names it.
        write_mini_trajectory(attempt, task.instance_id,
                              out / "trajs" / f"{task.instance_id}.traj.json")


def _checklist(k: int, method: str) -> list[str]:
    items = []
    if k > 1:
        items.append(
            f"Is a pass@1 submission: NO. Each task had {k} attempts and one patch was chosen "
            f"by {method} (without tests); say so in README.md and the PR, as the leaderboard "
            "marks multi-attempt systems."
        )
    items.append(
        "Does not use SWE-bench test knowledge (PASS_TO_PASS, FAIL_TO_PASS): the selection "
        "used no test outcome (checked); agents get a task view without the tests (by the "
        "harness's design; a custom agent must not read them some other way)."
    )
    return items + list(UNCHECKABLE)


def _readme(run, method, k, count, resolved, checklist, stage_one) -> str:
    rate = 100 * len(resolved) / count if count else 0.0
    lines = [
        f"# {run.name}",
        "",
        f"Exported by `python -m harness export {run.name} --select {method}` from the "
        "harness's results store.",
        "",
        f"- agent: `{run.agent}`; attempts per task: {k}",
        f"- selection: `{method}` (one patch per task, chosen without the hidden tests)",
        f"- resolved: {len(resolved)} of {count} instances ({rate:.1f}%) by the harness's own "
        "evaluation; the organisers' evaluation is authoritative",
    ]
    if stage_one:
        lines.append(
            f"- fail fast: the logs of {len(stage_one)} unresolved instance(s) hold only the "
            "run of their FAIL_TO_PASS tests, where one failed, so the full test command was "
            f"not run: {', '.join(stage_one)}"
        )
    lines += [
        "",
        "## Submission checklist (to fill in by hand)",
        "",
    ]
    lines += [f"- [ ] {item}" for item in checklist]
    return "\n".join(lines) + "\n"
