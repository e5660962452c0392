"""Untrusted text (patches, test logs, model output) made safe to show: control characters
become visible labels (a terminal escape shows as ESC[31m, never colours or moves anything),
large texts are cut into pages, diffs are highlighted server-side by Pygments, whose HTML
formatter escapes every character it emits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from markupsafe import Markup, escape

# Every C0 control but tab and newline, and DEL; a carriage return only when no newline follows.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]|\r(?!\n)")
_PICTURE = re.compile("[\u2400-\u2421]")
_NAMES = {0x00: "NUL", 0x07: "BEL", 0x08: "BS", 0x0D: "CR", 0x1B: "ESC", 0x7F: "DEL"}
PAGE_CHARS = 64_000  # one page of a log or a diff
MESSAGE_CHARS = 20_000  # one trajectory message shown before "show the rest"


def _to_picture(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return "\u2421" if code == 0x7F else chr(0x2400 + code)


def _to_label(match: re.Match[str]) -> str:
    code = 0x7F if match.group(0) == "\u2421" else ord(match.group(0)) - 0x2400
    name = _NAMES.get(code, f"^{chr(code + 64)}")
    return f'<span class="ctl" title="control character U+{code:04X}">{name}</span>'


def _labelled(html: str) -> Markup:
    """Escaped HTML whose control pictures become labelled spans (ESC, BEL, ^K): every font
    shows them, where the pictures themselves are often missing glyphs."""
    return Markup(_PICTURE.sub(_to_label, html))


def visible(text: str) -> Markup:
    """The text escaped, its control characters shown as labels (a terminal escape reads
    ESC[31m and colours nothing)."""
    return _labelled(str(escape(_CONTROL.sub(_to_picture, str(text).replace("\r\n", "\n")))))


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
    pictured = _CONTROL.sub(_to_picture, text.replace("\r\n", "\n"))
    return _labelled(highlight(pictured, lexer, formatter))


def diff_css() -> str:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(style="default").get_style_defs(".diff")
