"""Report tables: the golden Markdown of table 1, every table on real and fixture rows,
HTML escaping, and the check that catches a corrupted published average."""

import re
from pathlib import Path

import pandas as pd
import pytest

from harness.report import references
from harness.report.__main__ import write_reports
from harness.report.plots import pareto_front, score_points
from harness.report.render import to_html, to_markdown
from harness.report.tables import TABLES, glue_methods
from tests.report.fixture_rows import glue_rows

GOLDEN = Path(__file__).parent / "golden" / "glue_methods.md"


def test_table1_markdown_matches_golden_file():
    assert to_markdown(glue_methods.build(glue_rows())) == GOLDEN.read_text()


def test_all_average_rule_and_seed_mean():
    report = glue_methods.build(glue_rows())
    lora = next(r for r in report.grids[0].rows if r[0].startswith("lora"))
    # MNLI = mean(81, 81) ; QQP = mean(85, 80); other six tasks per seed mean
    mnli, qqp = (81 + 81) / 2, (85 + 80) / 2
    rest = [91, 42, 88, 71, 85, 88]
    assert lora[-1] == f"{(mnli + qqp + sum(rest)) / 8:.2f}"
    assert lora[2] == "81.00 ± 1.41"  # MNLI m over seeds 80, 82


def test_best_per_column_is_bold():
    report = glue_methods.build(glue_rows())
    lora = next(i for i, r in enumerate(report.grids[0].rows) if r[0].startswith("lora"))
    full = next(i for i, r in enumerate(report.grids[0].rows) if r[0].startswith("full_ft"))
    rte = 2 + 7
    assert (lora, rte) in report.grids[0].bold and (full, rte) not in report.grids[0].bold  # RTE: LoRA wins
    assert (full, 2) in report.grids[0].bold  # MNLI m: full FT wins


def test_runs_at_different_precisions_are_separate_rows_never_one_mean():
    rows = glue_rows()
    bf16 = rows[rows["method"] == "lora"].copy()
    bf16["precision"] = "bf16"
    bf16["metric_accuracy"] = bf16["metric_accuracy"] - 0.10
    report = glue_methods.build(pd.concat([rows, bf16], ignore_index=True))
    names = [r[0] for r in report.grids[0].rows]
    assert "lora r=8 (minilm_l6, bf16)" in names and "lora r=8 (minilm_l6, fp32)" in names
    rte = 2 + 7
    by_name = {r[0]: r for r in report.grids[0].rows}
    assert float(by_name["lora r=8 (minilm_l6, fp32)"][rte].split()[0]) - \
        float(by_name["lora r=8 (minilm_l6, bf16)"][rte].split()[0]) == pytest.approx(10.0)
    assert "- Precision: bf16, fp32" in to_markdown(report)


def test_another_model_stands_beside_the_primary_one_and_stays_out_of_its_tables():
    rows = glue_rows()
    decoder = rows[(rows["method"] == "lora") & (rows["task"] == "glue/mrpc") & (rows["seed"] == 1)].copy()
    decoder["model"], decoder["run_id"] = "smollm2_135m", "decoder"
    decoder["metric_accuracy"], decoder["train_examples"], decoder["train_examples_full"] = 0.7, 1024, 3668
    report = glue_methods.build(pd.concat([rows, decoder], ignore_index=True))
    assert not any("smollm2" in r[0] for g in report.grids[:2] for r in g.rows)  # the paper's tables: MiniLM's
    beside = next(g for g in report.grids if g.caption.startswith("Other models beside minilm_l6"))
    assert beside.columns == ["Method", "Model", "# Params", "MRPC Acc"]  # only the task the decoder ran
    mine, ref = beside.rows[0], beside.rows[1]
    assert mine[:2] == ["lora r=8", "smollm2_135m (fp32)"] and mine[3] == "70.00"
    assert ref[1] == "minilm_l6 (fp32, recipe lr)" and ref[3] != mine[3]
    assert beside.footnotes[0].startswith("smollm2_135m: training examples 1,024 of 3,668 (MRPC); 3 epochs")
    assert beside.footnotes[1].startswith("minilm_l6: training examples")


