"""One self-contained HTML page of an evaluation: summary table, conventions, figures (PNG
embedded, so the page can be mailed or moved alone), and what was not evaluated."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from html import escape

from rwsr.eval.runner import Evaluation
from rwsr.eval.summary import best_methods, summarize
from rwsr.eval.tables import format_value, problem_lines

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.best { font-weight: bold; background: #eef6ee; }
tr.reference td { color: #666; font-style: italic; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; }
.problems li { color: #a00; }
"""


def _table(evaluation: Evaluation) -> str:
    rows = summarize(evaluation)
    columns = evaluation.settings.columns()
    best = best_methods(rows, columns)
    total = len(evaluation.samples)
    head = "".join(f"<th>{escape(c.label)} {c.arrow}</th>" for c in columns)
    lines = [f"<table><tr><th>Method</th><th>Images</th>{head}</tr>"]
    for row in rows:
        images = (
            str(row.images) if row.images == total or row.reference else f"{row.images} of {total}"
        )
        cells = []
        for column in columns:
            text = (
                format_value(column.key, row.means[column.key]) if column.key in row.means else "–"
            )
            css = ' class="best"' if row.method in best.get(column.key, set()) else ""
            cells.append(f"<td{css}>{text}</td>")
        css = ' class="reference"' if row.reference else ""
        lines.append(
            f"<tr{css}><td>{escape(row.method)}</td><td>{images}</td>{''.join(cells)}</tr>"
        )
    return "\n".join(lines) + "</table>"


def html_page(
    evaluation: Evaluation, title: str, figures: Mapping[str, bytes], files: list[str]
) -> str:
    """The page; `figures` maps a caption to PNG bytes, `files` lists the other outputs."""
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
    ]
    state = "complete" if evaluation.complete else "INCOMPLETE: some images were not evaluated"
    parts.append(
        f"<p>{len(evaluation.samples)} test image(s), {len(evaluation.methods)} method(s); {state}.</p>"
    )
    parts.append(_table(evaluation))
    parts.append("<h2>Conventions</h2><ul>")
    parts += [f"<li>{escape(line)}</li>" for line in evaluation.settings.conventions()]
    parts.append("</ul>")
    for caption, png in figures.items():
        data = base64.b64encode(png).decode("ascii")
        parts.append(
            f"<h2>{escape(caption)}</h2><img alt='{escape(caption)}' src='data:image/png;base64,{data}'>"
        )
    if evaluation.problems:
        parts.append(f"<h2>Not evaluated ({len(evaluation.problems)})</h2><ul class='problems'>")
        parts += [f"<li>{escape(line)}</li>" for line in problem_lines(evaluation)]
        parts.append("</ul>")
    if evaluation.notes:
        parts.append("<h2>Notes</h2><ul>")
        parts += [f"<li>{escape(note)}</li>" for note in evaluation.notes]
        parts.append("</ul>")
    links = " · ".join(f"<a href='{escape(name)}'>{escape(name)}</a>" for name in files)
    parts.append(f"<p>Files: {links}</p></body></html>")
    return "\n".join(parts) + "\n"
