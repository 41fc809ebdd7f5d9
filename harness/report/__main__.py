"""`python -m harness.report [--results results/] [--out reports/] [--table NAME ...]`

Writes one Markdown and one self-contained HTML file per table, the figures as PNG and SVG,
and an index page. Works on any subset of results: absent cells say why.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from harness.record import integrity
from harness.record.schema import SEMANTICS_VERSION
from harness.record.store import current_semantics, load_results
from harness.report import explorer
from harness.report.plots import FIGURES
from harness.report.render import index_html, index_markdown, to_html, to_markdown
from harness.report.tables import TABLES


def write_reports(results: Path, out: Path, names: list[str]) -> list[Path]:
    df, stale_rows = current_semantics(load_results(results))
    stale = len(stale_rows)
    if stale:
        logging.warning("%d row(s) written by an older harness (semantics < v%d) are left out of every report",
                        stale, SEMANTICS_VERSION)
    duplicates = integrity.duplicated_ok_configs(df)
    if duplicates:
        logging.warning("%s", integrity.describe(duplicates))
        df = integrity.newest_ok_per_config(df)
    out.mkdir(parents=True, exist_ok=True)
    written, reports = [], []
    for name in names:
        report = TABLES[name](df)
        if duplicates:
            report.notes.insert(0, f"Warning: {integrity.describe(duplicates)}")
        if stale:
            report.notes.append(f"{stale} row(s) of {results} written by an older harness, whose numbers meant something "
                                f"else (semantics < v{SEMANTICS_VERSION}), are left out.")
        for figure in FIGURES.get(name, []):
            report.figures += figure(df, out / "figures")
        (out / f"{name}.md").write_text(to_markdown(report, "figures"))
        (out / f"{name}.html").write_text(to_html(report))
        written += [out / f"{name}.md", out / f"{name}.html"]
        reports.append(report)
    (out / "explorer.html").write_text(explorer.page(df))
    if not (out / explorer.BUNDLE).is_file() or (out / explorer.BUNDLE).read_text() != explorer.bundle():
        (out / explorer.BUNDLE).write_text(explorer.bundle())
    written.append(out / "explorer.html")
    (out / "index.html").write_text(index_html(reports))
    (out / "README.md").write_text(index_markdown(reports))
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.report", description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--out", type=Path, default=Path("reports"))
    parser.add_argument("--table", action="append", choices=sorted(TABLES), help="repeatable; default: all")
    parser.add_argument("--readme", type=Path, help="also rewrite this README's headline table from the rows")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not args.results.exists():
        print(f"error: --results {args.results}: no such folder", file=sys.stderr)
        return 2
    for path in write_reports(args.results, args.out, args.table or list(TABLES)):
        print(path)
    if args.readme:
        from harness.report.headline import update_readme

        df, _ = current_semantics(load_results(args.results))
        if update_readme(args.readme, df):
            print(args.readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
