"""Reports a reader can take in: one header line per setting however many runs differ (the full
list folded below), random-init cost-only rows out of the headline tables, and on a CPU the
memory prediction compared with what training adds, never with the process's RSS."""

import pandas as pd

from harness.record.store import conform
from harness.report.render import to_html, to_markdown
from harness.report.tables import belle_lora_vs_ft, glue_methods, memory_speed
from tests.report.fixture_rows import glue_rows

GB = 1e9


def test_many_schedules_make_one_header_line_and_a_folded_list():
    rows = glue_rows()
    rows["epochs"] = [1.0, 2.0, 3.0, 6.0] * (len(rows) // 4) + [1.0] * (len(rows) % 4)
    rows["lr"] = [1e-3, 5e-5] * (len(rows) // 2) + [1e-3] * (len(rows) % 2)
    report = glue_methods.build(rows)
    schedule = [line for line in report.header if line.startswith("Schedule:")]
    assert schedule == ["Schedule: 4 settings: epochs 1–6, batch 32, lr 5e-05–0.001 (each in the run settings below)"]
    assert len(report.details) == 4 and all(d.startswith("Schedule: epochs=") for d in report.details)
    md, page = to_markdown(report), to_html(report)
    folded = f"<details><summary>Provenance ({len(report.provenance)} lines)</summary>"
    assert folded in md and folded in page and len(report.provenance) == len(report.header) - 1 + 4
    assert md.index("## ") < md.index(folded)  # the tables come first, provenance after them
    assert max(len(line) for line in report.header) < 200


def instruct_row(run_id, **extra):
    row = {"run_id": run_id, "mode": "train", "status": "ok", "model": "llama_ladder_m", "method": "lora",
           "method_label": "lora r=8", "task": "instruct/alpaca_belle", "precision": "fp32", "batch_size": 8,
           "seed": 42, "epochs": 1.0, "lr": 5e-4, "random_init": True, "train_examples": 200, "params_added": 1000,
           "train_examples_per_s": 10.0, "train_tokens_per_s": 1500.0, "train_hours_per_epoch": 0.02,
           "device": "cpu", "device_name": "Test CPU", "cpu_threads": 2, "peak_cpu_rss_bytes": 3.0 * GB,
           "cpu_rss_train_start_bytes": 1.0 * GB, "peak_cpu_rss_train_bytes": 1.5 * GB,
           "predicted_mem_total_bytes": 0.9 * GB, "predicted_mem_weights_bytes": 0.5 * GB}
    return {**row, **extra}


def test_random_init_rows_leave_the_belle_headline_for_a_folded_cost_table():
    rows = conform(pd.DataFrame([instruct_row("r1"), instruct_row("r2", method="full_ft", method_label="full_ft"),
                                 instruct_row("p1", random_init=False, model="llama_7b", score=0.6)]))
    report = belle_lora_vs_ft.build(rows)
    by_caption = {g.caption: g for g in report.grids}
    headline = by_caption["Instruction-tuning runs (pretrained models)"]
    assert [r[0] for r in headline.rows] == ["llama_7b"] and not headline.collapsed
    cost = by_caption["Cost-only runs on random-init models (no score)"]
    assert cost.collapsed and len(cost.rows) == 2
    assert "h/epoch" not in cost.columns and "Score" not in cost.columns
    assert "<details><summary>Cost-only runs on random-init models (no score) (2 rows)</summary>" in to_html(report)


def test_on_cpu_the_prediction_is_set_beside_what_training_adds():
    rows = conform(pd.DataFrame([instruct_row("r1")]))
    report = memory_speed.build(rows)
    grid = next(g for g in report.grids if g.caption == "Reproduced on CPU")
    cells = dict(zip(grid.columns, grid.rows[0]))
    assert cells["Growth in training (GB)"] == "0.50"  # 1.5 GB peak over the 1.0 GB start
    assert cells["Predicted growth (GB)"] == "0.40"  # 0.9 GB predicted minus 0.5 GB of weights
    assert cells["Predicted / growth"] == "0.80"
    assert "3.00" not in grid.rows[0]  # the process's peak RSS (loading included) is not shown


def test_glue_rows_are_not_in_the_memory_table():
    report = memory_speed.build(glue_rows())
    assert [g.caption for g in report.grids] == ["Published (ChatGLM-6B) beside predicted for its architecture"]
