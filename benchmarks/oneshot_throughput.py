"""Throughput of the oneshot agent at k samples of one task against a local model server.

    python benchmarks/oneshot_throughput.py                 # k=250, starts SmolLM2 locally
    python benchmarks/oneshot_throughput.py --api-base http://127.0.0.1:8000/v1 --model openai/x

Prints samples per second, prompt tokens billed per sample, and the harness's own overhead:
harness wall time divided by the time spent waiting on the model (1.0 would be no overhead),
and the seconds per sample that are not model time (retrieval, edit parsing, `git apply
--check` in the sandbox, bookkeeping).

Attempts are made as the runner makes them for one task: in index order, in one Docker sandbox
holding the first demo task, without the response cache (every answer is paid for). Needs
Docker, and `pip install -e '.[local]'` unless --api-base is given. Not a test: nothing is
asserted, figures are printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import yaml

# Run the package of this checkout, not whichever one is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from harness.agents.base import AttemptContext
from harness.agents.llm_config import load_definition
from harness.agents.llm_factory import build_llm_agent
from harness.demo import load_demo_tasks
from harness.images.build import prepare_instance_image
from harness.models.local_server import MODEL_ALIAS, LocalModelServer
from harness.repos import RepoSource
from harness.sandboxes.docker_sandbox import DockerSandbox, SandboxLimits
from harness.store import Store


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=250)
    parser.add_argument("--samples-per-call", type=int, default=25,
                        help="answers asked for per call (`n`); 1 for one call per sample")
    parser.add_argument("--max-tokens", type=int, default=48, help="answer length cap")
    parser.add_argument("--prompt-chars", type=int, default=6000,
                        help="characters of retrieved files in the prompt")
    parser.add_argument("--model", default=f"openai/{MODEL_ALIAS}")
    parser.add_argument("--api-base", help="an OpenAI-compatible server (default: start one)")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    import docker

    client = docker.from_env()
    task = load_demo_tasks()[0]
    work = Path(tempfile.mkdtemp(prefix="oneshot-bench-"))
    image = prepare_instance_image(client, task, RepoSource(None, work / "repos"))

    values = load_definition("oneshot").model_dump(mode="json")
    values["samples_per_call"] = args.samples_per_call
    values["model"]["max_tokens"] = args.max_tokens
    values["retrieval"].update(max_chars=args.prompt_chars, max_file_chars=args.prompt_chars,
                               repo_map_chars=500)
    definition = work / "oneshot.yaml"
    definition.write_text(yaml.safe_dump(values))
    prices = work / "prices.yaml"
    prices.write_text(
        f"models:\n  {args.model}:\n    input_per_million: 0\n    output_per_million: 0\n"
    )

    with ExitStack() as stack:
        api_base = args.api_base
        if api_base is None:
            server = stack.enter_context(
                LocalModelServer(threads=args.threads, log_path=work / "server.log")
            )
            api_base = server.base_url
        store = Store(work / "bench.db")
        stack.callback(store.close)
        agent = build_llm_agent(
            str(definition), model=args.model, api_base=api_base, prices_path=prices,
            max_connections=1, cache=False, store=store,
        )
        sandbox = stack.enter_context(DockerSandbox.start(client, image, SandboxLimits()))
        started = time.monotonic()
        candidates = [
            agent.attempt(AttemptContext(task.view(), index, index,
                                         upcoming=tuple(range(index, args.k))), sandbox)
            for index in range(args.k)
        ]
        wall = time.monotonic() - started

    model_wait = sum(c.details.get("model_seconds", 0.0) for c in candidates)
    billed = sum(
        c.details.get("batch_prompt_tokens", 0) for c in candidates
        if c.details.get("model_calls")
    )
    calls = sum(c.details.get("model_calls", 0) for c in candidates)
    outcomes = Counter(c.error.value if c.error else "patch" for c in candidates)
    figures = {
        "k": args.k,
        "samples_per_call_asked": args.samples_per_call,
        "model_calls": calls,
        "wall_seconds": round(wall, 2),
        "model_wait_seconds": round(model_wait, 2),
        "samples_per_second": round(args.k / wall, 3),
        "prompt_tokens_billed_per_sample": round(billed / args.k, 1),
        "output_tokens_per_sample": round(sum(c.usage.output_tokens for c in candidates)
                                          / args.k, 1),
        "overhead_ratio_wall_over_model_wait": round(wall / model_wait, 3)
        if model_wait else None,
        "harness_seconds_per_sample": round((wall - model_wait) / args.k, 4),
        "outcomes": dict(outcomes),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            print(f"{key:38} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
