"""The run report: solve rate at k with intervals, and dollars at k, read from the store alone."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.reports.analysis import RunAnalysis, analyze
from harness.reports.rundata import RunData, load_run
from harness.reports.scaling import NoFit
from harness.reports.suspicion import summarize
from harness.store import Store


@dataclass
class RunReport:
    """What `run` prints when it ends: the facts of how the run went (status, errors, verdicts,
    totals), then the same analysis `report` prints, from the same engine."""

    run_id: str
    agent: str
    k_requested: int
    status: str
    # Why the run ended as it did (e.g. which budget ran out); empty when it simply finished.
    status_note: str
    vcpu_hour_dollars: float
    analysis: RunAnalysis
    attempts_counted: int
    attempts_pending: int  # stored, evaluation not yet done
    infra_errors: int
    agent_errors: dict[str, int]
    evaluation_statuses: dict[str, int]
    task_errors: dict[str, str] = field(default_factory=dict)
    # Tasks the run left out because they failed validation: instance id -> why.
    left_out: dict[str, str] = field(default_factory=dict)
    model_dollars: float = 0.0
    compute_dollars: float = 0.0
    budget_cut: int = 0  # attempts a budget cut short: kept, not counted, made again later
    # The ledger of spend (harness.store.spend.RunSpend): billed = counted + not counted +
    # unused, and what the cached answers cost when they were made.
    spend: dict[str, Any] = field(default_factory=dict)
    # Resolved attempts whose evaluation is flagged as tampering (counted, shown apart).
    resolved_suspicious: int = 0
    suspicion_lines: list[str] = field(default_factory=list)

    @property
    def solved_tasks(self) -> int:
        return self.analysis.solved_at_least_once

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["analysis"] = self.analysis.to_json()
        data["solved_tasks"] = self.solved_tasks
        return data


def build_report(
    store: Store, run_id: str, bootstrap_samples: int = 1000, data: RunData | None = None
) -> RunReport:
    """The run's facts, and its analysis by `analyze`: per-task counts come from `load_run`,
    the one reader of attempts that every analysis shares (`data`: its result, when the
    caller has it already)."""
    data = data if data is not None else load_run(store, run_id)
    run = store.run(run_id)
    assert run is not None  # load_run raised otherwise
    totals = store.run_totals(run_id)
    resolved_by_task = {task.instance_id: task.c for task in data.tasks}
    suspicion = summarize(store, run_id, resolved_by_task)
    return RunReport(
        run_id=run.id,
        agent=run.agent,
        k_requested=run.k,
        status=run.status,
        status_note=run.note,
        vcpu_hour_dollars=run.vcpu_hour_dollars,
        analysis=analyze(data, bootstrap_samples=bootstrap_samples),
        attempts_counted=sum(task.n for task in data.tasks),
        attempts_pending=data.attempts_pending,
        infra_errors=data.infra_errors,
        agent_errors=totals.agent_errors,
        evaluation_statuses=totals.evaluation_statuses,
        task_errors={task.instance_id: task.error for task in data.tasks if task.error},
        left_out=dict(run.config.get("left_out") or {}),
        model_dollars=totals.model_dollars,
        compute_dollars=totals.compute_seconds * run.vcpu_hour_dollars / 3600.0,
        budget_cut=data.budget_cut,
        spend=data.spend,
        resolved_suspicious=len(suspicion.resolved_flagged),
        suspicion_lines=suspicion.lines(sum(resolved_by_task.values())),
    )


def _dollars(value: float, known: bool = True) -> str:
    if not known:
        return "unknown"
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def run_facts(report: RunReport) -> list[str]:
    """How the run went: status, what was not counted and why, totals, verdicts."""
    lines = [
        f"run {report.run_id}  agent={report.agent}  status={report.status}"
        + (f" ({report.status_note})" if report.status_note else ""),
        f"attempts counted: {report.attempts_counted}  (k requested: {report.k_requested})",
    ]
    if report.attempts_pending or report.infra_errors or report.budget_cut:
        lines.append(
            f"not counted: {report.attempts_pending} awaiting evaluation, "
            f"{report.infra_errors} infrastructure errors, {report.budget_cut} cut short by a "
            "budget (kept in the store; rerun the same run id to redo them)"
        )
    if report.agent_errors:
        errors = ", ".join(
            f"{kind}: {count}" for kind, count in sorted(report.agent_errors.items())
        )
        lines.append(f"attempts that failed inside the agent (counted as failures): {errors}")
    if report.left_out:
        lines.append(
            f"left out by validation: {len(report.left_out)} tasks "
            "(rerun with --include-unvalidated to keep them)"
        )
        lines += [f"  {task}: {why}" for task, why in sorted(report.left_out.items())]
    for instance_id, error in sorted(report.task_errors.items()):
        lines.append(f"task {instance_id} has no attempts: {error}")
    lines.append(
        f"spent: model {_dollars(report.model_dollars)} + sandbox compute "
        f"{_dollars(report.compute_dollars)} (at ${report.vcpu_hour_dollars:.4f} per vCPU-hour)"
    )
    if report.evaluation_statuses:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(report.evaluation_statuses.items()))
        lines.append(f"verdicts of counted attempts: {statuses}")
    lines += report.suspicion_lines
    return lines


def render_table(report: RunReport) -> str:
    """The run's facts, then exactly what `python -m harness report RUN` prints."""
    return "\n".join(run_facts(report)) + "\n\n" + render_analyses([report.analysis])


