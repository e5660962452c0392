"""Where tests find data kept outside the repository; tests that need it skip, naming the path,
when it is absent. Both are environment variables with a default:

- HARNESS_MIRRORS: bare git mirrors laid out as <owner>/<name> (default /work/mirrors).
- HARNESS_SWEBENCH: the folder of the SWE-bench files, swe_bench_lite.jsonl among them
  (default: shared/swebench beside the checkout, i.e. <checkout>/../shared/swebench).
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIRRORS = Path(os.environ.get("HARNESS_MIRRORS") or "/work/mirrors")
SWEBENCH = Path(os.environ.get("HARNESS_SWEBENCH") or ROOT.parent / "shared" / "swebench")
LITE = SWEBENCH / "swe_bench_lite.jsonl"
