"""Scripts that show the issue's behaviour, for `behavior` to run on the base commit and on every
candidate and compare their outputs (AlphaCode clustered programs by their outputs on inputs it
generated; here the inputs are the issue's own examples and the reproduction scripts that
candidates brought). Nothing hidden: the issue text and the candidates' patches.

Where scripts come from:
- the issue's code: its fenced blocks (``` or ~~~), indented blocks and interactive-session
  lines, in the order it shows them, prompts (`>>> `, `... `) and printed results taken out,
  each kept if it parses as Python (a quoted traceback does not); all of them as one script, in
  one namespace, as the reader would type them (`issue_script`);
- each candidate's reproduction scripts: `.py` files its patch adds that are not test modules
  and lie at the repository's root or are named reproduce*/repro*/replicate*; at most
  MAX_OWN_SCRIPTS per candidate (written into every candidate's tree, so all run the same code).

Each script's top-level expression statements go through `sys.displayhook`, as in the
interactive session an issue shows: a bare `merge(a, b)` prints its value.

Outcome of a run: how it ended (ok, fail, timeout) and a digest of its output (stdout and stderr
together), normalized so that what differs between identical behaviours does not count: memory
addresses, line numbers in tracebacks (a patch moves them), durations.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import shlex
import textwrap

from unidiff import PatchSet
from unidiff.errors import UnidiffParseError

from harness.evaluation.eval_script import is_test_file
from harness.selection.base import CandidateView, TestRun, TestSuite

MAX_ISSUE_PIECES = 12
MAX_EXPECTED = 10  # quoted outputs compared with a script's output
OUTPUT_KEPT = 8_000  # characters of a script's normalized output kept as evidence
MAX_OWN_SCRIPTS = 2
SCRIPT_TIMEOUT = 60  # seconds: an issue's example runs in moments, or it hangs
OUTPUT_TAIL = 20_000  # characters of output that count
OUTCOME_PREFIX = "OUT:"

_FENCE = re.compile(r"^[ \t]*(```|~~~)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.S | re.M)
_REPRO_NAME = re.compile(r"^(reproduce|repro|replicate)", re.I)
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{4,}")
_TRACE_LINE = re.compile(r'(File "[^"]*", line )\d+')
_DURATION = re.compile(r"\b\d+(\.\d+)?\s*(s|ms|sec|seconds)\b")


def _show_expressions(source: str) -> str | None:
    """The source with each top-level expression statement shown through sys.displayhook;
    None when it is not Python (this interpreter's grammar) or does nothing."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    if not tree.body or not any(
        isinstance(node, (ast.Call, ast.Import, ast.ImportFrom, ast.Assign, ast.FunctionDef,
                          ast.ClassDef)) for node in ast.walk(tree)
    ):
        return None  # nothing that does anything: output quoted in the issue (`cr-me-br-l-e`)
    body: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.Expr) and not _is_print(node.value):
            hook = ast.Attribute(ast.Name("_harness_sys", ast.Load()), "displayhook", ast.Load())
            node = ast.Expr(ast.Call(hook, [node.value], []))
        body.append(node)
    module = ast.fix_missing_locations(ast.Module(body=body, type_ignores=[]))
    return ast.unparse(module) + "\n"


def _imports(source: str) -> bool:
    tree = ast.parse(source)
    return any(isinstance(node, (ast.Import, ast.ImportFrom)) for node in ast.walk(tree))


def _is_print(value: ast.expr) -> bool:
    return (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
            and value.func.id == "print")


def _session_to_code(block: str) -> str:
    """An interactive session's input lines (prompts removed, printed results dropped); other
    text unchanged."""
    lines = block.splitlines()
    if not any(line.lstrip().startswith(">>>") for line in lines):
        return block
    code = []
    for line in lines:
        stripped = line.lstrip()
        if stripped.startswith(">>>") or stripped.startswith("..."):
            code.append(stripped[4:] if len(stripped) > 3 and stripped[3] == " " else stripped[3:])
    return "\n".join(code)


def _prose_pieces(text: str) -> list[tuple[int, str]]:
    """(line number, piece) of the code outside fenced blocks: Markdown's indented blocks (runs
    of lines indented by 4 or more, or a tab) and unindented interactive-session lines."""
    pieces: list[tuple[int, str]] = []
    current: list[str] = []
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if line.startswith(("    ", "\t")) or (current and not line.strip()):
            current.append(line)
            continue
        if current:
            pieces.append((number - len(current), textwrap.dedent("\n".join(current))))
            current = []
        if line.startswith((">>>", "...")):
            pieces.append((number, line))
    if current:
        pieces.append((len(lines) - len(current), textwrap.dedent("\n".join(current))))
    return pieces


def _code_pieces(text: str) -> list[str]:
    """The issue's code in the order it shows it: fenced blocks, indented blocks, and
    interactive-session lines outside both."""
    pieces = [(text.count("\n", 0, m.start()), m.group(2)) for m in _FENCE.finditer(text)]
    # Fenced blocks blanked line for line, so the rest keeps the text's line numbers.
    pieces += _prose_pieces(_FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text))
    return [piece for _, piece in sorted(pieces, key=lambda item: item[0])]


