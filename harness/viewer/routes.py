"""The viewer's pages: each gathers what it shows (through harness.store.browse and the cached
figures of harness.viewer.figures) and renders one template. Every page reads a bounded part
of the store: a page of runs, of tasks, of attempts, of a log."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from harness.reports.metrics import pass_at_k
from harness.reports.render import method_notes, run_sections
from harness.reports.rundata import TaskOutcomes, clusters_of
from harness.reports.selection import SELECTORS, pick
from harness.store import Store
from harness.store.browse import AttemptCell
from harness.viewer import text
from harness.viewer.figures import FigureCache

RUNS_PER_PAGE = 100
TASKS_PER_PAGE = 200
CELLS_PER_PAGE = 250  # attempts in a task's grid
ROWS_PER_PAGE = 50  # attempts in a task's table
TURNS_PER_PAGE = 25  # trajectory entries on an attempt's page
TESTS_SHOWN = 2000


def _render(request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    page = request.app.state.env.get_template(name).render(request=request, **values)
    return HTMLResponse(page, status_code=status)


def _store(request: Request) -> Store:
    return request.app.state.store


def _figures(request: Request) -> FigureCache:
    return request.app.state.figures


def _page(request: Request, name: str = "page") -> int:
    try:
        return max(0, int(request.query_params.get(name, "0")))
    except ValueError:
        return 0


async def not_found(request: Request, error: Exception) -> Response:
    detail = getattr(error, "detail", "not found")
    return _render(request, "error.html", status=404, title="Not found", message=detail)


async def not_allowed(request: Request, _error: Exception) -> Response:
    response = _render(request, "error.html", status=405, title="Read-only",
                       message=f"{request.method} is not allowed: the viewer only reads.")
    response.headers["allow"] = "GET, HEAD"
    return response


# --- runs --------------------------------------------------------------------------------


def runs_page(request: Request) -> Response:
    page = _page(request)
    rows = _store(request).run_list(limit=RUNS_PER_PAGE + 1, offset=page * RUNS_PER_PAGE)
    lines = []
    for row in rows[:RUNS_PER_PAGE]:
        counts = _figures(request).counts(row)
        max_k = min((n for n, _ in counts.counts), default=0)
        lines.append({
            "row": row,
            "max_k": max_k,
            "rate_1": _mean([c / n for n, c in counts.counts]),
            "rate_max": _mean([pass_at_k(n, c, max_k) for n, c in counts.counts]),
            "dollars": None if counts.unknown_price else (
                counts.model_dollars + counts.compute_seconds * row.vcpu_hour_dollars / 3600
            ),
        })
    return _render(request, "runs.html", title="Runs", lines=lines, page=page,
                   more=len(rows) > RUNS_PER_PAGE)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


# --- a run -------------------------------------------------------------------------------


def run_page(request: Request) -> Response:
    run_id = request.path_params["run_id"]
    figures = _figures(request).run(run_id)
    if figures is None:
        raise HTTPException(404, f"no run {run_id!r} in this store")
    run = _store(request).run(run_id)
    page = _page(request)
    tasks = figures.tasks[page * TASKS_PER_PAGE:(page + 1) * TASKS_PER_PAGE]
    analysis = figures.report.analysis
    return _render(
        request, "run.html", title=f"Run {run_id}", run=run, figures=figures,
        analysis=analysis, sections=run_sections(analysis) if analysis.ks else [],
        methods=method_notes([analysis]), tasks=tasks, page=page,
        pages=-(-len(figures.tasks) // TASKS_PER_PAGE),
    )


# --- a task of a run ---------------------------------------------------------------------


def task_page(request: Request) -> Response:
    store = _store(request)
    run_id, instance_id = request.path_params["run_id"], request.path_params["instance_id"]
    task = store.task_in_run(run_id, instance_id)
    if task is None:
        raise HTTPException(404, f"run {run_id!r} has no task {instance_id!r}")
    grid_page, rows_page = _page(request), _page(request, "rows")
    # One task's attempts without their patches: small rows, read at once; shown by pages.
    every = store.attempt_cells(run_id, task.task_id, 0, max(task.attempts, 1))
    cells = every[grid_page * CELLS_PER_PAGE:(grid_page + 1) * CELLS_PER_PAGE]
    rows = every[rows_page * ROWS_PER_PAGE:(rows_page + 1) * ROWS_PER_PAGE]
    validation = store.newest_validations([(task.instance_id, task.content_hash)]).get(
        task.instance_id
    )
    counted = [cell for cell in every if cell.counted]
    return _render(
        request, "task.html", title=f"{instance_id} in {run_id}", run_id=run_id, task=task,
        cells=cells, rows=rows, grid_page=grid_page, rows_page=rows_page,
        grid_pages=-(-task.attempts // CELLS_PER_PAGE),
        rows_pages=-(-task.attempts // ROWS_PER_PAGE),
        groups=store.patch_groups(run_id, task.task_id), picks=_picks(task.instance_id, counted),
        selections=store.selections_of(run_id, instance_id), validation=validation,
        counted=len(counted), resolved=sum(cell.status is not None and cell.status.resolved
                                           for cell in counted),
        verdicts=_verdict_counts(every),
    )


def _picks(instance_id: str, counted: list[AttemptCell]) -> dict[str, AttemptCell | None]:
    """What `export --select` would submit for the task, by `report`'s own selectors."""
    outcomes = TaskOutcomes(
        instance_id=instance_id, repo="",
        resolved=_array([bool(c.status and c.status.resolved) for c in counted], bool),
        cluster=clusters_of([c.patch_hash for c in counted]),
        dollars=_array([0.0] * len(counted), float),
    )
    chosen = {}
    for method in SELECTORS:
        position = pick(outcomes, method) if counted else None
        chosen[method] = None if position is None else counted[position]
    return chosen


