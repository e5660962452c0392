"""The oneshot agent end to end: litellm over real HTTP to a scripted OpenAI-compatible server
on 127.0.0.1, a real Docker sandbox holding a demo task, the real runner and evaluation.

Scripted answers: a correct fix (as SEARCH/REPLACE blocks and as a diff with wrong line
numbers), garbage, edits that do not apply, a 429 before an answer, timeouts, and answers
that spend the run's budget. Asserted from the store: attempts, verdicts, tokens, dollars,
cache hits and error kinds.
"""

from __future__ import annotations

import pytest
from fake_openai import FakeOpenAI, error_reply, text_reply
from llm_helpers import (
    BACKENDS,
    MODEL,
    attempts,
    backend_factory,
    definition_file,
    demo_task,
    price_file,
    run,
)
from unidiff import PatchSet

from harness.agents.base import AttemptContext, AttemptError
from harness.agents.edits import EditFormatError, answer_to_diff
from harness.agents.llm_factory import build_llm_agent
from harness.models.budget import Budget
from harness.models.llm import RetryPolicy
from harness.store import RunRecord, Store

TASK = demo_task(0)
FAST_RETRY = RetryPolicy(tries=2, first_wait=0.01, max_wait=0.05, breaker_wait=0.1)


def search_replace_answer(patch: str) -> str:
    """The gold patch written as a model would: prose, then SEARCH/REPLACE blocks."""
    blocks = ["I found the bug. Here is the fix:\n"]
    for patched in PatchSet(patch):
        for hunk in patched:
            old = "".join(line.value for line in hunk if not line.is_added)
            new = "".join(line.value for line in hunk if not line.is_removed)
            blocks.append(f"```python\n{patched.path}\n<<<<<<< SEARCH\n{old}=======\n{new}"
                          ">>>>>>> REPLACE\n```\n")
    return "\n".join(blocks)


def diff_answer(patch: str) -> str:
    """The gold patch as a diff whose hunk headers are wrong, as models' often are."""
    lines = [
        "@@ -1,1 +1,1 @@" if line.startswith("@@") else line
        for line in patch.splitlines()
        if not line.startswith("index ")
    ]
    return "Apply this:\n```diff\n" + "\n".join(lines) + "\n```\n"


GARBAGE = "I am not sure what the issue is. Maybe try restarting your computer?"
NOT_APPLYING = (
    "textkit/slug.py\n<<<<<<< SEARCH\ndef slugify_v2(text):\n    return text\n=======\n"
    "def slugify_v2(text):\n    return text.lower()\n>>>>>>> REPLACE\n"
)


@pytest.fixture(scope="module", params=BACKENDS)
def factory(request, tmp_path_factory):
    return backend_factory(request, TASK, tmp_path_factory)


@pytest.fixture
def store(tmp_path):
    opened = Store(tmp_path / "harness.db")
    yield opened
    opened.close()


def agent_for(tmp_path, server, store, budget=None, cache=True, **changes):
    changes.setdefault("samples_per_call", 4)
    return build_llm_agent(
        str(definition_file(tmp_path, "oneshot", **changes)), model=MODEL,
        api_base=server.base_url, prices_path=price_file(tmp_path), max_connections=2,
        cache=cache, store=store, budget=budget, retry=FAST_RETRY,
    )


def test_answers_become_attempts_verdicts_and_dollars(tmp_path, factory, store):
    batch0 = text_reply(search_replace_answer(TASK.patch), GARBAGE, NOT_APPLYING,
                        diff_answer(TASK.patch), prompt_tokens=2000, completion_tokens=400,
                        cached_tokens=1000)
    batch1 = text_reply(GARBAGE, search_replace_answer(TASK.patch), "", GARBAGE,
                        prompt_tokens=2000, completion_tokens=400)
    with FakeOpenAI([batch0, error_reply(429, "rate limited", headers={"Retry-After": "0"}),
                     batch1]) as server:
        agent = agent_for(tmp_path, server, store)
        assert run(store, agent, factory, "first", 8, [TASK]) == "finished"
        sent = server.completions
    # Two batches of four answers: the prompt was billed twice, plus one retried 429.
    assert len(sent) == 3 and all(body["n"] == 4 for body in sent)
    prompt = sent[0]["messages"][1]["content"]
    assert "slugify() mangles accented letters" in prompt
    assert '<file path="textkit/slug.py">' in prompt  # retrieval found the buggy file

    rows = attempts(store, "first")
    assert [row["index"] for row in rows] == list(range(8))
    outcome = [(row["error_kind"], row["status"]) for row in rows]
    assert outcome == [
        (None, "resolved"), ("format", "empty_patch"), ("format", "empty_patch"),
        (None, "resolved"),
        ("format", "empty_patch"), (None, "resolved"), ("format", "empty_patch"),
        ("format", "empty_patch"),
    ]
    assert "no edit" in rows[1]["error_message"]
    assert "not in the file" in rows[2]["error_message"]
    # The fix written two ways is one normalized patch, evaluated once.
    assert rows[0]["patch_hash"] == rows[3]["patch_hash"] == rows[5]["patch_hash"]
    # Each sample carries a quarter of its batch: tokens, cache reads and dollars.
    batch0_dollars = (1000 * 1.0 + 1000 * 0.1 + 400 * 2.0) / 1e6
    for row in rows[:4]:
        assert (row["input_tokens"], row["output_tokens"], row["cache_read_tokens"]) == (
            500, 100, 250)
        assert row["model_dollars"] == pytest.approx(batch0_dollars / 4)
        assert row["details"]["prompt_tokens_per_sample"] == 500
        assert row["details"]["batch"] == 0 and row["details"]["batch_size"] == 4
    assert [row["details"]["model_calls"] for row in rows] == [1, 0, 0, 0, 1, 0, 0, 0]
    assert sum(row["model_dollars"] for row in rows) == pytest.approx(
        batch0_dollars + (2000 * 1.0 + 400 * 2.0) / 1e6)
    # The prompt is stored once; the other attempts point at it.
    assert rows[0]["trajectory"][1]["content"] == prompt
    assert rows[6]["trajectory"][1]["same_as_attempt"] == 0
    assert rows[0]["trajectory"][2]["role"] == "assistant"

    # A second run of the same agent costs nothing: every call is answered from the cache.
    with FakeOpenAI() as server:
        again = agent_for(tmp_path, server, store)
        assert again.definition_hash == agent.definition_hash
        assert run(store, again, factory, "second", 8, [TASK]) == "finished"
        assert server.completions == []
    second = attempts(store, "second")
    assert [r["status"] for r in second] == [r["status"] for r in rows]
    assert all(r["model_dollars"] == 0.0 for r in second)
    assert sum(r["details"]["cached_calls"] for r in second) == 2
    assert sum(r["details"]["dollars_if_uncached"] for r in second) == pytest.approx(
        sum(r["model_dollars"] for r in rows))