def _squeeze(text: str) -> str:
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


def expected_outputs(issue_text: str) -> list[str]:
    """The issue's blocks that are not code: outputs it quotes (what happens now, what should
    happen), whitespace squeezed. A candidate whose issue-script output shows one that the
    base commit's does not shows a behaviour the issue wrote down."""
    text = (issue_text or "").replace("\r\n", "\n").replace("\r", "\n")
    found: list[str] = []
    for match in _FENCE.finditer(text):
        block = match.group(2)
        if _show_expressions(_session_to_code(block)) is not None:
            continue
        squeezed = _squeeze(block)
        if len(squeezed.replace(" ", "")) >= 3 and squeezed not in found:
            found.append(squeezed)
    return found[:MAX_EXPECTED]


def shown(expected: list[str], output: str) -> set[int]:
    """Indexes of the expected blocks that `output` shows (whitespace squeezed)."""
    squeezed = _squeeze(output)
    return {number for number, block in enumerate(expected) if block in squeezed}


def issue_script(issue_text: str, repo: str) -> str | None:
    """One script of the issue's runnable code pieces, in order, sharing one namespace as in
    the reader's session; a piece that raises prints the exception's type and message and the
    next one runs. When no piece imports anything, the repository's package is star-imported
    first (the session an issue shows often leaves that out). None when no piece is Python."""
    text = (issue_text or "").replace("\r\n", "\n").replace("\r", "\n")
    sources: list[str] = []
    for piece in _code_pieces(text):
        source = _show_expressions(_session_to_code(piece))
        if source is not None and source not in sources:
            sources.append(source)
        if len(sources) == MAX_ISSUE_PIECES:
            break
    if not sources:
        return None
    if not any(_imports(source) for source in sources):
        package = repo.rsplit("/", 1)[-1].replace("-", "_")
        sources.insert(0, f"from {package} import *\n")
    return (
        "import sys as _harness_sys\n"
        f"_harness_pieces = {sources!r}\n"
        "_harness_namespace = {'__name__': '__main__', '_harness_sys': _harness_sys}\n"
        "for _harness_piece in _harness_pieces:\n"
        "    try:\n"
        "        exec(compile(_harness_piece, '<issue>', 'exec'), _harness_namespace)\n"
        "    except Exception as error:\n"
        "        print('raised', type(error).__name__, str(error)[:500])\n"
    )


def own_scripts(candidate: CandidateView) -> list[tuple[str, str]]:
    """(path, text) of the reproduction scripts the candidate's patch adds."""
    try:
        patch = PatchSet(candidate.patch)
    except (UnidiffParseError, ValueError):
        return []
    found = []
    for changed in patch:
        path = changed.path
        name = os.path.basename(path)
        if (changed.is_added_file and path.endswith(".py") and not is_test_file(path)
                and name not in ("setup.py", "conftest.py", "__init__.py")
                and ("/" not in path or _REPRO_NAME.match(name))):
            text = "".join(line.value for hunk in changed for line in hunk if line.is_added)
            found.append((path, text))
    return sorted(found)[:MAX_OWN_SCRIPTS]


def script_suite(name: str, source: str) -> TestSuite:
    """A suite that runs one script instead of the test command. It is written at the
    repository's root, where a reproduction script is run from (its folder, the root, comes
    first on sys.path)."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    path = f"harness_script_{digest}.py"
    return TestSuite(name, (path,), ((path, source),),
                     # The environment's interpreter: `python` where it has one (conda,
                     # virtual environments), else `python3` (a Debian base).
                     command=f'"$(command -v python || command -v python3)" {shlex.quote(path)}')


def normalize_output(output: str) -> str:
    text = output[-OUTPUT_TAIL:]
    text = _ADDRESS.sub("0x?", text)
    text = _TRACE_LINE.sub(r"\1?", text)
    text = _DURATION.sub("?s", text)
    return "\n".join(line.rstrip() for line in text.splitlines()).strip()


def outcome_statuses(output: str, exit_code: int, timed_out: bool) -> dict[str, str]:
    """A script run as one pseudo-test: `script` -> OUT:<ended>:<output digest>; and its
    normalized output's tail under `output` (compared with the issue's quoted outputs)."""
    ended = "timeout" if timed_out else ("ok" if exit_code == 0 else "fail")
    digest = hashlib.sha256(normalize_output(output).encode()).hexdigest()[:16]
    kept = normalize_output(output)[-OUTPUT_KEPT:]
    return {"script": f"{OUTCOME_PREFIX}{ended}:{digest}", "output": kept}


def outcome(run: TestRun) -> str:
    """The run's outcome: OUT:... , or X when the candidate's patch did not apply."""
    if run.problem == "patch_failed":
        return "X"
    return run.statuses.get("script", "M")
