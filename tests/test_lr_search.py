"""Learning rate chosen on dev: stage 1 scales the recipe's learning rate, stage 2 takes the one
whose run scored best for the same model, method and task, records the grid it chose from, and
fails in one line when stage 1 has not run."""

import uuid

import pytest
from omegaconf.errors import InterpolationResolutionError

from harness.lr_search import choose
from harness.launch import search_grid
from harness.record.identity import identity_columns
from harness.record.store import load_results, write_row
from tests.conftest import make_cfg, run_cli

STAGE_2 = ("+sweep=glue_methods_tuned", "method=lora", "+recipe=glue_cpu/mrpc")


def _stage_one_of_lora_on_mrpc(results_dir, scores: dict[float, float]) -> None:
    """Stage-1 rows of LoRA on MRPC, one per lr factor, with the given dev scores."""
    for factor, score in scores.items():
        cfg = make_cfg("+sweep=glue_methods_lr_search", "method=lora", "+recipe=glue_cpu/mrpc",
                       f"train.lr_factor={factor}", f"results_dir={results_dir}")
        write_row({**identity_columns(cfg, {"run_id": uuid.uuid4().hex, "config_hash": f"h{factor}"}),
                   "status": "ok", "score": score}, results_dir)


def test_choose_takes_the_best_dev_score_and_the_smaller_rate_on_a_tie():
    assert choose({3.3e-4: 0.70, 1e-3: 0.78, 3e-3: 0.75}) == 1e-3
    assert choose({1e-3: 0.78, 3e-3: 0.78}) == 1e-3


def test_stage_one_scales_the_recipe_rate():
    cfg = make_cfg("+sweep=glue_methods_lr_search", "method=ia3", "+recipe=glue_cpu/stsb", "train.lr_factor=3")
    assert cfg.train.lr == pytest.approx(3 * cfg.method.recipe.lr) and cfg.train.stage == "lr_search"
    row = identity_columns(cfg, {"run_id": "r", "config_hash": "h"})
    assert row["stage"] == "lr_search" and row["lr_factor"] == 3 and row["lr_source"].startswith("method recipe x 3")


def test_stage_two_takes_the_best_stage_one_rate_and_records_the_grid(tmp_path):
    _stage_one_of_lora_on_mrpc(tmp_path, {1 / 3: 0.70, 1.0: 0.78, 3.0: 0.75})
    other = make_cfg("+sweep=glue_methods_lr_search", "method=lora", "+recipe=glue_cpu/stsb", "train.lr_factor=3",
                     f"results_dir={tmp_path}")  # another task's best must not leak in
    write_row({**identity_columns(other, {"run_id": uuid.uuid4().hex, "config_hash": "x"}), "status": "ok",
               "score": 0.99}, tmp_path)
    assert len(load_results(tmp_path)) == 4
    cfg = make_cfg(*STAGE_2, f"results_dir={tmp_path}")
    assert cfg.train.lr == pytest.approx(cfg.method.recipe.lr)  # factor 1 scored best on MRPC
    # the launcher resolves the choice's grid (harness.launch.search_grid); the row records it
    row = identity_columns(cfg, {"run_id": "r", "config_hash": "h", "lr_search_grid": search_grid(cfg)})
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
    # the rate named on the command line: the key check must not resolve it before the run does
    proc = run_cli(*STAGE_2, "train.seed=1", "train.lr=${runner_up_lr:}", f"results_dir={tmp_path}")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "train.lr=${runner_up_lr:}: no ok lr_search row" in proc.stderr
    assert not list((tmp_path / "runs").glob("*.parquet"))


