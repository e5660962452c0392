"""The viewer's URLs: one per run, task, attempt and comparison. `report`, `compare` and the CI
summary print them (with --view-url) so a figure leads to the attempts behind it."""

from __future__ import annotations

from urllib.parse import quote, urlencode


def _segment(value: str) -> str:
    return quote(value, safe="")


def runs_path() -> str:
    return "/"


def run_path(run_id: str) -> str:
    return f"/runs/{_segment(run_id)}"


def task_path(run_id: str, instance_id: str) -> str:
    return f"{run_path(run_id)}/tasks/{_segment(instance_id)}"


def attempt_path(run_id: str, instance_id: str, index: int) -> str:
    return f"{task_path(run_id, instance_id)}/attempts/{int(index)}"


def compare_path(baseline: str, candidate: str) -> str:
    return "/compare?" + urlencode({"baseline": baseline, "candidate": candidate})


def absolute(base_url: str, path: str) -> str:
    """`path` under the viewer at `base_url` (e.g. http://127.0.0.1:8765)."""
    return base_url.rstrip("/") + path
