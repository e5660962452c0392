"""Where the benchmarks find the shared SWE-bench data (`../shared/swebench` beside a checkout)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def default_data() -> Path:
    """The first `shared/swebench` folder above this checkout or the current folder."""
    for start in (ROOT, Path.cwd().resolve()):
        for folder in (start, *start.parents):
            candidate = folder / "shared" / "swebench"
            if candidate.is_dir():
                return candidate
    return ROOT.parent / "shared" / "swebench"