def test_the_method_comparison_shows_the_chosen_rate_per_method_and_task_from_the_grid_as_it_is_now():
    import pandas as pd

    from harness.record.store import conform
    from harness.report.tables import glue_methods

    extra = {"method_label": "lora r=8", "random_init": False}
    rows = conform(pd.DataFrame([
        {**_row("lr_search", 3e-4, 1, 0.70), **extra}, {**_row("lr_search", 1e-3, 1, 0.78), **extra},
        # stage 2 ran when the grid ended at 1e-3; the grid was extended afterwards, and 3e-3 did worse
        {**_row("final", 1e-3, 2, 0.77), "lr_search_grid": '{"0.0003": 0.7, "0.001": 0.78}', **extra},
        {**_row("lr_search", 3e-3, 1, 0.75), **extra},
        {**_row("lr_search", 3e-3, 1, 0.85, task="glue/stsb"), **extra},
        {**_row("lr_search", 1e-2, 1, None, status="error", task="glue/stsb"), **extra},  # no score: not tried
    ]))
    grid = next(g for g in glue_methods.build(rows).grids if g.caption.startswith("Learning rate chosen on dev"))
    assert grid.columns == ["Method", "glue/mrpc", "glue/stsb"]
    assert grid.rows == [["lora r=8", "0.001 (of 0.0003: 70.0, 0.001: 78.0, 0.003: 75.0)", "0.003 (of 0.003: 85.0)"]]
    assert [f[:9] for f in grid.footnotes] == ["Rates run"]  # no rate at a grid's edge


def test_the_method_comparison_sets_our_ranking_beside_the_papers():
    import pandas as pd

    from harness.record.store import conform
    from harness.report.tables import glue_methods

    # the paper's MRPC order: lora r=8 89.95 > full_ft 89.46 > bitfit 87.75; ours puts full FT first
    # (one swapped pair of three: tau = (2 - 1) / 3), the same in every resample of our two seeds
    ours = {"full_ft": [0.80, 0.82], "lora r=8": [0.78, 0.79], "bitfit": [0.70, 0.71]}
    rows = conform(pd.DataFrame([{"run_id": f"{m}{s}", "mode": "train", "status": "ok", "model": "minilm_l6",
                                  "method": m.split()[0], "method_label": m, "task": "glue/mrpc", "precision": "fp32",
                                  "seed": s, "metric_accuracy": v, "random_init": False, "eval_examples": 408}
                                 for m, values in ours.items() for s, v in enumerate(values, 1)]))
    grid = next(g for g in glue_methods.build(rows).grids if g.caption.startswith("Ranking"))
    task, n, tau, spread, se, gaps = grid.rows[0]
    assert task == "MRPC Acc" and n == "3" and tau == "+0.33 [+0.33, +0.33]"
    assert "bitfit -1.7 / -10.5" in gaps
    # published 89.95 - 87.75; ours 81.0 - 70.5. SE on MRPC's 408 pairs: at 89.05 (paper), at 76.67 (ours)
    assert spread == "2.2 / 10.5" and se == "1.5 / 2.1 (n=408)"


def test_stage_two_chooses_among_runs_of_the_same_precision_schedule_and_device_only(tmp_path):
    def stage_one(factor, score, *extra):
        cfg = make_cfg("+sweep=glue_methods_lr_search", "method=lora", "+recipe=glue_cpu/mrpc", "precision=bf16",
                       f"train.lr_factor={factor}", f"results_dir={tmp_path}", *extra)
        write_row({**identity_columns(cfg, {"run_id": uuid.uuid4().hex, "config_hash": uuid.uuid4().hex}),
                   "status": "ok", "score": score}, tmp_path)

    stage_one(1, 0.78)
    stage_one(3, 0.75)
    stage_one(3, 0.99, "precision=fp32")  # another precision
    stage_one(3, 0.99, "train.epochs=5")  # another schedule
    stage_one(3, 0.99, "device=cuda")  # another kind of device
    cfg = make_cfg(*STAGE_2, "precision=bf16", f"results_dir={tmp_path}")
    assert cfg.train.lr == pytest.approx(cfg.method.recipe.lr)
    cfg = make_cfg(*STAGE_2, "precision=bf16", "train.batch_size=8", f"results_dir={tmp_path}")
    with pytest.raises(InterpolationResolutionError, match="precision=bf16 on cpu \\(batch 8, 2 epochs\\)"):
        cfg.train.lr  # noqa: B018