def test_runs_on_a_gpu_are_separate_rows_from_the_same_runs_on_a_cpu_in_every_table():
    from harness.report.tables import method_properties

    rows = glue_rows()
    gpu = rows[rows["status"] == "ok"].copy()
    gpu["device"], gpu["device_name"] = "cuda", "Test GPU"
    gpu["run_id"] = gpu["run_id"] + "-gpu"
    gpu["metric_accuracy"] = gpu["metric_accuracy"] - 0.10
    both = pd.concat([rows, gpu], ignore_index=True)
    names = [r[0] for r in glue_methods.build(both).grids[0].rows]
    assert "lora r=8 (minilm_l6, fp32 on cpu)" in names and "lora r=8 (minilm_l6, fp32 on cuda)" in names
    settings = {(r[2], r[3]) for r in method_properties.build(both).grids[0].rows}
    assert {("Test CPU, fp32", "lora r=8"), ("Test GPU, fp32", "lora r=8")} <= settings


def test_a_shared_gpu_is_named_wherever_its_runs_hardware_is():
    from harness.report.cells import reproduction_header
    from harness.report.tables import method_properties

    rows = glue_rows()
    gpu = rows[rows["status"] == "ok"].copy()
    gpu["device"], gpu["device_name"], gpu["run_id"] = "cuda", "Test GPU", gpu["run_id"] + "-gpu"
    gpu["gpu_other_processes"] = 0
    gpu.loc[gpu["method"] == "lora", "gpu_other_processes"] = 11
    both = pd.concat([rows, gpu], ignore_index=True)
    hardware = {r[3]: r[2] for r in method_properties.build(both).grids[0].rows if r[2].startswith("Test GPU")}
    lora_runs = int((gpu["method"] == "lora").sum())
    assert re.fullmatch(r"Test GPU, fp32, GPU shared: (\d+) of \1 runs, up to 11 other processes", hardware["lora r=8"])
    assert hardware["full_ft"] == "Test GPU, fp32"  # alone on its GPU (0 others): nothing to say
    header = next(line for line in reproduction_header(both) if line.startswith("Hardware"))
    assert f"Test GPU (cuda), GPU shared: {lora_runs} of {len(gpu)} runs" in header
    assert "Test CPU" in header and header.count("GPU shared") == 1


def test_failed_cells_say_why_in_one_line_per_reason_under_the_table():
    md = to_markdown(glue_methods.build(glue_rows()))
    assert not any(line.startswith("| ia3") for line in md.splitlines())  # no row of dashes
    assert "- — oom: RTE (ia3)" in md
    assert "- — not run: MNLI, SST-2, CoLA, QQP, QNLI, MRPC, STS-B (ia3)" in md


def test_a_single_class_classifier_is_flagged_in_its_cell_and_named_in_the_notes():
    rows = glue_rows()
    hit = (rows["method"] == "lora") & (rows["task"] == "glue/cola") & (rows["seed"] == 1)
    rows.loc[hit, "warnings"] = "single_class: predicts class 1 for all 1043 dev examples"
    md = to_markdown(glue_methods.build(rows))
    lora_line = next(line for line in md.splitlines() if line.startswith("| lora r=8"))
    assert "42.00 ± 2.83 ⚠" in lora_line
    assert "⚠ lora r=8, CoLA Mcc, seed 1: single_class: predicts class 1 for all 1043 dev examples" in md


def test_duplicate_ok_rows_of_one_config_are_named_and_counted_once(tmp_path):
    from harness.record import integrity
    from harness.record.store import write_row
    from harness.report.__main__ import write_reports

    rows = glue_rows()
    rows["config_hash"] = rows["run_id"]
    rows["timestamp_utc"] = "2026-01-01T00:00:00+00:00"
    twin = rows.iloc[[0]].copy()
    twin["run_id"], twin["timestamp_utc"] = "twin", "2026-01-02T00:00:00+00:00"
    twin["metric_accuracy"] = 0.0
    both = pd.concat([rows, twin], ignore_index=True)
    assert integrity.duplicated_ok_configs(both) == {rows.iloc[0]["config_hash"]: 2}
    kept = integrity.newest_ok_per_config(both)
    assert len(kept) == len(rows) and "twin" in set(kept["run_id"])
    for _, row in both.iterrows():
        write_row({k: v for k, v in row.items() if pd.notna(v)}, tmp_path / "results")
    write_reports(tmp_path / "results", tmp_path / "out", ["glue_methods"])
    md = (tmp_path / "out" / "glue_methods.md").read_text()
    assert "1 config(s) have more than one ok row" in md and "not seeds" in md


