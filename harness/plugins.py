"""Components named by import path (`package.module:attribute`), the way agents and selectors
plug in without touching this package."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def load_callable(name: str, kind: str, error: type[Exception]) -> Callable[..., Any]:
    """The callable at `name` (`module:attribute`). Raises `error` saying what is wrong: a
    module that does not import, or an attribute that is missing or not callable."""
    module_name, _, attribute = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as failure:
        raise error(f"{kind} {name!r}: cannot import {module_name}: {failure}") from None
    found = getattr(module, attribute, None)
    if not callable(found):
        raise error(f"{kind} {name!r}: {module_name} has no callable {attribute!r}")
    return found
