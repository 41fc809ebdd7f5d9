"""A report table and its two renderings: Markdown and self-contained HTML.

Every cell is a string made by the table builder; HTML escapes every string that goes into
the page (model names, method labels and error texts come from user input).
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

MISSING = "—"


@dataclass
class Grid:
    """One rectangular table: a caption, a header row, body rows, and cells to emphasise."""
    caption: str
    columns: list[str]
    rows: list[list[str]]
    bold: set[tuple[int, int]] = field(default_factory=set)  # (row, col) of best values
    # lines under the table: cells that are empty, one line per reason (results first)
    footnotes: list[str] = field(default_factory=list)
    collapsed: bool = False  # secondary detail: shown folded (<details>) under its caption


@dataclass
class Report:
    name: str
    title: str
    header: list[str]                      # lines naming model, hardware, caps, seeds
    grids: list[Grid]
    notes: list[str] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)  # PNG files (SVG beside them)
    details: list[str] = field(default_factory=list)   # run settings behind the header, shown folded


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(report: Report, figure_dir: str = ".") -> str:
    out = [f"# {report.title}", ""]
    out += [f"- {line}" for line in report.header] + [""]
    if report.details:
        out += [f"<details><summary>Run settings ({len(report.details)})</summary>", ""]
        out += [f"- {_md_cell(d)}" for d in report.details] + ["", "</details>", ""]
    for grid in report.grids:
        if grid.collapsed:
            out += [f"<details><summary>{_md_cell(grid.caption)} ({len(grid.rows)} rows)</summary>", ""]
        else:
            out += [f"## {grid.caption}", ""]
        out.append("| " + " | ".join(_md_cell(c) for c in grid.columns) + " |")
        out.append("|" + "|".join("---" for _ in grid.columns) + "|")
        for r, row in enumerate(grid.rows):
            cells = [f"**{_md_cell(c)}**" if (r, i) in grid.bold else _md_cell(c) for i, c in enumerate(row)]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
        if grid.footnotes:
            out += [f"- {_md_cell(n)}" for n in grid.footnotes] + [""]
        if grid.collapsed:
            out += ["</details>", ""]
    for fig in report.figures:
        out += [f"![{fig.stem}]({figure_dir}/{fig.name})", ""]
    if report.notes:
        out += ["## Notes", ""] + [f"- {n}" for n in report.notes] + [""]
    return "\n".join(out)


_CSS = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
        "text-align:right}td:first-child,th:first-child{text-align:left}th{background:#f4f4f4}"
        "img{max-width:100%}.wide{overflow-x:auto}summary{cursor:pointer;font-weight:600;margin:1em 0}")


def to_html(report: Report) -> str:
    def e(text) -> str:
        return html.escape(str(text))

    out = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>", f"<title>{e(report.title)}</title>",
           f"<style>{_CSS}</style></head><body>", f"<h1>{e(report.title)}</h1>", "<ul>"]
    out += [f"<li>{e(line)}</li>" for line in report.header] + ["</ul>"]
    if report.details:
        out.append(f"<details><summary>Run settings ({len(report.details)})</summary><ul>")
        out += [f"<li>{e(d)}</li>" for d in report.details] + ["</ul></details>"]
    for grid in report.grids:
        if grid.collapsed:
            out.append(f"<details><summary>{e(grid.caption)} ({len(grid.rows)} rows)</summary>")
        else:
            out.append(f"<h2>{e(grid.caption)}</h2>")
        out.append("<div class='wide'><table><thead><tr>")
        out += [f"<th>{e(c)}</th>" for c in grid.columns]
        out.append("</tr></thead><tbody>")
        for r, row in enumerate(grid.rows):
            cells = [f"<td><b>{e(c)}</b></td>" if (r, i) in grid.bold else f"<td>{e(c)}</td>" for i, c in enumerate(row)]
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</tbody></table></div>")
        if grid.footnotes:
            out += ["<ul class='footnotes'>"] + [f"<li>{e(n)}</li>" for n in grid.footnotes] + ["</ul>"]
        if grid.collapsed:
            out.append("</details>")
    for fig in report.figures:
        data = base64.b64encode(Path(fig).read_bytes()).decode()
        out.append(f"<p><img alt='{e(fig.stem)}' src='data:image/png;base64,{data}'></p>")
    if report.notes:
        out += ["<h2>Notes</h2><ul>"] + [f"<li>{e(n)}</li>" for n in report.notes] + ["</ul>"]
    out.append("</body></html>")
    return "\n".join(out)


def index_html(reports: list[Report]) -> str:
    e = html.escape
    items = "".join(f"<li><a href='{e(r.name)}.html'>{e(r.title)}</a> (<a href='{e(r.name)}.md'>Markdown</a>)</li>"
                    for r in reports)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>peft-bench reports</title>"
            f"<style>{_CSS}</style></head><body><h1>peft-bench reports</h1><ul>{items}</ul></body></html>")


def index_markdown(reports: list[Report]) -> str:
    return "\n".join(["# peft-bench reports", ""] + [f"- [{r.title}]({r.name}.md)" for r in reports]) + "\n"
