"""The LLM selectors' parts that need no sandbox: reading answers, definitions, the refusals
made before any call, and the judge's pure decision."""

from __future__ import annotations

import pytest
import yaml

from harness.selection.base import CandidateView, Pool, SelectionError
from harness.selection.llm.answers import (
    ChoiceProblem,
    TestOutcome,
    choice_from_answer,
    parse_test_file,
)
from harness.selection.llm.config import load_definition
from harness.selection.registry import SelectorOptions, build_selector

GOOD = "```python\nimport math\n\n\ndef test_sqrt():\n    assert math.sqrt(4) == 2\n```"


@pytest.mark.parametrize(("answer", "outcome"), [
    (GOOD, None),
    ("Sure. " + GOOD.replace("```python", "```") + " Done.", None),  # an untagged block
    ("I would test that the output is right.", TestOutcome.NO_CODE_BLOCK),
    ("```bash\npytest\n```", TestOutcome.NO_CODE_BLOCK),
    ("```python\ndef test_x(:\n    pass\n```", TestOutcome.SYNTAX_ERROR),
    ("```python\nprint('hello')\n```", TestOutcome.NO_TEST_FUNCTION),
    ("```python\nclass TestThing:\n    def test_a(self):\n        assert 1\n```", None),
])
def test_an_answer_gives_a_test_file_or_the_reason_it_has_none(answer, outcome):
    assert parse_test_file(answer, 20_000).outcome == outcome


def test_the_first_usable_block_wins_and_a_long_test_is_refused():
    parsed = parse_test_file("```python\nx = (\n```\n" + GOOD, 20_000)
    assert parsed.outcome is None and "def test_sqrt" in parsed.code
    assert parse_test_file(GOOD, 30).outcome == TestOutcome.TOO_LONG


@pytest.mark.parametrize(("answer", "number", "problem"), [
    ("Candidate 2 is right.\nCHOICE: 2", 2, None),
    ("choice = candidate #3", 3, None),
    ("CHOICE: 1 ... on second thought CHOICE: **4**", 4, None),
    ("CHOICE: 5", None, ChoiceProblem.OUT_OF_RANGE),
    ("CHOICE: 0", None, ChoiceProblem.OUT_OF_RANGE),
    ("Both look fine.", None, ChoiceProblem.NO_CHOICE),
])
def test_a_judge_answer_names_a_shown_candidate_or_not(answer, number, problem):
    assert choice_from_answer(answer, 4) == (number, problem)


def test_a_config_file_changes_only_what_it_names(tmp_path):
    both = tmp_path / "both.yaml"
    both.write_text(yaml.safe_dump({"repro": {"tests": 8, "model": {"temperature": 0.5}},
                                    "judge": {"top": 3, "max_cost": 2.0}}))
    repro = load_definition("repro", both)
    assert repro.tests == 8 and repro.model.temperature == 0.5
    assert repro.model.max_tokens == load_definition("repro").model.max_tokens  # kept
    assert load_definition("judge", both).top == 3
    one = tmp_path / "one.yaml"
    one.write_text(yaml.safe_dump({"selector": "judge", "top": 2}))
    assert load_definition("judge", one).top == 2
    assert load_definition("repro", one) == load_definition("repro")  # not for repro


@pytest.mark.parametrize(("content", "message"), [
    ({"repro": {"tests": 0}}, "tests: Input should be greater than or equal to 1"),
    ({"repro": {"test_path": "/etc/x_{index}.py"}}, "relative path"),
    ({"repro": {"nonsense": 1}}, "nonsense: Extra inputs are not permitted"),
    ({"judge": {"top": 1}}, "top"),
    ({"repo": {}}, "unknown keys ['repo']"),
    ({"selector": "vote"}, "must be repro or judge"),
    ({"judge": {"instance_template": "{% if %}"}}, "not a valid Jinja2 template"),
])
def test_a_bad_definition_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(content))
    kind = "judge" if "judge" in content or content.get("selector") else "repro"
    with pytest.raises(SelectionError, match="bad.yaml") as caught:
        load_definition(kind, path)
    assert message in str(caught.value)


def test_llm_selectors_are_refused_before_any_call_when_they_cannot_keep_their_terms(tmp_path):
    with pytest.raises(SelectionError, match="needs a model"):
        build_selector("repro", SelectorOptions())
    unpriced = SelectorOptions(model="openai/no-such-model-anywhere", api_base="http://x/v1")
    with pytest.raises(SelectionError, match="no price known"):
        build_selector("judge", unpriced)
    capped = tmp_path / "capped.yaml"
    capped.write_text(yaml.safe_dump({"judge": {"max_cost": 1.0}}))
    allowed = SelectorOptions(model="openai/no-such-model-anywhere", api_base="http://x/v1",
                              allow_unknown_price=True, config=str(capped))
    with pytest.raises(SelectionError, match="price is unknown"):
        build_selector("judge", allowed)
    allowed.config = None
    assert build_selector("judge", allowed).name == "judge"
    assert any("no known price" in warning for warning in allowed.warnings)


def _candidate(digest: str, votes: int, first: int) -> CandidateView:
    return CandidateView(digest, f"diff {digest}", tuple(range(first, first + votes)))


def test_the_judge_keeps_its_choice_and_falls_back_in_its_order(tmp_path):
    judge = build_selector("judge", SelectorOptions(
        model="openai/x", api_base="http://x/v1", allow_unknown_price=True)).stages[0]
    pool = Pool((_candidate("a", 1, 0), _candidate("b", 3, 1), _candidate("c", 2, 4)))
    assert judge.narrow(pool, {"outcome": "chosen", "choice": "c"}).hashes == ("c",)
    # Not in this pool (a k-subset), or no choice: the most votes first, ties kept in order.
    assert judge.narrow(pool, {"outcome": "chosen", "choice": "z"}).hashes == ("b", "c", "a")
    assert judge.narrow(pool, {"outcome": "no_choice"}).hashes == ("b", "c", "a")
    incoming = tmp_path / "incoming.yaml"
    incoming.write_text(yaml.safe_dump({"judge": {"order": "incoming"}}))
    judge = build_selector("judge", SelectorOptions(
        model="openai/x", api_base="http://x/v1", allow_unknown_price=True,
        config=str(incoming))).stages[0]
    assert judge.narrow(pool, {"outcome": "budget_stopped"}).hashes == ("a", "b", "c")
