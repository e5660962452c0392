"""`--executor ray`: units on the Docker hosts of a Ray cluster.

Each unit (a chunk of one task's attempts) is a Ray task that needs one `docker` resource, so it
runs on a node whose `ray start --resources '{"docker": N}'` says it has a Docker daemon for N
units at once. There the unit builds its agent and sandboxes (getting the task's image from the
node's cache, a registry, or a build), does its work and returns its events; the driver commits
them. A node that dies mid-unit loses that unit's work: Ray runs the unit again elsewhere and the
store's unique keys make whatever arrives twice harmless.

Model calls from every node share one connection limit and one budget, whose ledger of spend
the gate writes to the run's store (ray_gate).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.agents.base import Agent
from harness.agents.registry import AgentSpec
from harness.executors.base import Event, SandboxFactory, Unit, UnitFailed
from harness.executors.ray_gate import GateBudget, GateLimiter, ModelGate, ModelServices
from harness.models.budget import Budget

# Tries of a unit whose node died (Ray's own retries on system failures).
UNIT_RETRIES = 3


class RayUnavailable(RuntimeError):
    """Ray is not installed or the cluster cannot be reached; the message says what to do."""


AgentRecipe = Callable[[ModelServices], Agent]
SandboxRecipe = Callable[[], SandboxFactory]


def _run_unit(
    unit: Unit, agent_recipe: AgentRecipe, sandbox_recipe: SandboxRecipe, gate: Any,
    per_attempt: Any,
) -> list[Event]:
    """The Ray task: runs on a worker node, returns the unit's events."""
    import ray

    from harness.executors.unit import UnitWorker

    events: list[Event] = []
    try:
        services = ModelServices(GateBudget(gate, per_attempt), GateLimiter(gate))
        agent = agent_recipe(services)
        factory = sandbox_recipe()
    except Exception as error:  # e.g. the node cannot reach its Docker daemon
        return [UnitFailed(unit.task_id, f"{type(error).__name__}: {error}")]
    UnitWorker(agent, factory, unit, events.append,
               lambda: bool(ray.get(gate.stopped.remote()))).run()
    return events


