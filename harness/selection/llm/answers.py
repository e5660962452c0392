"""A model's answer -> a reproduction test file or a judge's choice, or the clear reason why not.

Nothing here runs the answer: a test's syntax is checked with `ast.parse` on the host, and it
runs only inside the task's sandbox.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from enum import Enum

_BLOCK = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)```", re.DOTALL)
_PYTHON_TAGS = {"", "python", "py", "python3", "pytest"}
_CHOICE = re.compile(r"choice\s*[:=]\s*\**\s*(?:candidate\s*)?#?\s*(\d+)", re.IGNORECASE)


class TestOutcome(str, Enum):
    """What became of one reproduction test the model was asked for."""

    __test__ = False

    KEPT = "kept"  # fails at the base commit: it reproduces the issue
    NO_CODE_BLOCK = "no_code_block"  # the answer holds no ```python block
    SYNTAX_ERROR = "syntax_error"
    NO_TEST_FUNCTION = "no_test_function"  # nothing pytest would collect
    TOO_LONG = "too_long"
    PASSES_AT_BASE = "passes_at_base"  # does not reproduce the issue
    BROKEN_AT_BASE = "broken_at_base"  # reported no test result at the base commit
    NOT_ASKED = "not_asked"  # the budget stopped the calls before this test was written


@dataclass(frozen=True)
class ParsedTest:
    code: str
    outcome: TestOutcome | None  # None: a usable test file
    detail: str = ""


def _collectable(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                node.name.startswith("test"):
            return True
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            return True
    return False


def parse_test_file(answer: str, max_chars: int) -> ParsedTest:
    """The answer's test file: its first Python code block that defines a test, else the
    reason it has none."""
    blocks = [body for tag, body in _BLOCK.findall(answer) if tag.lower() in _PYTHON_TAGS]
    if not blocks:
        return ParsedTest("", TestOutcome.NO_CODE_BLOCK, "the answer has no ```python block")
    problem: ParsedTest | None = None
    for body in blocks:
        code = body if body.endswith("\n") else body + "\n"
        if len(code) > max_chars:
            problem = problem or ParsedTest(
                code[:max_chars], TestOutcome.TOO_LONG,
                f"{len(code)} characters, over the {max_chars} allowed",
            )
            continue
        try:
            tree = ast.parse(code)
        except SyntaxError as error:
            problem = problem or ParsedTest(
                code, TestOutcome.SYNTAX_ERROR, f"line {error.lineno}: {error.msg}"
            )
            continue
        if not _collectable(tree):
            problem = problem or ParsedTest(
                code, TestOutcome.NO_TEST_FUNCTION, "no top-level test_* function or Test* class"
            )
            continue
        return ParsedTest(code, None)
    assert problem is not None
    return problem


class ChoiceProblem(str, Enum):
    NO_CHOICE = "no_choice"  # no "CHOICE: n" line
    OUT_OF_RANGE = "choice_out_of_range"


def choice_from_answer(answer: str, shown: int) -> tuple[int | None, ChoiceProblem | None]:
    """The candidate number (1-based) of the answer's last `CHOICE: n`, or why there is none."""
    found = _CHOICE.findall(answer)
    if not found:
        return None, ChoiceProblem.NO_CHOICE
    number = int(found[-1])
    if not 1 <= number <= shown:
        return None, ChoiceProblem.OUT_OF_RANGE
    return number, None