def test_published_averages_check_out_and_a_corrupted_row_is_flagged():
    table = references.load("adalora_table1_deberta_v3_base_glue")
    assert references.check_glue_averages(table) == []
    corrupted = table.copy()
    low = (corrupted["method"] == "adalora") & (corrupted["budget_params"] == "low")
    corrupted.loc[low, "mrpc_acc"] = 0.44  # the documented transcription error
    corrupted.loc[low, "all_avg"] = 85.66
    problems = references.check_glue_averages(corrupted)
    assert len(problems) == 1 and "adalora, low" in problems[0] and "85.66" in problems[0]


def test_html_escapes_user_strings():
    df = glue_rows()
    df.loc[df["method"] == "lora", "model"] = "<script>alert(1)</script>"
    page = to_html(glue_methods.build(df))
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_table_renders_on_fixture_rows_and_on_nothing(name):
    for df in (glue_rows(), glue_rows().iloc[0:0]):
        report = TABLES[name](df)
        assert to_markdown(report).startswith("# ")
        assert to_html(report).startswith("<!DOCTYPE html>")


def test_command_writes_markdown_html_figures_and_index(tmp_path):
    from harness.record.store import write_row

    for _, row in glue_rows().iterrows():
        write_row({k: (None if pd.isna(v) else v) for k, v in row.items() if k != "schema_version"}, tmp_path / "res")
    written = write_reports(tmp_path / "res", tmp_path / "out", sorted(TABLES))
    assert len(written) == 2 * len(TABLES) + 1  # Markdown and HTML per table, and the results explorer
    assert (tmp_path / "out" / "index.html").exists() and (tmp_path / "out" / "explorer.html").exists()
    assert (tmp_path / "out" / "figures" / "score_vs_params.png").exists()
    assert (tmp_path / "out" / "figures" / "score_vs_params.svg").exists()
    assert "data:image/png;base64," in (tmp_path / "out" / "glue_methods.html").read_text()


def test_score_points_put_adalora_at_its_final_budget_as_the_table_does():
    df = glue_rows()
    ada = df[df["method"] == "lora"].copy()
    ada["method"], ada["method_label"] = "adalora", "adalora r=8"
    ada["params_trainable"], ada["params_adapter_budget_final"] = 450_770, 330_000.0
    points, common, models = score_points(pd.concat([df, ada], ignore_index=True))
    x = {label: params for label, params, _ in points}
    assert x["adalora r=8"] == 330_000 and x["lora r=8"] == 300_000 and x["full_ft"] == 22_713_986 - 770
    assert models == ["minilm_l6"] and "glue/mrpc" in common


def test_labels_of_two_close_points_do_not_overprint():
    import matplotlib.pyplot as plt

    from harness.report.plots import label_offsets

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    points = [("houlsby rf=24", 1.5e5, 84.0), ("lora r=8", 3.3e5, 84.2), ("bitfit", 2.6e4, 68.0),
              ("full_ft", 2.2e7, 84.0)]  # four decades wide, as the real figure
    ax.scatter([p[1] for p in points], [p[2] for p in points])
    ax.set_xscale("log")
    offsets = label_offsets(ax, points)
    plt.close(fig)
    assert offsets[0] == (4.0, 3.0) and offsets[2] == (4.0, 3.0)  # free: above right
    assert offsets[1] != (4.0, 3.0)  # LoRA's label would run into Houlsby's: placed elsewhere


def test_pareto_front():
    assert pareto_front([(1, 50), (2, 40), (3, 60), (10, 55), (10, 70)]) == [(1, 50), (3, 60), (10, 70)]


def test_a_cell_whose_ok_runs_lack_its_score_says_so_instead_of_failing():
    rows = glue_rows()
    rows.loc[(rows["method"] == "lora") & (rows["task"] == "glue/stsb"), "metric_pearson"] = None
    md = to_markdown(glue_methods.build(rows))
    assert "- — ok runs without this score: STS-B (lora r=8)" in md


def test_a_shared_cpu_is_named_wherever_its_runs_hardware_is():
    from harness.report.cells import reproduction_header
    from harness.report.tables import method_properties

    rows = glue_rows()
    rows["cpu_others_busy_cores"] = 0.05  # a little background work: alone
    rows.loc[rows["method"] == "lora", "cpu_others_busy_cores"] = 1.3
    hardware = {r[3]: r[2] for r in method_properties.build(rows).grids[0].rows}
    assert re.fullmatch(r"Test CPU, fp32, CPU shared: (\d+) of \1 runs, up to 1.3 cores' worth of other work",
                        hardware["lora r=8"])
    assert hardware["full_ft"] == "Test CPU, fp32"
    header = next(line for line in reproduction_header(rows) if line.startswith("Hardware"))
    assert "CPU shared:" in header and "up to 1.3 cores' worth" in header
