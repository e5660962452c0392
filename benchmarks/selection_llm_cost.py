"""What the LLM selectors' prompts cost on real tasks, without calling a model.

For each SWE-bench Lite task it renders the prompts `repro` and `judge` would send (the bundled
definitions, or --selector-config), with the judge shown the top candidates among the 7 Lite
systems of `lite_preds/` (not gold) taken as 7 attempts, and counts their tokens with litellm's
tokenizer for --model. Prints the distribution of prompt tokens per task and the dollars per
task and per 300 tasks at the model's price (litellm's bundled map, or --prices), with the
answer lengths given by --test-tokens and --judge-tokens (assumptions, printed as such: the
prompt side is measured, the answer side is not).

    python benchmarks/selection_llm_cost.py --model gpt-4o-mini
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared_data import default_data  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SYSTEMS = (
    "20240402_sweagent_gpt4", "20240523_aider", "20240530_autocoderover-v20240408",
    "20240604_CodeR", "20240609_moatless_gpt4o", "20240617_moatless_gpt4o",
    "20240623_moatless_claude35sonnet",
)




def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="the shared swebench folder")
    parser.add_argument("--model", default="gpt-4o-mini", help="litellm model (tokenizer, price)")
    parser.add_argument("--prices", default=None, help="price file (as --prices of run)")
    parser.add_argument("--selector-config", default=None)
    parser.add_argument("--test-tokens", type=int, default=400,
                        help="assumed output tokens of one reproduction test")
    parser.add_argument("--judge-tokens", type=int, default=300,
                        help="assumed output tokens of one judge answer")
    return parser.parse_args(argv)


def percentile(values: list[int], share: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from harness.models._litellm import litellm_module
    from harness.models.pricing import PriceTable
    from harness.patches import patch_hash
    from harness.selection.base import CandidateView, Pool, SelectionContext
    from harness.selection.llm.config import load_definition
    from harness.selection.llm.judge import JudgeSelector, by_votes
    from harness.selection.llm.repro import ReproSelector
    from harness.tasks import task_from_row

    data = Path(args.data) if args.data else default_data()
    lite = data / "swe_bench_lite.jsonl"
    if not lite.is_file():
        print(f"no {lite}: pass --data", file=sys.stderr)
        return 2
    views = [task_from_row(json.loads(line)).view() for line in lite.open()]
    predictions: dict[str, list[str]] = {}
    for system in SYSTEMS:
        for line in (data / "lite_preds" / f"{system}.jsonl").open():
            row = json.loads(line)
            predictions.setdefault(row["instance_id"], []).append(row.get("model_patch") or "")

    repro_definition = load_definition("repro", args.selector_config)
    judge_definition = load_definition("judge", args.selector_config)
    # The prompts are rendered exactly as the selectors render them; no model is built.
    repro = ReproSelector(repro_definition, None)  # type: ignore[arg-type]
    judge = JudgeSelector(judge_definition, None)  # type: ignore[arg-type]
    litellm = litellm_module()
    price = PriceTable(args.prices).price_for(args.model)
    if price is None:
        print(f"no price known for {args.model}: pass --prices", file=sys.stderr)
        return 2

    repro_tokens: list[int] = []
    judge_tokens: list[int] = []
    judged = 0
    for view in views:
        context = SelectionContext(view, Pool(()))
        repro_tokens.append(litellm.token_counter(model=args.model,
                                                  messages=repro.messages(context)))
        groups: dict[str, list[int]] = {}
        patches: dict[str, str] = {}
        for position, patch in enumerate(predictions.get(view.instance_id, [])):
            if patch.strip():
                digest = patch_hash(patch)
                groups.setdefault(digest, []).append(position)
                patches.setdefault(digest, patch)
        pool = Pool(tuple(CandidateView(d, patches[d], tuple(p)) for d, p in groups.items()))
        shown = by_votes(pool)[: judge_definition.top]
        if len(shown) > 1:
            judged += 1
            judge_tokens.append(litellm.token_counter(
                model=args.model, messages=judge.messages(context, shown)))

    def dollars(prompt: int, output: int) -> float:
        return price.dollars(prompt, output)

    calls = math.ceil(repro_definition.tests / repro_definition.samples_per_call)
    repro_task = [dollars(t * calls, args.test_tokens * repro_definition.tests)
                  for t in repro_tokens]
    judge_task = [dollars(t, args.judge_tokens) for t in judge_tokens]
    print(f"model {args.model}: ${price.input * 1e6:.3f} / ${price.output * 1e6:.3f} per "
          f"million input / output tokens; {len(views)} Lite tasks")
    print(f"repro: {repro_definition.tests} tests in {calls} call(s) per task; prompt tokens "
          f"per call median {statistics.median(repro_tokens):.0f}, p90 "
          f"{percentile(repro_tokens, 0.9)}, max {max(repro_tokens)} (measured); output "
          f"{args.test_tokens} tokens per test (assumed)")
    print(f"  dollars per task: mean ${statistics.mean(repro_task):.5f}, max "
          f"${max(repro_task):.5f}; all {len(views)} tasks ${sum(repro_task):.3f}")
    print(f"judge: top {judge_definition.top} of the 7 systems' distinct patches, "
          f"{judge_definition.diff_chars} characters per diff at most; {judged} of "
          f"{len(views)} tasks have 2+ distinct candidates (the rest need no call)")
    print(f"  prompt tokens median {statistics.median(judge_tokens):.0f}, p90 "
          f"{percentile(judge_tokens, 0.9)}, max {max(judge_tokens)} (measured); output "
          f"{args.judge_tokens} tokens (assumed)")
    print(f"  dollars per judged task: mean ${statistics.mean(judge_task):.5f}, max "
          f"${max(judge_task):.5f}; all tasks ${sum(judge_task):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
