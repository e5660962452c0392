"""Command line: `python -m harness run | report | sandbox prune`."""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from harness.agents.base import Agent
from harness.cli.errors import UserError, eprint
from harness.models.budget import Budget
from harness.reports.render import build_report, render_json, render_table
from harness.store import DEFAULT_DB, Store, StoreError

if TYPE_CHECKING:
    from harness.executors.base import Executor, SandboxFactory
    from harness.executors.ray_gate import GateLimiter, ModelServices
    from harness.models.limits import ConnectionLimiter

DEMO = "demo"
# Roughly what clouds charge for one general-purpose vCPU on demand (late 2020s); change it with
# --vcpu-hour-price: the report states the price it used.
DEFAULT_VCPU_HOUR_DOLLARS = 0.04


def build_agent(
    args: argparse.Namespace, store: Store | None, budget: Budget | None,
    limiter: ConnectionLimiter | GateLimiter | None = None,
) -> Agent:
    """The agent `--agent` names (built in, or `module:factory`), from typed options.
    `limiter` replaces the connection limit of --max-connections (a Ray worker's is the
    cluster's)."""
    from harness.agents.registry import AgentBuildError, AgentOptions
    from harness.agents.registry import build_agent as build_named

    options = AgentOptions(
        config=args.agent_config,
        predictions=list(args.predictions or []),
        model=args.model,
        api_base=args.api_base,
        prices=args.prices,
        allow_unknown_price=args.allow_unknown_price,
        max_connections=args.max_connections,
        limiter=limiter,  # type: ignore[arg-type]  # a GateLimiter has ConnectionLimiter's slot()
        cache=not args.no_cache,
        store=store,
        budget=budget,
    )
    try:
        agent = build_named(args.agent, options)
    except AgentBuildError as error:
        raise UserError(str(error)) from None
    for warning in options.warnings:
        eprint(f"warning: {warning}")
    return agent


def check_model_environment(llm) -> None:
    """The API-key check, made once a run has model calls to make."""
    from harness.models.llm import ModelFatalError

    try:
        llm.check_environment()
    except ModelFatalError as error:
        raise UserError(str(error)) from None


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


def default_run_id(args: argparse.Namespace, agent: Agent) -> str:
    dataset = DEMO if args.dataset == DEMO else Path(args.dataset).stem
    subset = ""
    filters = [*sorted(args.instances or []), *sorted(args.repo or [])]
    if args.limit is not None:
        filters.append(f"limit={args.limit}")
    if filters:
        subset = "-" + hashlib.sha256(" ".join(filters).encode()).hexdigest()[:6]
    return f"{agent.name}-{dataset}{subset}-{agent.definition_hash[:8]}-s{args.seed}"


def docker_options(args: argparse.Namespace, log=None):
    """The Docker options a command's arguments ask for (the Namespace stops here)."""
    from harness.cli.images import image_options_from_args
    from harness.sandboxes.factory import DockerOptions

    return DockerOptions(
        memory=args.memory,
        cpus=args.cpus,
        repos_dir=Path(args.repos_dir) if args.repos_dir else None,
        cache_dir=Path(args.cache_dir),
        log=log or (lambda message: eprint(f"[images] {message}")),
        images=image_options_from_args(args),
        host_max_sandboxes=host_max_sandboxes(args),
    )