def test_timeouts_are_infrastructure_errors_redone_later(tmp_path, factory, store):
    late = [text_reply("too late", delay=5)] * 6
    with FakeOpenAI(late) as server:
        agent = agent_for(tmp_path, server, store, samples_per_call=1,
                          model={"timeout": 0.3})
        # The runner tried the attempt 3 times, each with 2 HTTP tries, then left it for
        # the next invocation: an infrastructure error is not a result, but it stays in the
        # store, visible, until a later invocation redoes it.
        assert run(store, agent, factory, "flaky", 1, [TASK]) == "incomplete"
        assert len(server.completions) == 6
        assert [(row["index"], row["error_kind"]) for row in attempts(store, "flaky")] == [
            (0, "infra")]
        with store.reading() as session:
            assert "1 attempts to redo" in session.get(RunRecord, "flaky").note
        server.add(*late[:2])
        sandbox = factory.start(factory.prepare_image(TASK))
        try:
            candidate = agent.attempt(AttemptContext(TASK.view(), 0, 0), sandbox)
        finally:
            sandbox.close()
    assert candidate.error is AttemptError.INFRA
    assert "gave up after 2 tries" in candidate.error_message

    with FakeOpenAI([text_reply(search_replace_answer(TASK.patch))]) as server:
        agent = agent_for(tmp_path, server, store, samples_per_call=1,
                          model={"timeout": 0.3})
        assert run(store, agent, factory, "flaky", 1, [TASK]) == "finished"
    rows = attempts(store, "flaky")
    assert [(row["error_kind"], row["status"]) for row in rows] == [(None, "resolved")]


def test_run_budget_stops_before_the_next_paid_call(tmp_path, factory, store):
    # One batch of 4 costs (2000 + 2 * 400) / 1e6 = $0.0028; the run may spend $0.002.
    answers = text_reply(GARBAGE, prompt_tokens=2000, completion_tokens=400)
    budget = Budget(max_cost=0.002)
    with FakeOpenAI(responder=lambda body: answers) as server:
        agent = agent_for(tmp_path, server, store, budget=budget)
        status = run(store, agent, factory, "capped", 12, [TASK])
        assert len(server.completions) == 1
    # The run says why it stopped, in the store, where the report reads it.
    assert status == "budget_exhausted"
    with store.reading() as session:
        assert "run budget exhausted" in session.get(RunRecord, "capped").note
    # The paid batch's 4 answers are used; no attempt is recorded for unpaid ones.
    rows = attempts(store, "capped")
    assert [row["index"] for row in rows] == [0, 1, 2, 3]
    assert budget.exhausted is not None and budget.exhausted.scope == "run"
    assert budget.spent == pytest.approx(0.0028)


def test_edits_to_diff_handles_indentation_new_files_and_bad_paths():
    files = {"pkg/mod.py": "def f(x):\n    if x:\n        return 1\n    return 2\n"}
    read = files.get
    # SEARCH written without the file's indentation still matches; replacement re-indented.
    answer = "pkg/mod.py\n<<<<<<< SEARCH\nif x:\n    return 1\n=======\nif x > 0:\n" \
             "    return 1\n>>>>>>> REPLACE\n"
    patch = answer_to_diff(answer, read)
    assert "+    if x > 0:\n" in patch and "-    if x:\n" in patch
    created = answer_to_diff("pkg/new.py\n<<<<<<< SEARCH\n=======\nA = 1\n>>>>>>> REPLACE\n",
                             read)
    assert "new file mode" in created and "--- /dev/null" in created
    PatchSet(created)
    with pytest.raises(EditFormatError, match="leaves the repository"):
        answer_to_diff("../etc/passwd\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n", read)
    with pytest.raises(EditFormatError, match="not in the repository"):
        answer_to_diff("pkg/gone.py\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n", read)
    with pytest.raises(EditFormatError, match="change nothing"):
        answer_to_diff("pkg/mod.py\n<<<<<<< SEARCH\n    return 2\n=======\n    return 2\n"
                       ">>>>>>> REPLACE\n", read)