def render_json(report: RunReport) -> str:
    return json.dumps(report.to_json(), indent=2, sort_keys=True)


# --- the full report: several runs, selection beside oracle, per repository, scaling fit -------


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _interval(low: float, high: float) -> str:
    return f"{100 * low:.1f}-{100 * high:.1f}"


def method_notes(analyses: list[RunAnalysis]) -> list[str]:
    store_runs = [a for a in analyses if not a.external]
    first = store_runs[0] if store_runs else (analyses[0] if analyses else None)
    level = f"{100 * first.level:.0f}%" if first else "95%"
    samples = first.bootstrap_samples if first else 1000
    vote_samples = first.vote_samples if first else 0
    seed = first.seed if first else 0
    notes = [
        "solve rate (oracle) at k: unbiased pass@k (Chen et al. 2021) per task, averaged over "
        f"tasks; {level} intervals: {samples} bootstrap resamples of tasks (seed {seed}).",
        "vote at k: majority vote over normalized patches (empty patches never vote), expected "
        "over random k-subsets with ties broken at random: exact when every non-empty patch "
        f"of a task has one verdict or k = n, otherwise a seeded average over {vote_samples} "
        f"random k-subsets per task (seed {seed}).",
        "first at k: the first non-empty attempt among k, exact: pass@k(n, m, k) * c/m for m "
        "non-empty and c resolved attempts.",
        "gap = oracle - vote: what choosing by the hidden tests adds over a selection a "
        "leaderboard accepts.",
        "dollars at k: expected spend of k attempts on every task (model + sandbox compute).",
        "fit: solve rate ~ exp(a * k^b) (Brown et al. 2024), least squares on log(solve rate) "
        "at log-spaced k; ranges from fits on bootstrap resamples of tasks; no forecast past "
        "4x the largest k measured.",
    ]
    if any(a.external for a in analyses):
        notes.append(
            "external results (published resolved lists) count as one attempt per task: "
            "pass@1 only, dollars unknown."
        )
    return notes