def _check_reachable(address: str) -> None:
    """Ray waits minutes on an address where no cluster listens: say so in seconds instead."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise RayUnavailable(f"--ray-address {address!r} is not HOST:PORT (or auto)")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as error:
        raise RayUnavailable(
            f"no Ray cluster answers at {address} ({error}); start one with `ray start --head` "
            "(see README: running on a cluster) or check the address"
        ) from None


@dataclass
class RayExecutor:
    agent_recipe: AgentRecipe
    sandbox_recipe: SandboxRecipe
    budget: Budget
    max_connections: int
    attempts_per_unit: int | None = None
    db: str | None = None  # the run's store, where the gate writes the ledger of spend
    run_id: str | None = None
    _gate: Any = None
    _connected_here: bool = False

    @classmethod
    def connect(
        cls, address: str | None, agent_recipe: AgentRecipe, sandbox_recipe: SandboxRecipe,
        budget: Budget, max_connections: int = 8, attempts_per_unit: int | None = None,
        local_docker_slots: int = 1, db: str | None = None, run_id: str | None = None,
    ) -> RayExecutor:
        """Joins the cluster at `address` ("auto", "HOST:PORT"), or with None starts a private
        one-node cluster on this machine with `local_docker_slots` units at once. `db` is the
        run's store URL (the gate, on this node, writes the ledger there)."""
        if address is None:
            # A private one-node cluster: Ray's own switch for a single machine keeps every
            # address on loopback (it must be set before Ray is imported).
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        try:
            import ray
        except ImportError:
            raise RayUnavailable(
                "--executor ray needs Ray: pip install 'harness[ray]' (or '.[ray]')"
            ) from None
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address is None:
            options.update(
                resources={"docker": float(local_docker_slots)}, _node_ip_address="127.0.0.1"
            )
        elif address.rsplit(":", 1)[0].startswith("127."):
            # A cluster on loopback: this driver must be reachable there too, not on the
            # machine's public address Ray would pick.
            options["_node_ip_address"] = address.rsplit(":", 1)[0]
        if address not in (None, "auto"):
            _check_reachable(address)
        connected_here = not ray.is_initialized()
        if connected_here:
            try:
                ray.init(address=address, **options)
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise RayUnavailable(
                    f"cannot reach the Ray cluster at {address}: {error}; start it with "
                    "`ray start --head` (see README: running on a cluster)"
                ) from None
        if not ray.cluster_resources().get("docker"):
            raise RayUnavailable(
                "no node of the Ray cluster advertises a `docker` resource; start each Docker "
                "host with ray start --resources '{\"docker\": N}'"
            )
        executor = cls(agent_recipe, sandbox_recipe, budget, max_connections, attempts_per_unit,
                       db, run_id)
        executor._connected_here = connected_here
        executor._gate = executor._start_gate()
        return executor

    def _start_gate(self) -> Any:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        # On the driver's node: the ledger must outlive any worker node.
        here = ray.get_runtime_context().get_node_id()
        actor = ray.remote(ModelGate).options(
            num_cpus=0, max_concurrency=1000,
            scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False),
        )
        budget = self.budget
        return actor.remote(
            self.max_connections, budget.max_cost, budget.per_instance, budget.per_attempt,
            self.db,
        )

    def execute(
        self,
        units: list[Unit],
        deliver: Callable[[Event], None],
        stop: threading.Event,
        units_at_once: int,
    ) -> None:
        """`units_at_once` is not used: the cluster's `docker` resources bound the units."""
        import ray

        remote = ray.remote(_run_unit).options(
            num_cpus=0, resources={"docker": 1}, max_retries=UNIT_RETRIES,
            retry_exceptions=False,
        )
        chunks = [
            chunk
            for unit in units
            for chunk in unit.chunks(self.attempts_per_unit or 2 * unit.attempts_in_flight)
        ]
        refs = {
            remote.remote(chunk, self.agent_recipe, self.sandbox_recipe, self._gate,
                          self.budget.per_attempt): chunk
            for chunk in chunks
        }
        waiting = list(refs)
        stopping = False
        interrupted = False
        while waiting:
            try:
                if stop.is_set() and not stopping:
                    # Units in flight end after their current attempts; queued ones do nothing.
                    self._gate.stop.remote()
                    stopping = True
                done, waiting = ray.wait(waiting, num_returns=1, timeout=0.5)
                for ref in done:
                    for event in self._events(ref, refs[ref]):
                        deliver(event)
            except KeyboardInterrupt:
                if interrupted:
                    raise
                interrupted = True
                stop.set()
        self._absorb_budget()
        if interrupted:
            raise KeyboardInterrupt

    def _events(self, ref: Any, unit: Unit) -> list[Event]:
        import ray

        try:
            return ray.get(ref)
        except Exception as error:  # the unit failed on every node Ray tried
            return [UnitFailed(unit.task_id, f"unit lost on the cluster: {error}"[:2000])]

    def _absorb_budget(self) -> None:
        import ray

        from harness.executors.ray_gate import absorb_summary

        absorb_summary(self.budget, ray.get(self._gate.summary.remote(self.run_id)))

    def close(self) -> None:
        import ray

        if self._gate is not None:
            ray.kill(self._gate)
            self._gate = None
        if self._connected_here and ray.is_initialized():
            ray.shutdown()
            self._connected_here = False


def agent_from_spec(spec: AgentSpec, services: ModelServices) -> Agent:
    """A worker's agent (an `agent_recipe`): built from the driver's spec, its model calls
    through the cluster's shared connection limit and budget ledger (`services`), and checked
    for its API key (the driver checks its own in `before_work`; this also sets the placeholder
    key of an --api-base server). Files the spec names must be readable on every node."""
    built = spec.for_worker(services.budget, services.limiter)  # type: ignore[arg-type]
    if built.check_environment is not None:
        built.check_environment()
    return built.agent
