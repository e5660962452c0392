"""Command line: `python -m harness run | report | sandbox prune`."""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

from harness.agents.base import Agent
from harness.models.budget import Budget
from harness.reports.render import build_report, render_json, render_table
from harness.store import DEFAULT_DB, Store
from harness.tasks import Task

DEMO = "demo"
# Roughly what clouds charge for one general-purpose vCPU on demand (late 2020s); change it with
# --vcpu-hour-price: the report states the price it used.
DEFAULT_VCPU_HOUR_DOLLARS = 0.04


class UserError(Exception):
    """Bad input from the user: printed as one clear line, exit code 2."""


def _eprint(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_agent(args: argparse.Namespace, store: Store, budget: Budget | None) -> Agent:
    if args.agent == "mutation":
        from harness.agents.mutation import MutationAgent

        return MutationAgent.from_config(args.agent_config)
    if args.agent == "replay":
        from harness.agents.replay import PredictionFileError, ReplayAgent

        try:
            agent = ReplayAgent(args.predictions or [])
        except PredictionFileError as error:
            raise UserError(str(error)) from None
        for problem in agent.problems:
            _eprint(f"warning: {problem}")
        return agent
    if args.agent in ("oneshot", "bash"):
        from harness.agents.llm_factory import LLMAgentError, build_llm_agent

        try:
            llm_agent = build_llm_agent(
                args.agent_config or args.agent,
                model=args.model,
                api_base=args.api_base,
                prices_path=args.prices,
                allow_unknown_price=args.allow_unknown_price,
                max_connections=args.max_connections,
                cache=not args.no_cache,
                store=store,
                budget=budget,
            )
        except LLMAgentError as error:
            raise UserError(str(error)) from None
        for warning in llm_agent.info.warnings:
            _eprint(f"warning: {warning}")
        return llm_agent
    raise UserError(f"unknown agent {args.agent!r}; built in: mutation, replay, oneshot, bash")


def build_budget(args: argparse.Namespace) -> Budget:
    from harness.models.budget import Budget, Limits

    try:
        return Budget(
            args.max_cost,
            per_instance=Limits(
                args.instance_max_cost, args.instance_max_steps, args.instance_max_seconds
            ),
            per_attempt=Limits(
                args.attempt_max_cost, args.attempt_max_steps, args.attempt_max_seconds
            ),
        )
    except ValueError as error:
        raise UserError(str(error)) from None


def model_dollars_spent(store: Store, run_id: str) -> float:
    """What a run already paid for model calls: a resumed run's --max-cost counts it."""
    from sqlalchemy import func, select

    from harness.store import AttemptRecord

    with store.reading() as session:
        spent = session.scalar(
            select(func.sum(AttemptRecord.model_dollars)).where(AttemptRecord.run_id == run_id)
        )
    return float(spent or 0.0)


def default_run_id(args: argparse.Namespace, agent: Agent) -> str:
    dataset = DEMO if args.dataset == DEMO else Path(args.dataset).stem
    subset = ""
    filters = [*sorted(args.instances or []), *sorted(args.repo or [])]
    if args.limit is not None:
        filters.append(f"limit={args.limit}")
    if filters:
        subset = "-" + hashlib.sha256(" ".join(filters).encode()).hexdigest()[:6]
    return f"{agent.name}-{dataset}{subset}-{agent.definition_hash[:8]}-s{args.seed}"


def docker_sandbox_factory(args: argparse.Namespace):
    """Docker-backed sandboxes, connecting to the daemon only when first needed (a rerun that
    finds everything done never touches Docker)."""
    import functools

    from harness.evaluation.evaluator import TestSetup
    from harness.runner import SandboxFactory

    @functools.cache
    def client():
        import docker

        try:
            connection = docker.from_env()
            connection.ping()
        except Exception as error:
            raise UserError(
                f"cannot reach the Docker daemon ({error}); start Docker and retry"
            ) from None
        return connection

    @functools.cache
    def repos():
        from harness.repos import RepoSource

        return RepoSource(
            repos_dir=Path(args.repos_dir) if args.repos_dir else None,
            cache_dir=Path(args.cache_dir),
        )

    def log(message: str) -> None:
        _eprint(f"[images] {message}")

    def prepare_image(task: Task) -> str:
        from harness.sandboxes.images import prepare_instance_image

        return prepare_instance_image(client(), task, repos(), log)

    def start(image: str):
        from harness.sandboxes.docker_sandbox import DockerSandbox, SandboxLimits

        limits = SandboxLimits(memory=args.memory, cpus=args.cpus)
        return DockerSandbox.start(client(), image, limits)

    def test_setup(task: Task) -> TestSetup:
        from harness.sandboxes.specs import spec_for

        spec = spec_for(task.repo, task.version)
        return TestSetup(
            spec.runner_cmd, spec.log_parser, float(spec.test_timeout), spec.network_tests
        )

    return SandboxFactory(prepare_image=prepare_image, start=start, test_setup=test_setup)


def command_run(args: argparse.Namespace) -> int:
    from harness.runner import RunConfigError, Runner, RunPlan

    if args.k < 1:
        raise UserError("--k must be at least 1")
    if args.reruns < 1:
        raise UserError("--reruns must be at least 1")
    from harness.cli.swebench import load_tasks_from_args

    store = Store(args.db)
    try:
        selection = load_tasks_from_args(args, store)
        tasks = selection.tasks
        budget = build_budget(args)
        agent = build_agent(args, store, budget)
        run_id = args.run_id or default_run_id(args, agent)
        budget.spent = model_dollars_spent(store, run_id)
        config = {
            "dataset": args.dataset,
            "instances": args.instances,
            "agent": args.agent,
            "agent_config": args.agent_config,
            "predictions": args.predictions,
            "memory": args.memory,
            "cpus": args.cpus,
            "split": args.split,
            "repo": args.repo,
            "limit": args.limit,
            "include_unvalidated": args.include_unvalidated,
            "left_out": selection.left_out,
            "not_validated": selection.not_validated,
            "argv": sys.argv[1:],
        }
        info = getattr(agent, "info", None)
        if info is not None:
            config["llm"] = info.record
        flaky: frozenset[str] = frozenset()
        if args.reruns > 1:
            from harness.flaky import flaky_instances

            config["reruns"] = args.reruns
            flaky = frozenset(flaky_instances(store, [t.instance_id for t in tasks]))
        plan = RunPlan(
            run_id=run_id,
            k=args.k,
            seed=args.seed,
            max_sandboxes=args.max_sandboxes,
            vcpu_hour_dollars=args.vcpu_hour_price,
            config=config,
            reruns=args.reruns,
            flaky=flaky,
        )
        runner = Runner(store, agent, docker_sandbox_factory(args), plan, log=_eprint)
        runner.on_finish = lambda: {"budget": budget.summary()}
        try:
            status = runner.run(tasks)
        except RunConfigError as error:
            raise UserError(str(error)) from None
        report = build_report(store, run_id)
    finally:
        store.close()
    print(render_json(report) if args.json else render_table(report))
    if status == "interrupted":
        _eprint(f"interrupted: rerun the same command (run id {run_id}) to finish the work")
        return 130
    if runner.stop_reason is not None:
        _eprint(f"the run stopped early: {runner.stop_reason[1]}")
    return 0 if status == "finished" else 1


def command_prune(args: argparse.Namespace) -> int:
    import docker

    from harness.sandboxes.prune import prune

    try:
        client = docker.from_env()
        client.ping()
    except Exception as error:
        raise UserError(f"cannot reach the Docker daemon: {error}") from None
    result = prune(client, images=not (args.keep_images or args.orphans), orphans_only=args.orphans)
    print(result)
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m harness",
        description="Repeated sampling of coding agents on SWE-bench: solve rate at k, in dollars.",
    )
    commands = top.add_subparsers(dest="command", required=True)

    def add_db(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--db", default=str(DEFAULT_DB),
            help=f"SQLite file or any SQLAlchemy URL (default {DEFAULT_DB})",
        )

    run = commands.add_parser("run", help="make k attempts per task and evaluate them")
    run.add_argument("--k", type=int, default=10, help="attempts per task (default 10)")
    from harness.cli import swebench as cli_swebench

    cli_swebench.add_dataset_arguments(run)
    run.add_argument(
        "--agent", default="mutation",
        help="mutation (default, offline), replay, oneshot or bash (LLM agents, need --model)",
    )
    run.add_argument("--agent-config", help="agent definition YAML (default agents/<agent>.yaml)")
    llm = run.add_argument_group("LLM agents (oneshot, bash)")
    llm.add_argument("--model", help="any litellm model string, e.g. openai/gpt-4o-mini")
    llm.add_argument("--api-base", help="base URL of an OpenAI-compatible server")
    llm.add_argument("--prices", help="price file (YAML/JSON) adding or overriding model prices")
    llm.add_argument(
        "--allow-unknown-price", action="store_true",
        help="run a model with no known price (its dollars are reported as unknown)",
    )
    llm.add_argument(
        "--max-connections", type=int, default=8, help="concurrent model calls (default 8)"
    )
    llm.add_argument("--no-cache", action="store_true", help="bypass the response cache")
    budgets = run.add_argument_group("budgets (checked before every model call)")
    budgets.add_argument("--max-cost", type=float, help="dollars for the whole run")
    budgets.add_argument("--instance-max-cost", type=float, help="dollars per task")
    budgets.add_argument("--instance-max-steps", type=int, help="model calls per task")
    budgets.add_argument("--instance-max-seconds", type=float, help="seconds per task")
    budgets.add_argument("--attempt-max-cost", type=float, help="dollars per attempt")
    budgets.add_argument("--attempt-max-steps", type=int, help="model calls per attempt")
    budgets.add_argument("--attempt-max-seconds", type=float, help="seconds per attempt")
    run.add_argument(
        "--predictions", nargs="+", help="replay: prediction files (each row one attempt)"
    )
    run.add_argument("--run-id", help="name of the run; rerunning an id resumes it")
    run.add_argument("--seed", type=int, default=0, help="run seed; attempt seeds derive from it")
    run.add_argument(
        "--reruns", type=int, default=1,
        help="on tasks whose validation found flaky tests, run each candidate's tests N times "
        "and keep the majority verdict, storing every run (default 1)",
    )
    run.add_argument(
        "--max-sandboxes", type=int, default=max(1, os.cpu_count() or 1),
        help="tasks worked on at once, each with its own sandboxes (default: CPU count)",
    )
    run.add_argument(
        "--cache-dir", default=str(Path("results") / "cache"),
        help="where cloned repositories are kept (default results/cache)",
    )
    run.add_argument("--memory", default="2g", help="memory limit per sandbox (default 2g)")
    run.add_argument("--cpus", type=float, default=1.0, help="CPUs per sandbox (default 1)")
    run.add_argument(
        "--vcpu-hour-price", type=float, default=DEFAULT_VCPU_HOUR_DOLLARS,
        help=f"dollars per vCPU-hour of sandbox compute (default {DEFAULT_VCPU_HOUR_DOLLARS})",
    )
    run.add_argument("--json", action="store_true", help="print the report as JSON")
    add_db(run)
    run.set_defaults(handler=command_run)

    show = commands.add_parser("show", help="one attempt: its trajectory, patch and verdict")
    from harness.reports import show as show_module

    show_module.add_arguments(show)
    add_db(show)
    show.set_defaults(handler=show_module.command_show)

    sandbox = commands.add_parser("sandbox", help="manage sandboxes and images")
    sandbox_commands = sandbox.add_subparsers(dest="sandbox_command", required=True)
    prune = sandbox_commands.add_parser(
        "prune", help="remove every container and image the harness made"
    )
    prune.add_argument("--keep-images", action="store_true", help="remove containers only")
    prune.add_argument(
        "--orphans", action="store_true",
        help="remove only sandboxes left by runs that died (safe while other runs go on)",
    )
    prune.set_defaults(handler=command_prune)

    from harness.cli import (
        reports as cli_reports,  # report, compare, export: they read only the store
    )

    cli_reports.register(commands)
    cli_swebench.register(commands)  # validate
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except UserError as error:
        _eprint(f"error: {error}")
        return 2