def run_sections(analysis: RunAnalysis) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) tables for one run."""
    tables = []
    header = ["k", "solve rate", "CI", "vote", "CI", "first", "CI", "gap", "dollars at k"]
    when_made = analysis.dollars_when_made
    if when_made is not None:
        # Cached answers cost nothing now: this column says what they cost when made.
        header.append("at cost when made")
    rows = []
    vote, first = analysis.selections.get("vote"), analysis.selections.get("first")
    for i, k in enumerate(analysis.ks):
        dollars = "unknown" if analysis.dollars is None else _dollars(analysis.dollars[i])
        row = [
            str(k),
            _pct(analysis.oracle.rate[i]),
            _interval(analysis.oracle.low[i], analysis.oracle.high[i]),
            _pct(vote.rate[i]),
            _interval(vote.low[i], vote.high[i]),
            _pct(first.rate[i]),
            _interval(first.low[i], first.high[i]),
            f"{100 * (analysis.oracle.rate[i] - vote.rate[i]):+.1f}",
            dollars,
        ]
        if when_made is not None:
            row.append(_dollars(when_made[i]))
        rows.append(row)
    tables.append(("solve rate at k, and selection at the same k", header, rows))
    if analysis.repos:
        k = analysis.max_k
        repo_header = ["repository", "tasks", "solve rate k=1", f"solve rate k={k}",
                       f"vote k={k}", f"first k={k}"]
        repo_rows = [
            [row.repo, str(row.tasks), _pct(row.oracle[0]), _pct(row.oracle[-1]),
             _pct(row.selections["vote"][-1]), _pct(row.selections["first"][-1])]
            for row in analysis.repos
        ]
        tables.append(("per repository", repo_header, repo_rows))
    return tables


def fit_lines(analysis: RunAnalysis) -> list[str]:
    fit = analysis.fit
    if isinstance(fit, NoFit):
        return [f"scaling fit: none ({fit.reason})"]
    level = f"{100 * fit.level:.0f}%"
    lines = [
        f"scaling fit: solve rate ~ exp(a * k^b) with a = {fit.a:.4f} ({level}: {fit.a_low:.4f}"
        f" to {fit.a_high:.4f}), b = {fit.b:.4f} ({fit.b_low:.4f} to {fit.b_high:.4f}); "
        f"fit error over {len(fit.ks)} log-spaced k from 1 to {fit.max_k}: RMSE "
        f"{100 * fit.rmse:.2f} points, worst {100 * fit.max_error:.2f} points.",
    ]
    for forecast in fit.forecasts:
        text = forecast.message
        if forecast.status != "beyond_limit":
            if forecast.dollars is None:
                text += "; dollars unknown"
            else:
                high = (
                    _dollars(forecast.dollars_high)
                    if forecast.dollars_high is not None
                    else "past the limit"
                )
                text += (
                    f"; {_dollars(forecast.dollars)} in all ({_dollars(forecast.dollars_low)} "
                    f"to {high})"
                )
        lines.append("  " + text)
    return lines


def run_header(analysis: RunAnalysis) -> list[str]:
    kind = "external result" if analysis.external else f"agent {analysis.agent}"
    return [
        f"run {analysis.name} ({kind}): {analysis.tasks_counted} tasks counted of "
        f"{analysis.tasks_total}, {analysis.solved_at_least_once} solved at least once; "
        f"k up to {analysis.max_k} (requested {analysis.k_requested})"
    ] + [f"note: {note}" for note in analysis.notes]


def side_by_side(analyses: list[RunAnalysis]) -> tuple[list[str], list[list[str]]]:
    header = ["run", "tasks", "solve rate k=1", "largest k", "solve rate", "vote", "first",
              "dollars"]
    rows = []
    for a in analyses:
        if not a.ks:
            rows.append([a.name, str(a.tasks_counted), "-", "-", "-", "-", "-", "-"])
            continue
        rows.append(
            [
                a.name, str(a.tasks_counted), _pct(a.oracle.rate[0]), str(a.max_k),
                _pct(a.oracle.rate[-1]), _pct(a.selections["vote"].rate[-1]),
                _pct(a.selections["first"].rate[-1]),
                "unknown" if a.dollars is None else _dollars(a.dollars[-1]),
            ]
        )
    return header, rows


def _text_table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    line = "  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))
    out = [line, "-" * len(line)]
    out += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return out


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return out


def render_analyses(analyses: list[RunAnalysis], markdown: bool = False) -> str:
    table = _markdown_table if markdown else _text_table
    lines: list[str] = []
    if markdown:
        lines += ["# Solve rate at k", ""]
    if len(analyses) > 1:
        lines.append("## Runs side by side" if markdown else "runs side by side")
        if markdown:
            lines.append("")
        lines += table(*side_by_side(analyses))
        lines.append("")
    for analysis in analyses:
        if markdown:
            lines += [f"## {analysis.name}", ""]
        lines += run_header(analysis)
        lines.append("")
        if not analysis.ks:
            lines += ["no evaluated attempts yet: nothing to report", ""]
            continue
        for title, header, rows in run_sections(analysis):
            lines.append(f"### {title}" if markdown else f"{title}:")
            if markdown:
                lines.append("")
            lines += table(header, rows)
            lines.append("")
        if not analysis.external:
            lines += fit_lines(analysis)
            lines.append("")
    lines.append("## How these figures are made" if markdown else "how these figures are made:")
    if markdown:
        lines.append("")
    lines += [f"- {note}" for note in method_notes(analyses)]
    return "\n".join(lines)


def render_analyses_json(analyses: list[RunAnalysis], selections: list[dict] | None = None) -> str:
    """selections: the stored runs' selection tables (harness.reports.selection_table)."""
    return json.dumps(
        {"runs": [a.to_json() for a in analyses], "methods": method_notes(analyses),
         "selections": selections or []},
        indent=2,
        sort_keys=True,
    )
