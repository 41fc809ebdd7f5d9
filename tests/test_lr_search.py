"""Learning rate chosen on dev: stage 1 scales the recipe's learning rate, stage 2 takes the one
whose run scored best for the same model, method and task, records the grid it chose from, and
fails in one line when stage 1 has not run."""

import uuid

import pytest
from omegaconf.errors import InterpolationResolutionError

from harness.lr_search import choose
from harness.record.identity import identity_columns
from harness.record.store import load_results, write_row
from tests.conftest import make_cfg, run_cli

STAGE_2 = ("+sweep=glue_methods_tuned", "method=lora", "+recipe=glue_cpu/mrpc")


def test_choose_takes_the_best_dev_score_and_the_smaller_rate_on_a_tie():
    assert choose({3.3e-4: 0.70, 1e-3: 0.78, 3e-3: 0.75}) == 1e-3
    assert choose({1e-3: 0.78, 3e-3: 0.78}) == 1e-3


def test_stage_one_scales_the_recipe_rate():
    cfg = make_cfg("+sweep=glue_methods_lr_search", "method=ia3", "+recipe=glue_cpu/stsb", "train.lr_factor=3")
    assert cfg.train.lr == pytest.approx(3 * cfg.method.recipe.lr) and cfg.train.stage == "lr_search"
    row = identity_columns(cfg, {"run_id": "r", "config_hash": "h"})
    assert row["stage"] == "lr_search" and row["lr_factor"] == 3 and row["lr_source"].startswith("method recipe x 3")


def test_stage_two_takes_the_best_stage_one_rate_and_records_the_grid(tmp_path):
    scores = {1 / 3: 0.70, 1.0: 0.78, 3.0: 0.75}
    for factor, score in scores.items():
        cfg = make_cfg("+sweep=glue_methods_lr_search", "method=lora", "+recipe=glue_cpu/mrpc",
                       f"train.lr_factor={factor}", f"results_dir={tmp_path}")
        write_row({**identity_columns(cfg, {"run_id": uuid.uuid4().hex, "config_hash": f"h{factor}"}),
                   "status": "ok", "score": score}, tmp_path)
    other = make_cfg("+sweep=glue_methods_lr_search", "method=lora", "+recipe=glue_cpu/stsb", "train.lr_factor=3",
                     f"results_dir={tmp_path}")  # another task's best must not leak in
    write_row({**identity_columns(other, {"run_id": uuid.uuid4().hex, "config_hash": "x"}), "status": "ok",
               "score": 0.99}, tmp_path)
    assert len(load_results(tmp_path)) == 4
    cfg = make_cfg(*STAGE_2, f"results_dir={tmp_path}")
    assert cfg.train.lr == pytest.approx(cfg.method.recipe.lr)  # factor 1 scored best on MRPC
    row = identity_columns(cfg, {"run_id": "r", "config_hash": "h"})
    assert row["stage"] == "final" and row["lr_source"].startswith("lr search")
    assert row["lr_search_grid"] == '{"0.000333333": 0.7, "0.001": 0.78, "0.003": 0.75}'


def test_stage_two_without_stage_one_fails_naming_what_to_run(tmp_path):
    (tmp_path / "runs").mkdir()
    cfg = make_cfg(*STAGE_2, f"results_dir={tmp_path}")
    with pytest.raises(InterpolationResolutionError, match="no ok lr_search row for model=minilm_l6 method=lora"):
        cfg.train.lr  # noqa: B018
    proc = run_cli(*STAGE_2, "train.seed=1", f"results_dir={tmp_path}")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "run the lr_search stage first" in proc.stderr
    assert not list((tmp_path / "runs").glob("*.parquet"))


def test_the_method_comparison_shows_the_chosen_rate_per_method_and_task():
    import pandas as pd

    from harness.record.store import conform
    from harness.report.tables import glue_methods

    rows = conform(pd.DataFrame([{"run_id": f"r{i}", "mode": "train", "status": "ok", "model": "minilm_l6",
                                  "method": "lora", "method_label": "lora r=8", "task": task, "precision": "fp32",
                                  "seed": seed, "stage": "final", "lr": lr, "lr_search_grid": grid,
                                  "metric_accuracy": 0.78, "metric_pearson": 0.85, "random_init": False}
                                 for i, (task, lr, grid, seed) in enumerate([
                                     ("glue/mrpc", 1e-3, '{"0.001": 0.78}', 1), ("glue/stsb", 3e-3, None, 1)])]))
    report = glue_methods.build(rows)
    grid = next(g for g in report.grids if g.caption.startswith("Learning rate chosen on dev"))
    assert grid.columns == ["Method", "glue/mrpc", "glue/stsb"]
    assert grid.rows == [["lora r=8", '0.001 (of {"0.001": 0.78})', "0.003"]]


def test_the_method_comparison_sets_our_ranking_beside_the_papers():
    import pandas as pd

    from harness.record.store import conform
    from harness.report.tables import glue_methods

    # the paper's MRPC order: lora r=8 89.95 > full_ft 89.46 > bitfit 87.75; ours puts full FT first
    # (one swapped pair of three: tau = (2 - 1) / 3), the same in every resample of our two seeds
    ours = {"full_ft": [0.80, 0.82], "lora r=8": [0.78, 0.79], "bitfit": [0.70, 0.71]}
    rows = conform(pd.DataFrame([{"run_id": f"{m}{s}", "mode": "train", "status": "ok", "model": "minilm_l6",
                                  "method": m.split()[0], "method_label": m, "task": "glue/mrpc", "precision": "fp32",
                                  "seed": s, "metric_accuracy": v, "random_init": False}
                                 for m, values in ours.items() for s, v in enumerate(values, 1)]))
    grid = next(g for g in glue_methods.build(rows).grids if g.caption.startswith("Ranking"))
    task, n, tau, gaps = grid.rows[0]
    assert task == "MRPC Acc" and n == "3" and tau == "+0.33 [+0.33, +0.33]"
    assert "bitfit -1.7 / -10.5" in gaps