def _row(stage, lr, seed, score, status="ok", **cell):
    base = {"model": "minilm_l6", "method": "lora", "method_args": "{}", "task": "glue/mrpc", "precision": "bf16",
            "batch_size": 32, "epochs": 2, "max_seq_length": 128, "max_train_samples": None}
    return {**base, **cell, "run_id": uuid.uuid4().hex, "mode": "train", "status": status, "stage": stage, "lr": lr,
            "seed": seed, "score": score}


def test_the_comparison_takes_the_chosen_stage_one_run_and_the_final_seeds_at_its_rate():
    import pandas as pd

    from harness.lr_search import comparison_rows
    from harness.record.store import conform

    rows = conform(pd.DataFrame([
        _row("lr_search", 3.3e-4, 1, 0.70), _row("lr_search", 1e-3, 1, 0.78), _row("lr_search", 3e-3, 1, 0.75),
        _row("final", 1e-3, 2, 0.77), _row("final", 1e-3, 3, 0.79),
        _row("final", 3e-3, 2, 0.74),  # chosen before a better rate was searched: not the comparison's
        _row("lr_search", 3e-3, 1, 0.72, task="glue/stsb"), _row("lr_search", 1e-2, 1, 0.80, task="glue/stsb"),
        _row("final", 1e-2, 1, 0.81, task="glue/stsb"),  # a final run of the search seed replaces it
        _row(None, 1e-3, 1, 0.76),  # untuned: the recipe's rate
    ]))
    expected = [("glue/mrpc", "final", 1e-3, 2), ("glue/mrpc", "final", 1e-3, 3),
                ("glue/mrpc", "lr_search", 1e-3, 1), ("glue/stsb", "final", 1e-2, 1)]
    tuned, untuned = comparison_rows(rows)
    assert sorted((r.task, r.stage, r.lr, r.seed) for r in tuned.itertuples()) == expected
    assert list(untuned["score"]) == [0.76]
    # the same rows as a plain concat of row files gives them: every index label repeated
    tuned, _ = comparison_rows(pd.concat([rows.iloc[[i]].reset_index(drop=True) for i in range(len(rows))]))
    assert sorted((r.task, r.stage, r.lr, r.seed) for r in tuned.itertuples()) == expected


def test_the_method_table_shows_the_tuned_runs_and_folds_the_recipe_rate_runs_below():
    import pandas as pd

    from harness.record.store import conform
    from harness.report.tables import glue_methods

    extra = {"method_label": "lora r=8", "random_init": False}
    rows = conform(pd.DataFrame([
        {**_row("lr_search", 1e-3, 1, 0.70), "metric_accuracy": 0.70, **extra},
        {**_row("lr_search", 3e-3, 1, 0.80), "metric_accuracy": 0.80, **extra},
        {**_row("final", 3e-3, 2, 0.78), "metric_accuracy": 0.78, **extra},
        {**_row(None, 1e-3, 1, 0.60), "metric_accuracy": 0.60, **extra},
    ]))
    grids = glue_methods.build(rows).grids
    tuned, untuned = grids[0], grids[1]
    assert tuned.caption.startswith("Reproduced, learning rate chosen on dev") and not tuned.collapsed
    mrpc = tuned.columns.index("MRPC Acc")
    assert tuned.rows[0][mrpc] == "79.00 ± 1.41"  # seeds 1 (stage 1 at 3e-3) and 2, not the 1e-3 run
    assert untuned.collapsed and untuned.rows[0][mrpc] == "60.00"
    side = next(g for g in grids if g.caption == "Side by side with the paper")
    ours = next(r for r in side.rows if r[1] == "reproduced (lora r=8)")
    assert ours[side.columns.index("MRPC Acc")] == "79.00"


