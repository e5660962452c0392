"""Wall time of a no-op rerun of an LLM run: the same `python -m harness run` command again
once everything is done (goal under 3 s; litellm, seconds to import, must not be imported).

Makes the run first (oneshot on one demo task, k=2, against the stand-in on 127.0.0.1; needs
Docker), then times the rerun in fresh processes.

    PYTHONPATH=. python benchmarks/noop_rerun.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run the package of this checkout, not whichever one is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fake_openai import FakeOpenAI, text_reply  # noqa: E402

PRICES = "models:\n  openai/fake-model:\n    input_per_million: 1.0\n    output_per_million: 2.0\n"
PROBE = (
    "import sys\nfrom harness.cli import main\ncode = main(sys.argv[1:])\n"
    "print('litellm imported:', 'litellm' in sys.modules, file=sys.stderr)\n"
    "raise SystemExit(code)\n"
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="noop-rerun-"))
    (work / "prices.yaml").write_text(PRICES)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with FakeOpenAI(responder=lambda body: text_reply("no idea")) as server:
        argv = ["run", "--dataset", "demo", "--limit", "1", "--agent", "oneshot", "--model",
                "openai/fake-model", "--api-base", server.base_url, "--prices",
                str(work / "prices.yaml"), "--k", "2", "--db", str(work / "h.db"),
                "--cache-dir", str(work / "cache"), "--json"]
        for number in range(args.repeats + 1):
            started = time.monotonic()
            done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True,
                                  text=True, env=env, cwd=work)
            seconds = time.monotonic() - started
            imported = "litellm imported: True" in done.stderr
            label = "first run (makes the attempts)" if number == 0 else f"no-op rerun {number}"
            print(f"{label}: {seconds:.2f} s, exit {done.returncode}, litellm imported: "
                  f"{imported}")


if __name__ == "__main__":
    main()
