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


def test_the_gpu_rows_memory_accuracy_in_the_readme_is_what_the_committed_rows_give():
    """README and docs/predict_mode.md quote the predictor's allocated-memory error on this
    project's own GPU rows; recomputing the rows' predictions (harness.recompute) must update them."""
    df = load_results(REPO / "results")
    gpu = df[(df["mode"] == "train") & (df["status"] == "ok") & (df["device"] == "cuda")]
    errors = 100 * (gpu["predicted_mem_total_bytes"] / gpu["peak_gpu_mem_allocated_bytes"] - 1)
    worst = errors.loc[errors.abs().idxmax()]
    quoted = f"median {errors.abs().median():.1f} %, worst {worst:+.1f} %".replace("-", "−")
    assert f"{len(gpu)} H200 runs, allocated memory {quoted}" in " ".join(README.split())
    docs = " ".join((REPO / "docs" / "predict_mode.md").read_text().split())
    assert f"**{quoted.replace('median', 'median error', 1)}**" in docs


def test_the_cpu_step_time_accuracy_in_the_readme_is_what_the_recorded_benchmarks_give():
    """The README quotes the recorded CPU step-time benchmark (one and two threads): the larger
    median and whether every cell is within 20 %."""
    summaries = []
    for path in sorted((REPO / "benchmarks" / "results").glob("predict_step_time_cpu_*_thread*.txt")):
        m = re.search(r"(\d+) cells: median \|error\| ([0-9.]+) %, worst [+-][0-9.]+ %, within 20 %: (\d+)",
                      path.read_text())
        summaries.append((int(m.group(1)), float(m.group(2)), int(m.group(3))))
    assert len(summaries) == 2
    cells = sum(s[0] for s in summaries)
    median = max(s[1] for s in summaries)
    text = " ".join(README.split())
    assert f"{cells} cells), step time median {median:.1f} %" in text
    assert ("every cell within 20 %" in text) == all(s[0] == s[2] for s in summaries)