def test_the_ranking_never_pools_precisions():
    import pandas as pd

    from harness.record.store import conform
    from harness.report.tables import glue_methods

    ours = {"full_ft": 0.80, "lora r=8": 0.78, "bitfit": 0.70}
    rows = conform(pd.DataFrame([{"run_id": f"{m}{p}", "mode": "train", "status": "ok", "model": "minilm_l6",
                                  "method": m.split()[0], "method_label": m, "task": "glue/mrpc", "precision": p,
                                  "seed": 1, "metric_accuracy": v if p == "fp32" else 1 - v, "random_init": False}
                                 for m, v in ours.items() for p in ("fp32", "bf16")]))
    grid = next(g for g in glue_methods.build(rows).grids if g.caption.startswith("Ranking"))
    one_seed = "(no interval: 3 of 3 methods ran one seed)"
    assert [(r[0], r[2]) for r in grid.rows] == [("MRPC Acc (minilm_l6, bf16)", f"-0.33 {one_seed}"),
                                                  ("MRPC Acc (minilm_l6, fp32)", f"+0.33 {one_seed}")]


def test_the_comparison_says_what_it_cost_per_method_and_task_failed_runs_included():
    import pandas as pd

    from harness.record.store import conform
    from harness.report.tables import glue_methods

    extra = {"method_label": "lora r=8", "random_init": False}
    rows = conform(pd.DataFrame([
        {**_row("lr_search", 1e-3, 1, 0.70), "run_wall_s": 1800.0, **extra},
        {**_row("lr_search", 3e-3, 1, None, status="error"), "run_wall_s": 900.0, **extra},
        {**_row("final", 1e-3, 2, 0.72), "run_wall_s": 1800.0, **extra},
        {**_row("lr_search", 1e-3, 1, 0.80, task="glue/stsb"), "run_wall_s": 3600.0, **extra},
        {**_row(None, 1e-3, 1, 0.60), "run_wall_s": 99999.0, **extra},  # not a run of the comparison
    ]))
    cost = next(g for g in glue_methods.build(rows).grids if g.caption.startswith("Cost of the comparison"))
    assert cost.columns == ["Method", "glue/mrpc", "glue/stsb", "Total"]
    assert cost.rows[0] == ["lora r=8", "3 runs, 1.25 h", "1 runs, 1.00 h", "4 runs, 2.25 h"]
    assert cost.rows[-1][0] == "all methods" and cost.rows[-1][-1] == "4 runs, 2.25 h"


def test_a_rate_chosen_at_the_edge_of_its_grid_is_flagged_in_the_log_and_the_report(tmp_path, caplog):
    import pandas as pd

    from harness.lr_search import grid_edge, next_factor
    from harness.record.store import conform
    from harness.report.tables import glue_methods

    assert grid_edge({1e-4: 0.7, 3e-4: 0.8, 1e-3: 0.9}, 1e-3) == "top"
    assert grid_edge({1e-4: 0.9, 3e-4: 0.8, 1e-3: 0.7}, 1e-4) == "bottom"
    assert grid_edge({1e-4: 0.7, 3e-4: 0.9, 1e-3: 0.8}, 3e-4) is None
    assert grid_edge({1e-3: 0.9}, 1e-3) is None  # one rate: no grid to extend
    factors = pd.DataFrame({"lr_factor": [1 / 3, 1.0, 3.0, 9.0]})
    assert next_factor(factors, "top") == pytest.approx(27) and next_factor(factors, "bottom") == pytest.approx(1 / 9)
    assert next_factor(factors.iloc[:1], "top") is None

    _stage_one_of_lora_on_mrpc(tmp_path, {1 / 3: 0.70, 1.0: 0.75, 3.0: 0.78})
    cfg = make_cfg(*STAGE_2, f"results_dir={tmp_path}")
    with caplog.at_level("WARNING"):
        assert cfg.train.lr == pytest.approx(3 * cfg.method.recipe.lr)
    assert "is the top of the grid searched" in caplog.text

    extra = {"method_label": "lora r=8", "random_init": False}
    rows = conform(pd.DataFrame([
        {**_row("lr_search", 1e-3, 1, 0.70), "lr_factor": 1.0, **extra},
        {**_row("lr_search", 3e-3, 1, 0.80), "lr_factor": 3.0, **extra},
        {**_row("final", 3e-3, 2, 0.78), "lr_search_grid": '{"0.001": 0.7, "0.003": 0.8}', **extra},
    ]))
    chosen = next(g for g in glue_methods.build(rows).grids if g.caption.startswith("Learning rate chosen"))
    assert chosen.rows[0][1] == "0.003 (of 0.001: 70.0, 0.003: 80.0) ↑ top of grid, next train.lr_factor=9"
    assert chosen.footnotes[0].startswith("↑ top of grid / ↓ bottom of grid: 1 of the chosen rates")