def build_executor(
    args: argparse.Namespace, agent: Agent, sandboxes: SandboxFactory, budget: Budget,
    run_id: str, db: str | None,
) -> Executor:
    """The executor of --executor: this process's threads, or a Ray cluster's Docker hosts
    (whose model calls the gate writes to the ledger in the store at `db`)."""
    from harness.executors.local import LocalExecutor

    if args.executor == "local":
        return LocalExecutor(agent, sandboxes)
    from harness.executors.ray import RayExecutor, RayUnavailable
    from harness.sandboxes.factory import docker_sandboxes

    # Nodes get the options with the driver's paths made absolute (Ray workers have their
    # own working directory); they must exist on every node, e.g. a shared filesystem.
    absolute = {
        name: str(Path(getattr(args, name)).resolve())
        for name in ("cache_dir", "repos_dir", "agent_config", "prices")
        if getattr(args, name, None)
    }
    if args.predictions:
        absolute["predictions"] = [str(Path(path).resolve()) for path in args.predictions]
    node_args = argparse.Namespace(**{**vars(args), **absolute})
    try:
        return RayExecutor.connect(
            address=args.ray_address,
            agent_recipe=functools.partial(worker_agent, node_args),
            sandbox_recipe=functools.partial(docker_sandboxes, docker_options(node_args)),
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


def worker_agent(args: argparse.Namespace, services: ModelServices) -> Agent:
    """The agent as a Ray worker builds it from the same options: its model calls go through
    the cluster's shared connection limit and budget ledger (`services`), and it has no
    response cache (workers never touch the store). Files named in the options (definitions,
    predictions) must be readable on every node."""
    agent = build_agent(args, None, services.budget, limiter=services.limiter)
    llm = getattr(agent, "llm", None)
    if llm is not None:
        # The registry leaves this check to the run (the driver makes it in before_work); a
        # worker's model needs it too: it also sets the placeholder key of an --api-base server.
        check_model_environment(llm)
    return agent


def host_max_sandboxes(args: argparse.Namespace) -> int:
    """The host-wide sandbox budget (--host-max-sandboxes, $HARNESS_HOST_MAX_SANDBOXES, or the
    CPU count). Raises UserError on a bad value."""
    from harness.sandboxes.host_slots import HostLimitError, host_limit

    try:
        return host_limit(getattr(args, "host_max_sandboxes", None))
    except HostLimitError as error:
        raise UserError(str(error)) from None


def add_sandbox_budget_arguments(parser: argparse.ArgumentParser) -> None:
    """--max-sandboxes (this process's share) and --host-max-sandboxes (every process's)."""
    parser.add_argument(
        "--max-sandboxes", type=int, default=max(1, os.cpu_count() or 1),
        help="attempts in flight in all for this process: max_sandboxes // "
        "--attempts-in-flight tasks are worked on at once (default: CPU count)",
    )
    parser.add_argument(
        "--host-max-sandboxes", type=int,
        help="sandboxes on this host at once, shared by every harness process (default: "
        "$HARNESS_HOST_MAX_SANDBOXES, else the CPU count)",
    )


def command_run(args: argparse.Namespace) -> int:
    from harness.cli.images import image_options_from_args
    from harness.runner import RunConfigError, Runner, RunPlan
    from harness.sandboxes.factory import HostRequirementError

    if args.k < 1:
        raise UserError("--k must be at least 1")
    if args.max_sandboxes < 1:
        raise UserError("--max-sandboxes must be at least 1")
    from harness.cli.swebench import load_tasks_from_args

    store = Store(args.db)
    try:
        selection = load_tasks_from_args(args, store)
        tasks = selection.tasks
        budget = build_budget(args)
        agent = build_agent(args, store, budget)
        predicted = getattr(agent, "predictions", None)
        if predicted is not None and not any(t.instance_id in predicted for t in tasks):
            raise UserError(
                f"none of the {len(predicted)} instances in the prediction files is among the "
                f"{len(tasks)} tasks selected (e.g. {next(iter(predicted))}); check --dataset"
            )
        run_id = args.run_id or default_run_id(args, agent)
        config = {
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
            "left_out": selection.left_out,
            "not_validated": selection.not_validated,
            "argv": sys.argv[1:],
        }
        info = getattr(agent, "info", None)
        if info is not None:
            config["llm"] = info.record
        plan = RunPlan(
            run_id=run_id,
            k=args.k,
            seed=args.seed,
            max_sandboxes=args.max_sandboxes,
            vcpu_hour_dollars=args.vcpu_hour_price,
            config=config,
            attempts_in_flight=args.attempts_in_flight,
            eval_sandboxes=args.eval_sandboxes,
            fail_fast=not args.no_fail_fast,
            reruns=args.reruns,
        )
        from harness.sandboxes.factory import docker_sandboxes

        sandboxes = docker_sandboxes(docker_options(args))
        executor = build_executor(args, agent, sandboxes, budget, run_id, url_for_nodes(store))
        runner = Runner(store, agent, sandboxes, plan, log=eprint, executor=executor)
        runner.on_finish = lambda: {"budget": budget.summary(run_id)}
        llm = getattr(agent, "llm", None)
        if llm is not None:
            runner.before_work = lambda: check_model_environment(llm)
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


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


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
        help="mutation (default, offline), replay, oneshot or bash (LLM agents, need --model), "
        "or an import path module:factory of your own agent",
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
    add_sandbox_budget_arguments(run)
    parallel = run.add_argument_group("parallelism")
    parallel.add_argument(
        "--attempts-in-flight", type=_positive, default=None, metavar="N",
        help="attempts of one task made at once (default: as many as keep the tasks worked on "
        "at once within --max-sandboxes); the store is the same whatever N is",
    )
    parallel.add_argument(
        "--eval-sandboxes", type=_positive, default=None, metavar="M",
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
        "--attempts-per-unit", type=_positive, default=None, metavar="A",
        help="ray: attempts per unit of work sent to a node (default 2 x attempts in flight); "
        "a node that dies loses at most its units in flight",
    )
    run.add_argument(
        "--cache-dir", default=str(Path("results") / "cache"),
        help="where cloned repositories are kept (default results/cache)",
    )
    run.add_argument("--memory", default="2g", help="memory limit per sandbox (default 2g)")
    run.add_argument("--cpus", type=float, default=1.0, help="CPUs per sandbox (default 1)")
    run.add_argument(
        "--no-fail-fast", action="store_true",
        help="always run the full test command (by default the FAIL_TO_PASS tests run alone "
        "first, and a candidate failing them is unresolved without the full run)",
    )
    run.add_argument(
        "--reruns", type=_positive, default=1, metavar="N",
        help="on tasks whose latest validation found flaky tests, run each candidate's tests "
        "N times and keep the majority verdict (a tie is not resolved); every run is stored "
        "(default 1: once)",
    )
    run.add_argument(
        "--vcpu-hour-price", type=float, default=DEFAULT_VCPU_HOUR_DOLLARS,
        help=f"dollars per vCPU-hour of sandbox compute (default {DEFAULT_VCPU_HOUR_DOLLARS})",
    )
    run.add_argument("--json", action="store_true", help="print the report as JSON")
    from harness.cli import images as cli_images

    cli_images.add_image_arguments(run)
    add_db(run)
    run.set_defaults(handler=command_run)

    show = commands.add_parser("show", help="one attempt: its trajectory, patch and verdict")
    from harness.cli import show as show_module

    show_module.add_arguments(show)
    add_db(show)
    show.set_defaults(handler=show_module.command_show)

    doctor = commands.add_parser("doctor", help="check what this host has and lacks for a run")
    from harness.cli import doctor as doctor_module

    doctor_module.add_arguments(doctor)
    doctor.set_defaults(handler=doctor_module.command_doctor)

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
    cli_images.register(commands)  # images push
    from harness.cli import select as cli_select

    cli_select.register(commands)  # select
    return top


def main(argv: list[str] | None = None) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from harness.store.opening import describe

    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except (UserError, StoreError) as error:
        eprint(f"error: {error}")
        return 2
    except SQLAlchemyError as error:
        # A store that opened but cannot be written or read (read-only file, server gone).
        eprint(f"error: {describe(error, str(getattr(args, 'db', '')))}")
        return 2
