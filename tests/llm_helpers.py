"""Shared by the LLM agent tests: a demo task's real image and sandboxes, the real runner, a
price file for the scripted server's model, and reading attempts back from the store.

Not a test module: pytest collects only test_*.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from harness.agents.llm_config import load_definition
from harness.demo import load_demo_tasks
from harness.evaluation.evaluator import TestSetup
from harness.images.build import prepare_instance_image
from harness.images.specs import spec_for
from harness.repos import RepoSource
from harness.runner import Runner, RunPlan, SandboxFactory
from harness.sandboxes.docker_sandbox import DockerSandbox, SandboxLimits
from harness.store import AttemptRecord, Store, TaskRecord

MODEL = "openai/fake-model"
# $1 per million input tokens, $2 per million output tokens, $0.10 per million cached.
PRICES = """\
models:
  openai/fake-model:
    input_per_million: 1.0
    output_per_million: 2.0
    cache_read_per_million: 0.1
"""


def demo_task(index: int = 0):
    return load_demo_tasks()[index]


def build_image(docker_client: Any, task: Any, cache_dir: Path) -> str:
    return prepare_instance_image(docker_client, task, RepoSource(None, cache_dir))


def sandbox_factory(docker_client: Any, image: str) -> SandboxFactory:
    def test_setup(task: Any) -> TestSetup:
        spec = spec_for(task.repo, task.version)
        return TestSetup(spec.test_cmd, spec.log_parser, float(spec.test_timeout))

    return SandboxFactory(
        prepare_image=lambda task: image,
        start=lambda tag: DockerSandbox.start(docker_client, tag, SandboxLimits()),
        test_setup=test_setup,
    )


# For a module-scoped `factory` fixture: the agent tests run on Docker and, where Docker is not
# the subject, on the local (bubblewrap) sandbox too.
BACKENDS = [pytest.param("docker", marks=pytest.mark.docker), "local"]


def backend_factory(request: Any, task: Any, tmp_path_factory: Any) -> SandboxFactory:
    if request.param == "local":
        from local_backend import LocalSandboxes
        from needs import bubblewrap_present

        bubblewrap_present()
        return LocalSandboxes(tmp_path_factory.mktemp("local")).factory()
    docker_client = request.getfixturevalue("docker_client")
    image = build_image(docker_client, task, tmp_path_factory.mktemp("repos"))
    return sandbox_factory(docker_client, image)


def price_file(tmp_path: Path) -> Path:
    path = tmp_path / "prices.yaml"
    path.write_text(PRICES)
    return path


def definition_file(tmp_path: Path, name: str, **changes: Any) -> Path:
    """The bundled definition `name` with some values changed, as a YAML file."""
    values = load_definition(name).model_dump(mode="json")
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key] = {**values[key], **value}
        else:
            values[key] = value
    path = tmp_path / f"{name}-{abs(hash(repr(sorted(changes.items())))):x}.yaml"
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    return path


def run(store: Store, agent: Any, factory: SandboxFactory, run_id: str, k: int,
        tasks: list[Any]) -> str:
    plan = RunPlan(run_id=run_id, k=k, seed=0, max_sandboxes=1, vcpu_hour_dollars=0.04)
    return Runner(store, agent, factory, plan, log=lambda message: None).run(tasks)


def attempts(store: Store, run_id: str) -> list[dict[str, Any]]:
    """The run's attempts in index order, with their evaluation status."""
    with store.reading() as session:
        rows = session.execute(
            select(AttemptRecord, TaskRecord.instance_id)
            .join(TaskRecord, AttemptRecord.task_id == TaskRecord.id)
            .where(AttemptRecord.run_id == run_id)
            .order_by(TaskRecord.instance_id, AttemptRecord.index)
        ).all()
        out = []
        for attempt, instance_id in rows:
            out.append({
                "instance_id": instance_id,
                "index": attempt.index,
                "patch": attempt.patch,
                "patch_hash": attempt.patch_hash,
                "error_kind": attempt.error_kind,
                "error_message": attempt.error_message,
                "input_tokens": attempt.input_tokens,
                "output_tokens": attempt.output_tokens,
                "cache_read_tokens": attempt.cache_read_tokens,
                "model_dollars": attempt.model_dollars,
                "details": attempt.details,
                "trajectory": attempt.trajectory,
                "agent_hash": attempt.agent_hash,
                "status": attempt.evaluation.status.value if attempt.evaluation else None,
            })
        return out