def test_the_comparison_chooses_on_the_seed_means_once_the_runner_up_rate_has_every_seed():
    import pandas as pd

    from harness.lr_search import compared_rate, comparison_rows, runner_up
    from harness.record.store import conform

    stsb = {"task": "glue/stsb"}
    search = [_row("lr_search", 3.3e-4, 1, 0.853, **stsb), _row("lr_search", 1e-3, 1, 0.863, **stsb),
              _row("lr_search", 3e-3, 1, -0.02, **stsb)]
    assert runner_up({3.3e-4: 0.853, 1e-3: 0.863, 3e-3: -0.02}) == 3.3e-4
    assert runner_up({1e-3: 0.8}) is None
    at_best = [_row("final", 1e-3, 2, 0.665, **stsb), _row("final", 1e-3, 3, 0.767, **stsb)]
    rows = conform(pd.DataFrame(search + at_best))
    assert compared_rate(rows) == 1e-3  # the only rate with every seed: seed 1's choice stands
    runner = [_row("final", 3.3e-4, 2, 0.850, **stsb), _row("final", 3.3e-4, 3, 0.860, **stsb)]
    rows = conform(pd.DataFrame(search + at_best + runner))
    assert compared_rate(rows) == 3.3e-4  # mean 85.4 over three seeds beats 76.5
    tuned, _ = comparison_rows(rows)
    assert sorted((r.lr, r.seed) for r in tuned.itertuples()) == [(3.3e-4, 1), (3.3e-4, 2), (3.3e-4, 3)]
    # a rate with fewer seeds than the others does not compete until its seeds have run
    rows = conform(pd.DataFrame(search + at_best + runner[:1]))
    assert compared_rate(rows) == 1e-3


def test_the_runner_up_stage_runs_the_second_best_rate_and_says_so(tmp_path):
    runner_up_stage = ("+sweep=glue_methods_runner_up", "method=lora", "+recipe=glue_cpu/mrpc")
    _stage_one_of_lora_on_mrpc(tmp_path, {1 / 3: 0.70, 1.0: 0.78, 3.0: 0.75})
    cfg = make_cfg(*runner_up_stage, f"results_dir={tmp_path}")
    assert cfg.train.lr == pytest.approx(3 * cfg.method.recipe.lr)  # 0.75: second to 0.78 at x1
    row = identity_columns(cfg, {"run_id": "r", "config_hash": "h"})
    assert row["stage"] == "final" and "second-best" in row["lr_source"]
    one_rate = make_cfg(*runner_up_stage, "precision=fp32", f"results_dir={tmp_path}")
    write_row({**identity_columns(make_cfg("+sweep=glue_methods_lr_search", "method=lora", "+recipe=glue_cpu/mrpc",
                                           "precision=fp32", f"results_dir={tmp_path}"),
                                  {"run_id": uuid.uuid4().hex, "config_hash": "fp32"}), "status": "ok", "score": 0.7},
              tmp_path)
    with pytest.raises(InterpolationResolutionError, match="has one searched rate \\(0.001\\)"):
        one_rate.train.lr  # noqa: B018


