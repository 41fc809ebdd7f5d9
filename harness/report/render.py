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
    headline: str | None = None            # the finding in one sentence, for the index's dashboard

    @property
    def hardware(self) -> str:
        return next((line.split(": ", 1)[1] for line in self.header if line.startswith("Hardware: ")), "no runs")

    @property
    def provenance(self) -> list[str]:
        """Everything behind the tables (models, precision, caps, schedule, seeds, commits, each run
        setting), shown in one folded block after them."""
        return [line for line in self.header if not line.startswith("Hardware: ")] + self.details


def visible(grid: Grid) -> Grid:
    """The grid without the columns no body row fills (every cell empty or '—...'), their names said
    once in a footnote; the first column always stays."""
    def empty(cell) -> bool:
        return not str(cell).strip() or str(cell).startswith(MISSING)

    keep = [i for i in range(len(grid.columns)) if i == 0 or not grid.rows or not all(empty(r[i]) for r in grid.rows)]
    if len(keep) == len(grid.columns):
        return grid
    dropped = [grid.columns[i] for i in range(len(grid.columns)) if i not in keep]
    where = {old: new for new, old in enumerate(keep)}
    return Grid(grid.caption, [grid.columns[i] for i in keep], [[r[i] for i in keep] for r in grid.rows],
                {(r, where[c]) for r, c in grid.bold if c in where},
                grid.footnotes + [f"Not run (no column shown): {', '.join(dropped)}."], grid.collapsed)


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(report: Report, figure_dir: str = ".") -> str:
    out = [f"# {report.title}", ""]
    if report.headline:
        out += [f"**{_md_cell(report.headline)}**", ""]
    out += [f"Hardware: {report.hardware}", ""]
    for grid in map(visible, report.grids):
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
    if report.provenance:
        out += [f"<details><summary>Provenance ({len(report.provenance)} lines)</summary>", ""]
        out += [f"- {_md_cell(d)}" for d in report.provenance] + ["", "</details>", ""]
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
           f"<style>{_CSS}</style></head><body>", f"<h1>{e(report.title)}</h1>"]
    if report.headline:
        out.append(f"<p class='headline'><b>{e(report.headline)}</b></p>")
    out.append(f"<p>Hardware: {e(report.hardware)}</p>")
    for grid in map(visible, report.grids):
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
    if report.provenance:
        out.append(f"<details><summary>Provenance ({len(report.provenance)} lines)</summary><ul>")
        out += [f"<li>{e(d)}</li>" for d in report.provenance] + ["</ul></details>"]
    if report.notes:
        out += ["<h2>Notes</h2><ul>"] + [f"<li>{e(n)}</li>" for n in report.notes] + ["</ul>"]
    out.append("</body></html>")
    return "\n".join(out)


def _headline(report: Report) -> str:
    if report.headline:
        return report.headline
    main = next((visible(g) for g in report.grids if not g.collapsed), None)
    return f"{main.caption}: {len(main.rows)} rows." if main else "No result rows yet."


def index_html(reports: list[Report]) -> str:
    """A dashboard: for each report its finding in one sentence, its key figure as a thumbnail and the
    hardware it came from."""
    e = html.escape
    cards = []
    for r in reports:
        thumb = ""
        if r.figures:
            data = base64.b64encode(Path(r.figures[0]).read_bytes()).decode()
            thumb = f"<img class='thumb' alt='{e(r.figures[0].stem)}' src='data:image/png;base64,{data}'>"
        cards.append(f"<div class='card'>{thumb}<h2><a href='{e(r.name)}.html'>{e(r.title)}</a></h2>"
                     f"<p>{e(_headline(r))}</p><p class='hw'>Hardware: {e(r.hardware)} · "
                     f"<a href='{e(r.name)}.md'>Markdown</a></p></div>")
    css = (_CSS + ".card{border:1px solid #ddd;border-radius:6px;padding:1em;margin:1em 0;overflow:hidden}"
           ".thumb{float:right;width:280px;margin-left:1em}.hw{color:#555;font-size:90%}h2{margin-top:0}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>peft-bench reports</title>"
            f"<style>{css}</style></head><body><h1>peft-bench reports</h1>"
            f"<p>Every row, filterable, sortable and plotted: <a href='explorer.html'>results explorer</a>.</p>"
            f"{''.join(cards)}</body></html>")


def index_markdown(reports: list[Report]) -> str:
    lines = ["# peft-bench reports", "", "Every row, filterable and plotted: [results explorer](explorer.html) "
             "(open the HTML file; GitHub does not run its script).", ""]
    for r in reports:
        lines += [f"- [{r.title}]({r.name}.md): {_headline(r)} (hardware: {r.hardware})"]
    return "\n".join(lines) + "\n"
