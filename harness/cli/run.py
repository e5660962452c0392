"""`python -m harness run`: make k attempts per task and evaluate them, then print the report.

The options become typed values here (AgentOptions, Budget, RunPlan, DockerOptions); the runner
and the executors never see the argparse Namespace, and a Ray worker gets an AgentSpec.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.agents.base import Agent
from harness.agents.registry import AgentBuildError, AgentOptions, AgentSpec, BuiltAgent, build
from harness.cli.errors import UserError, eprint
from harness.cli.images import image_options_from_args
from harness.cli.options import (
    DEMO,
    add_dataset_arguments,
    add_db,
    add_json,
    add_sandbox_arguments,
    add_sandbox_budget_arguments,
    docker_options,
    load_tasks_from_args,
    positive,
)
from harness.models.budget import Budget, Limits
from harness.reports.render import build_report, render_json, render_table
from harness.store import Store

if TYPE_CHECKING:  # types only: `--help` and `report` need none of the executors' modules
    from harness.executors.base import Executor, SandboxFactory
    from harness.models.limits import ConnectionLimiter

# Roughly what clouds charge for one general-purpose vCPU on demand (late 2020s); change it with
# --vcpu-hour-price: the report states the price it used.
DEFAULT_VCPU_HOUR_DOLLARS = 0.04


# --- the options ---------------------------------------------------------------------------


def add_agent_arguments(parser: argparse.ArgumentParser) -> None:
    """Which agent, and everything AgentOptions is made of (`agent_options`)."""
    parser.add_argument(
        "--agent", default="mutation",
        help="mutation (default, offline), replay, oneshot or bash (LLM agents, need --model), "
        "or an import path module:factory of your own agent",
    )
    parser.add_argument(
        "--agent-config", help="agent definition YAML (default agents/<agent>.yaml)"
    )
    llm = parser.add_argument_group("LLM agents (oneshot, bash)")
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
    parser.add_argument(
        "--predictions", nargs="+", help="replay: prediction files (each row one attempt)"
    )


def agent_options(
    args: argparse.Namespace, store: Store | None = None, budget: Budget | None = None,
    limiter: ConnectionLimiter | None = None,
) -> AgentOptions:
    """The one place the agent's options are read from the command line."""
    return AgentOptions(
        config=args.agent_config,
        predictions=list(args.predictions or []),
        model=args.model,
        api_base=args.api_base,
        prices=args.prices,
        allow_unknown_price=args.allow_unknown_price,
        max_connections=args.max_connections,
        limiter=limiter,
        cache=not args.no_cache,
        store=store,
        budget=budget,
    )


def add_budget_arguments(parser: argparse.ArgumentParser) -> None:
    budgets = parser.add_argument_group("budgets (checked before every model call)")
    budgets.add_argument("--max-cost", type=float, help="dollars for the whole run")
    budgets.add_argument("--instance-max-cost", type=float, help="dollars per task")
    budgets.add_argument("--instance-max-steps", type=int, help="model calls per task")
    budgets.add_argument("--instance-max-seconds", type=float, help="seconds per task")
    budgets.add_argument("--attempt-max-cost", type=float, help="dollars per attempt")
    budgets.add_argument("--attempt-max-steps", type=int, help="model calls per attempt")
    budgets.add_argument("--attempt-max-seconds", type=float, help="seconds per attempt")


def build_budget(args: argparse.Namespace) -> Budget:
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


def add_parallelism_arguments(parser: argparse.ArgumentParser) -> None:
    parallel = parser.add_argument_group("parallelism")
    parallel.add_argument(
        "--attempts-in-flight", type=positive, default=None, metavar="N",
        help="attempts of one task made at once (default: as many as keep the tasks worked on "
        "at once within --max-sandboxes); the store is the same whatever N is",
    )
    parallel.add_argument(
        "--eval-sandboxes", type=positive, default=None, metavar="M",
        help="warm evaluation sandboxes per task (default: half the attempts in flight, >= 1)",
    )
    parallel.add_argument(
        "--executor", choices=("local", "ray"), default="local",
        help="local: threads of this process (default); ray: the Docker hosts of a Ray "
        "cluster (pip install '.[ray]')",
    )
    parallel.add_argument(
        "--ray-address", default=None, metavar="auto|HOST:PORT",
        help="the Ray cluster to use (default: start a private one on this machine)",
    )
    parallel.add_argument(
        "--attempts-per-unit", type=positive, default=None, metavar="A",
        help="ray: attempts per unit of work sent to a node (default 2 x attempts in flight); "
        "a node that dies loses at most its units in flight",
    )


