"""Untrusted text (patches, test logs, model output) made safe to show: control characters
become visible symbols (a terminal escape shows as ␛[31m, never colours or moves anything),
large texts are cut into pages, diffs are highlighted server-side by Pygments, whose HTML
formatter escapes every character it emits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from markupsafe import Markup

# Every C0 control but tab and newline, and DEL; a carriage return only when no newline follows.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]|\r(?!\n)")
PAGE_CHARS = 64_000  # one page of a log or a diff
MESSAGE_CHARS = 20_000  # one trajectory message shown before "show the rest"


def _symbol(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return "\u2421" if code == 0x7F else chr(0x2400 + code)


def visible(text: str) -> str:
    """The text with control characters replaced by their Unicode control pictures."""
    return _CONTROL.sub(_symbol, text.replace("\r\n", "\n"))


@dataclass(frozen=True)
class TextPage:
    """One page of a large text: characters [start, start + PAGE_CHARS) of `total`."""

    number: int  # 0-based
    total: int

    @property
    def start(self) -> int:
        return self.number * PAGE_CHARS

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_CHARS))

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 0 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number + 1 < self.pages else None


def page_of(total: int, asked: int) -> TextPage:
    """The asked page, clamped to those that exist."""
    last = max(0, -(-total // PAGE_CHARS) - 1)
    return TextPage(min(max(asked, 0), last), total)


@lru_cache(maxsize=1)
def _diff_tools():
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import DiffLexer

    return DiffLexer(), HtmlFormatter(nowrap=True)


def highlight_diff(text: str) -> Markup:
    """The diff as HTML spans (Pygments classes, styled by the viewer's CSS)."""
    from pygments import highlight

    lexer, formatter = _diff_tools()
    return Markup(highlight(visible(text), lexer, formatter))


def diff_css() -> str:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(style="default").get_style_defs(".diff")
