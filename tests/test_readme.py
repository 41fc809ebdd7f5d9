"""The README is a short user's guide that cannot drift: at most 12,000 characters, every docs/
page linked from it, every `python -m harness` command in it naming configs that exist, and its
headline table equal to what the committed rows give."""

import re
import shlex
from pathlib import Path

from harness.cli import check_names
from harness.record.store import current_semantics, load_results
from harness.report.headline import readme_block, table

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def test_the_readme_fits_in_a_head():
    assert len(README) <= 12_000


def test_every_docs_page_is_linked_from_the_readme():
    for page in (REPO / "docs").glob("*.md"):
        assert f"docs/{page.name}" in README, page.name


def test_the_readmes_commands_name_configs_that_exist():
    commands = [line.split("#")[0] for line in re.findall(r"python -m harness [^\n`]*", README)]
    assert len(commands) >= 4
    for command in commands:
        args = [a for a in shlex.split(command)[3:] if "=" in a]
        assert check_names(args) is None, command


def test_the_headline_table_is_generated_from_the_committed_rows():
    df, _ = current_semantics(load_results(REPO / "results"))
    assert readme_block(README) == table(df), "regenerate: python -m harness.report --readme README.md"