def register(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("run", help="make k attempts per task and evaluate them")
    run.add_argument("--k", type=int, default=10, help="attempts per task (default 10)")
    add_dataset_arguments(run)
    add_agent_arguments(run)
    add_budget_arguments(run)
    run.add_argument("--run-id", help="name of the run; rerunning an id resumes it")
    run.add_argument("--seed", type=int, default=0, help="run seed; attempt seeds derive from it")
    add_sandbox_budget_arguments(run)
    add_parallelism_arguments(run)
    add_sandbox_arguments(run, memory="2g", cache_holds="cloned repositories")
    run.add_argument(
        "--no-fail-fast", action="store_true",
        help="always run the full test command (by default the FAIL_TO_PASS tests run alone "
        "first, and a candidate failing them is unresolved without the full run)",
    )
    run.add_argument(
        "--reruns", type=positive, default=1, metavar="N",
        help="on tasks whose latest validation found flaky tests, run each candidate's tests "
        "N times and keep the majority verdict (a tie is not resolved); every run is stored "
        "(default 1: once)",
    )
    run.add_argument(
        "--vcpu-hour-price", type=float, default=DEFAULT_VCPU_HOUR_DOLLARS,
        help=f"dollars per vCPU-hour of sandbox compute (default {DEFAULT_VCPU_HOUR_DOLLARS})",
    )
    add_json(run)
    add_db(run)
    run.set_defaults(handler=command_run)


# --- the pieces of a run -------------------------------------------------------------------


def build_run_agent(
    args: argparse.Namespace, store: Store | None, budget: Budget | None
) -> BuiltAgent:
    """The agent `--agent` names (built in, or `module:factory`), with what the run records of
    it. Its warnings are printed."""
    options = agent_options(args, store, budget)
    try:
        built = build(args.agent, options)
    except AgentBuildError as error:
        raise UserError(str(error)) from None
    for warning in options.warnings:
        eprint(f"warning: {warning}")
    return built


def checked_environment(built: BuiltAgent) -> None:
    """The model's API-key check, made once a run has model calls to make."""
    from harness.models.llm import ModelFatalError  # litellm's pricing: only when needed

    if built.check_environment is None:
        return
    try:
        built.check_environment()
    except ModelFatalError as error:
        raise UserError(str(error)) from None


def default_run_id(args: argparse.Namespace, agent: Agent) -> str:
    dataset = DEMO if args.dataset == DEMO else Path(args.dataset).stem
    subset = ""
    filters = [*sorted(args.instances or []), *sorted(args.repo or [])]
    if args.limit is not None:
        filters.append(f"limit={args.limit}")
    if filters:
        subset = "-" + hashlib.sha256(" ".join(filters).encode()).hexdigest()[:6]
    return f"{agent.name}-{dataset}{subset}-{agent.definition_hash[:8]}-s{args.seed}"


def _absolute(path: str | None) -> str | None:
    return str(Path(path).resolve()) if path else None


def build_executor(
    args: argparse.Namespace, agent: Agent, sandboxes: SandboxFactory, budget: Budget,
    run_id: str, db: str | None,
) -> Executor:
    """The executor of --executor: this process's threads, or a Ray cluster's Docker hosts
    (whose model calls the gate writes to the ledger in the store at `db`)."""
    from harness.executors.local import LocalExecutor

    if args.executor == "local":
        return LocalExecutor(agent, sandboxes)
    from harness.backends.docker_backend import docker_sandboxes
    from harness.executors.ray import RayExecutor, RayUnavailable, agent_from_spec

    # Nodes get the options with the driver's paths made absolute (Ray workers have their
    # own working directory); they must exist on every node, e.g. a shared filesystem.
    options = agent_options(args)
    spec = AgentSpec.of(args.agent, replace(
        options, config=_absolute(options.config), prices=_absolute(options.prices),
        predictions=[str(Path(path).resolve()) for path in options.predictions],
    ))
    docker = docker_options(args)
    node_docker = replace(docker, cache_dir=docker.cache_dir.resolve(),
                          repos_dir=docker.repos_dir.resolve() if docker.repos_dir else None)
    try:
        return RayExecutor.connect(
            address=args.ray_address,
            agent_recipe=functools.partial(agent_from_spec, spec),
            sandbox_recipe=functools.partial(docker_sandboxes, node_docker),
            budget=budget,
            max_connections=args.max_connections,
            attempts_per_unit=args.attempts_per_unit,
            local_docker_slots=args.max_sandboxes,
            db=db,
            run_id=run_id,
        )
    except RayUnavailable as error:
        raise UserError(str(error)) from None


def url_for_nodes(store: Store) -> str | None:
    """The store's URL as a process with another working directory opens it (a relative
    SQLite path made absolute); None for an in-memory store no other process can see."""
    from harness.store.database import is_memory_sqlite, sqlite_file

    if is_memory_sqlite(store.url):
        return None
    path = sqlite_file(store.url)
    return f"sqlite:///{path.resolve()}" if path is not None else store.url


def run_config(args: argparse.Namespace, built: BuiltAgent, left_out: dict[str, str],
               not_validated: list[str]) -> dict[str, Any]:
    """What the run records of its invocation (RunRecord.config)."""
    config: dict[str, Any] = {
        "dataset": args.dataset,
        "instances": args.instances,
        "agent": args.agent,
        "agent_config": args.agent_config,
        "predictions": args.predictions,
        "memory": args.memory,
        "cpus": args.cpus,
        "images": image_options_from_args(args).record(),
        "fail_fast": not args.no_fail_fast,
        "reruns": args.reruns,
        "split": args.split,
        "repo": args.repo,
        "limit": args.limit,
        "include_unvalidated": args.include_unvalidated,
        "left_out": left_out,
        "not_validated": not_validated,
        "argv": sys.argv[1:],
    }
    if built.llm_record is not None:
        config["llm"] = built.llm_record
    return config


# --- the command ---------------------------------------------------------------------------


def command_run(args: argparse.Namespace) -> int:
    from harness.backends.docker_backend import docker_sandboxes
    from harness.runner import RunConfigError, Runner, RunPlan
    from harness.sandboxes.factory import HostRequirementError

    if args.k < 1:
        raise UserError("--k must be at least 1")
    if args.max_sandboxes < 1:
        raise UserError("--max-sandboxes must be at least 1")
    store = Store(args.db)
    try:
        selection = load_tasks_from_args(args, store)
        tasks = selection.tasks
        budget = build_budget(args)
        built = build_run_agent(args, store, budget)
        agent = built.agent
        predicted = built.predicted
        if predicted is not None and not any(t.instance_id in predicted for t in tasks):
            raise UserError(
                f"none of the {len(predicted)} instances in the prediction files is among the "
                f"{len(tasks)} tasks selected (e.g. {next(iter(predicted))}); check --dataset"
            )
        run_id = args.run_id or default_run_id(args, agent)
        plan = RunPlan(
            run_id=run_id,
            k=args.k,
            seed=args.seed,
            max_sandboxes=args.max_sandboxes,
            vcpu_hour_dollars=args.vcpu_hour_price,
            config=run_config(args, built, selection.left_out, selection.not_validated),
            attempts_in_flight=args.attempts_in_flight,
            eval_sandboxes=args.eval_sandboxes,
            fail_fast=not args.no_fail_fast,
            reruns=args.reruns,
        )
        sandboxes = docker_sandboxes(docker_options(args))
        executor = build_executor(args, agent, sandboxes, budget, run_id, url_for_nodes(store))
        runner = Runner(store, agent, sandboxes, plan, log=eprint, executor=executor)
        runner.on_finish = lambda: {"budget": budget.summary(run_id)}
        if built.check_environment is not None:
            runner.before_work = lambda: checked_environment(built)
        try:
            status = runner.run(tasks)
        except (RunConfigError, HostRequirementError) as error:
            raise UserError(str(error)) from None
        finally:
            executor.close()
        report = build_report(store, run_id)
    finally:
        store.close()
    print(render_json(report) if args.json else render_table(report))
    if status == "interrupted":
        eprint(f"interrupted: rerun the same command (run id {run_id}) to finish the work")
        return 130
    if runner.stop_reason is not None:
        eprint(f"the run stopped early: {runner.stop_reason[1]}")
    return 0 if status == "finished" else 1
