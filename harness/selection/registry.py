"""Selectors by name: built-in ones by short name, any other by import path
(`package.module:factory`), composed with `+` (`regression+behavior`, `repro+regression+vote`).

A factory takes a `SelectorOptions` and returns an object satisfying
`harness.selection.base.Selector`. It raises SelectionError for anything the user must fix;
`warnings` it appends are printed. Names that would choose by the hidden tests (`oracle`, ...)
are refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.plugins import load_callable
from harness.selection.base import Chain, SelectionError, Selector

if TYPE_CHECKING:
    from harness.models.budget import Budget
    from harness.store import Store

# Names a user may reach for that would choose by the hidden tests.
ORACLE_NAMES = frozenset({"oracle", "best", "resolved", "gold", "any", "tests", "pass", "passk"})


@dataclass
class SelectorOptions:
    """Everything a selector may be built from; each reads what it needs (the LLM ones the
    same model options an agent takes)."""

    max_test_files: int = 8  # regression: test files run per task at most
    model: str | None = None
    api_base: str | None = None
    prices: str | None = None
    allow_unknown_price: bool = False
    max_connections: int = 8
    cache: bool = True
    store: Store | None = None
    budget: Budget | None = None
    config: str | None = None  # an LLM selector's definition file
    warnings: list[str] = field(default_factory=list)


SelectorFactory = Callable[[SelectorOptions], Selector]


def _first(options: SelectorOptions) -> Selector:
    from harness.selection.simple import FirstSelector

    return FirstSelector()


def _vote(options: SelectorOptions) -> Selector:
    from harness.selection.simple import VoteSelector

    return VoteSelector()


def _regression(options: SelectorOptions) -> Selector:
    from harness.selection.regression import RegressionSelector

    return RegressionSelector(max_test_files=options.max_test_files)


def _behavior(options: SelectorOptions) -> Selector:
    from harness.selection.behavior import BehaviorSelector

    return BehaviorSelector(max_test_files=options.max_test_files)


def _repro(options: SelectorOptions) -> Selector:
    from harness.selection.llm.repro import make_repro

    return make_repro(options)


def _judge(options: SelectorOptions) -> Selector:
    from harness.selection.llm.judge import make_judge

    return make_judge(options)


def _consensus(options: SelectorOptions) -> Selector:
    from harness.selection.consensus import ConsensusSelector

    return ConsensusSelector()


BUILT_IN: dict[str, SelectorFactory] = {
    "first": _first,
    "vote": _vote,
    "consensus": _consensus,
    "regression": _regression,
    "behavior": _behavior,
    "repro": _repro,
    "judge": _judge,
}


def register(name: str, factory: SelectorFactory) -> None:
    """Adds a short name (e.g. the LLM selectors `repro`, `judge` register theirs)."""
    BUILT_IN[name] = factory


def check_not_oracle(name: str) -> None:
    key = name.strip().lower().replace("@", "").replace("-", "").replace("_", "")
    if key in ORACLE_NAMES:
        raise SelectionError(
            f"selector {name!r} would choose each task's patch by its hidden test outcome. A "
            "leaderboard's tests are hidden at submission time, so that score (the oracle, "
            "'solve rate at k') is not one a system can achieve. Choose one of: "
            f"{', '.join(BUILT_IN)}, or an import path package.module:factory."
        )


def factory_for(name: str) -> SelectorFactory:
    """A built-in selector's factory, or the callable at `module:attribute`."""
    check_not_oracle(name)
    if name in BUILT_IN:
        return BUILT_IN[name]
    if ":" not in name:
        raise SelectionError(
            f"unknown selector {name!r}; built in: {', '.join(BUILT_IN)}, or give an import "
            "path such as my_package.my_module:make_selector"
        )
    return load_callable(name, "selector", SelectionError)


def build_selector(name: str, options: SelectorOptions | None = None) -> Chain:
    """`name` is one selector or several joined by `+`; always returns a Chain (of one or
    more stages). Raises SelectionError."""
    options = options or SelectorOptions()
    parts = [part.strip() for part in name.split("+")]
    if not name.strip() or not all(parts):
        raise SelectionError(f"selector name {name!r} has an empty part")
    stages = []
    for part in parts:
        selector = factory_for(part)(options)
        if not isinstance(selector, Selector):
            raise SelectionError(
                f"selector {part!r} built a {type(selector).__name__}, which lacks the Selector "
                "interface (name, needs_sandbox, needs_models, exact_at_subsets, gather, narrow)"
            )
        stages.append(selector)
    return Chain(tuple(stages))