def _array(values: list[Any], kind: type) -> Any:
    import numpy as np

    return np.array(values, dtype=kind)


def _verdict_counts(cells: list[AttemptCell]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for cell in cells:
        counts[cell.verdict] = counts.get(cell.verdict, 0) + 1
    return dict(sorted(counts.items()))


# --- an attempt --------------------------------------------------------------------------


def attempt_page(request: Request) -> Response:
    store = _store(request)
    run_id, instance_id = request.path_params["run_id"], request.path_params["instance_id"]
    index = request.path_params["index"]
    task = store.task_in_run(run_id, instance_id)
    attempt = store.attempt_in_run(run_id, task.task_id, index) if task else None
    if task is None or attempt is None:
        raise HTTPException(404, f"run {run_id!r} has no attempt {index} on {instance_id!r}")
    evaluation = tests = log = output = reruns = None
    if attempt.evaluation_id is not None:
        evaluation = store.evaluation_summary(attempt.evaluation_id)
        tests = store.evaluation_tests(attempt.evaluation_id)
        reruns = store.evaluation_reruns(attempt.evaluation_id)
        output = _text_page(store, attempt.evaluation_id, "test_output", evaluation,
                            _page(request, "output"))
        log = _text_page(store, attempt.evaluation_id, "log", evaluation, _page(request, "log"))
    diff_page = text.page_of(len(attempt.patch), _page(request, "diff"))
    diff = attempt.patch[diff_page.start:diff_page.start + text.PAGE_CHARS]
    turns = attempt.trajectory if isinstance(attempt.trajectory, list) else []
    turns_page = _page(request, "turns")
    shown = turns[turns_page * TURNS_PER_PAGE:(turns_page + 1) * TURNS_PER_PAGE]
    return _render(
        request, "attempt.html", title=f"{instance_id} attempt {index}", run_id=run_id,
        task=task, attempt=attempt, evaluation=evaluation, reruns=reruns or [],
        tests=_tests_by_kind(tests or []), output=output, log=log,
        diff=text.highlight_diff(diff), diff_page=diff_page,
        turns=[_turn(turns_page * TURNS_PER_PAGE + number, entry)
               for number, entry in enumerate(shown, start=1)],
        turns_page=turns_page, turns_pages=-(-len(turns) // TURNS_PER_PAGE),
        ledger=store.ledger_rows(attempt.id), details=attempt.details or {},
    )


def _text_page(store: Store, evaluation_id: int, column: str, summary: dict[str, Any],
               asked: int) -> dict[str, Any]:
    page = text.page_of(int(summary.get(f"{column}_chars") or 0), asked)
    if not page.total:
        return {"page": page, "text": ""}
    return {"page": page, "text": store.text_slice(evaluation_id, column, page.start,
                                                   text.PAGE_CHARS)}


def _tests_by_kind(tests: list[Any]) -> dict[str, dict[str, Any]]:
    grouped: dict[str, dict[str, Any]] = {}
    for kind in ("FAIL_TO_PASS", "PASS_TO_PASS", "OTHER"):
        rows = [test for test in tests if test.kind == kind]
        if rows:
            grouped[kind] = {
                "rows": rows[:TESTS_SHOWN], "total": len(rows),
                "failing": sum(not test.passed for test in rows),
            }
    return grouped


FACT_KEYS = ("step", "cached", "input_tokens", "output_tokens", "dollars", "exit_code",
             "timed_out", "seconds", "finish_reason", "format_error")


def _turn(number: int, entry: Any) -> dict[str, Any]:
    import json

    if not isinstance(entry, dict):
        body = json.dumps(entry, default=str)
        return {"number": number, "role": "?", "facts": [], "command": None, "same_as": None,
                "text": body[:text.MESSAGE_CHARS], "more": max(0, len(body) - text.MESSAGE_CHARS)}
    if "content" in entry:
        body = str(entry["content"])
    elif "same_as_attempt" in entry:
        body = f"(the same prompt as attempt {entry['same_as_attempt']}: see its trajectory)"
    else:
        body = json.dumps(entry, sort_keys=True, default=str)
    return {
        "number": number, "role": str(entry.get("role", "?")),
        "facts": [f"{key}={entry[key]}" for key in FACT_KEYS if key in entry],
        "command": str(entry["command"]) if entry.get("command") else None,
        "same_as": _int_or_none(entry.get("same_as_attempt")),
        "text": body[:text.MESSAGE_CHARS], "more": max(0, len(body) - text.MESSAGE_CHARS),
    }


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


# --- compare two runs --------------------------------------------------------------------


def compare_page(request: Request) -> Response:
    baseline = request.query_params.get("baseline", "")
    candidate = request.query_params.get("candidate", "")
    if not baseline or not candidate:
        raise HTTPException(404, "pick two runs to compare on the runs page")
    compared = _figures(request).comparison(baseline, candidate)
    if compared is None:
        raise HTTPException(404, f"no run {baseline!r} or {candidate!r} in this store")
    if isinstance(compared, str):
        return _render(request, "error.html", status=200, title="Cannot compare",
                       message=compared)
    comparison = compared.comparison
    from harness.reports.compare import IMPROVED, REGRESSED, _summary_rows

    differ = [d for d in comparison.tasks if d.baseline != d.candidate]
    differ.sort(key=lambda d: d.candidate - d.baseline)
    return _render(
        request, "compare.html", title=f"{baseline} vs {candidate}", c=comparison,
        command=compared.command, summary=_summary_rows(comparison), differ=differ,
        regressed=REGRESSED,
        improved=IMPROVED,
    )