def test_the_chosen_rates_table_flags_seeds_that_disagree_until_the_runner_up_has_run():
    import pandas as pd

    from harness.record.store import conform
    from harness.report.tables import glue_methods

    extra = {"method_label": "lora r=2", "random_init": False, "task": "glue/stsb", "eval_examples": 1500}
    rows = [{**_row("lr_search", 3.3e-4, 1, 0.853), **extra}, {**_row("lr_search", 1e-3, 1, 0.863), **extra},
            {**_row("lr_search", 3e-3, 1, -0.025), **extra},
            {**_row("final", 1e-3, 2, 0.665), **extra}, {**_row("final", 1e-3, 3, 0.767), **extra}]

    def chosen(extra_rows=()):
        report = glue_methods.build(conform(pd.DataFrame(rows + list(extra_rows))))
        return next(g for g in report.grids if g.caption.startswith("Learning rate chosen on dev"))

    grid = chosen()
    # 3 dev-set SEs of a Pearson r of 0.863 on 1,500 pairs: 3 (1 - r^2) / sqrt(1499) = 2.0 points
    assert grid.rows[0][1] == ("0.001 (of 0.00033: 85.3, 0.001: 86.3, 0.003: -2.5) ⚠ seeds disagree "
                               "(66.5 to 86.3, 3 SE = 2.0; run the runner-up rate's seeds)")
    assert "1 cells whose seeds at the shown rate spread" in grid.footnotes[-1]
    grid = chosen([{**_row("final", 3.3e-4, 2, 0.850), **extra}, {**_row("final", 3.3e-4, 3, 0.860), **extra}])
    assert grid.rows[0][1] == ("0.00033 (of 0.00033: 85.3, 0.001: 86.3, 0.003: -2.5) ↓ bottom of grid; mean over seeds 0.00033: 85.4, "
                               "0.001: 76.5; seed 1 alone chose 0.001")
    assert grid.footnotes[-1].endswith("No cell's seeds spread over more than 3 dev-set standard errors.")


def test_an_extended_grids_new_best_waits_for_its_seeds_and_the_table_says_what_to_run():
    import pandas as pd

    from harness.lr_search import comparison_rows
    from harness.record.store import conform
    from harness.report.tables import glue_methods

    extra = {"method_label": "ia3", "random_init": False, "eval_examples": 408}
    rows = conform(pd.DataFrame([
        {**_row("lr_search", 1e-3, 1, 0.713), **extra}, {**_row("lr_search", 3e-3, 1, 0.743), **extra},
        {**_row("lr_search", 9e-3, 1, 0.782), **extra},
        {**_row("final", 9e-3, 2, 0.779), **extra}, {**_row("final", 9e-3, 3, 0.785), **extra},
        {**_row("lr_search", 2.7e-2, 1, 0.801), **extra}]))  # the grid extended: better on seed 1 only
    tuned, _ = comparison_rows(rows)
    assert set(tuned["lr"]) == {9e-3} and len(tuned) == 3
    grid = next(g for g in glue_methods.build(rows).grids if g.caption.startswith("Learning rate chosen on dev"))
    assert grid.rows[0][1] == ("0.009 (of 0.001: 71.3, 0.003: 74.3, 0.009: 78.2, 0.027: 80.1); stage 1's best, "
                               "0.027, awaits its other seeds (+sweep=glue_methods_tuned)")


def test_runs_of_one_cell_on_a_cpu_and_a_gpu_are_compared_apart_never_pooled():
    import pandas as pd

    from harness.lr_search import comparison_rows
    from harness.record.store import conform
    from harness.report.tables import glue_methods

    extra = {"method_label": "lora r=8", "random_init": False, "eval_examples": 408}
    rows = conform(pd.DataFrame(
        [{**_row("lr_search", lr, 1, score, device="cpu"), **extra} for lr, score in ((1e-3, 0.80), (3e-3, 0.70))]
        + [{**_row("lr_search", lr, 1, score, device="cuda"), **extra} for lr, score in ((1e-3, 0.60), (3e-3, 0.75))]))
    tuned, _ = comparison_rows(rows)
    assert sorted(zip(tuned["device"], tuned["lr"])) == [("cpu", 1e-3), ("cuda", 3e-3)]
    report = glue_methods.build(rows)
    table = report.grids[0]
    assert [r[0] for r in table.rows] == ["lora r=8 (minilm_l6, bf16 on cpu)", "lora r=8 (minilm_l6, bf16 on cuda)"]
    cost = next(g for g in report.grids if g.caption.startswith("Cost of the comparison"))
    assert [r[0] for r in cost.rows] == ["lora r=8 (bf16 on cpu)", "all methods (bf16 on cpu)",
                                         "lora r=8 (bf16 on cuda)", "all methods (bf16 on cuda)"]
