"""The report as one self-contained HTML page: the same tables as the text report, the plots
inline as SVG, nothing fetched from anywhere."""

from __future__ import annotations

import html

from harness.reports.analysis import RunAnalysis
from harness.reports.render import fit_lines, method_notes, run_header, run_sections, side_by_side
from harness.reports.selection_table import SelectionTable, selection_sections

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; }
td:first-child, th:first-child { text-align: left; }
.note { color: #555; font-size: 0.9em; }
figure { margin: 1em 0; }
"""


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(
    analyses: list[RunAnalysis], figures: dict[str, str] | None = None,
    selections: list[SelectionTable] | None = None,
) -> str:
    """figures: name -> inline SVG text (see harness.reports.plots.svg_text); selections: the
    stored runs' selection tables."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Solve rate at k</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Solve rate at k</h1>",
    ]
    if len(analyses) > 1:
        parts += ["<h2>Runs side by side</h2>", _table(*side_by_side(analyses))]
    for name, svg in (figures or {}).items():
        parts.append(f'<figure id="{html.escape(name)}">{svg}</figure>')
    for analysis in analyses:
        parts.append(f"<h2>{html.escape(analysis.name)}</h2>")
        parts += [f'<p class="note">{html.escape(line)}</p>' for line in run_header(analysis)]
        if not analysis.ks:
            parts.append("<p>No evaluated attempts yet: nothing to report.</p>")
            continue
        for title, header, rows in run_sections(analysis):
            parts += [f"<h3>{html.escape(title)}</h3>", _table(header, rows)]
        if not analysis.external:
            parts.append("<h3>Scaling fit</h3>")
            parts += [f"<p>{html.escape(line)}</p>" for line in fit_lines(analysis)]
    for table in selections or []:
        parts.append(f"<h2>Selection on {html.escape(table.run)}</h2>")
        for title, header, rows in selection_sections(table):
            parts += [f'<p class="note">{html.escape(title)}</p>', _table(header, rows)]
        parts += [f'<p class="note">{html.escape(note)}</p>' for note in table.notes]
    parts.append("<h2>How these figures are made</h2><ul>")
    parts += [f"<li>{html.escape(note)}</li>" for note in method_notes(analyses)]
    parts.append("</ul></body></html>")
    return "\n".join(parts)
