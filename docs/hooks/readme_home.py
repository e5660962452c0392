"""mkdocs hook: the site's home page is the README itself, read at build time, so the two
cannot drift. The README links into the site as `docs/<page>.md` (what GitHub shows); on the
site the same pages sit beside the home page, so that prefix is dropped.

`docs/index.md` holds only the marker below. Registered in mkdocs.yml under `hooks:`.
"""

from __future__ import annotations

import re
from pathlib import Path

MARKER = "<!-- the README -->"
README = Path(__file__).resolve().parents[2] / "README.md"
# A Markdown link or image target that starts with docs/ (not a code span's text).
DOCS_LINK = re.compile(r"(\]\()docs/")


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001 - mkdocs API
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, DOCS_LINK.sub(r"\1", README.read_text()))
