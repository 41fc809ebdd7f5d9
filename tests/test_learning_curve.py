"""The plateau rule and Kendall's tau on known orders (the method comparison's building blocks)."""

import math

import pytest

from harness.learning_curve import better, decode, encode, plateaued
from harness.report.ranking import dev_set_se, gaps_to_full, kendall_tau, spread, tau_interval


@pytest.mark.parametrize(("curve", "expected"), [
    ([0.70, 0.75, 0.78], False),          # best at the end, +3 points: still climbing
    ([0.70, 0.775, 0.778], True),         # best at the end but only +0.3 points: levelled off
    ([0.70, 0.80, 0.78], True),           # best before the end
    ([0.80, 0.80], True),                 # flat
    ([0.75], None), ([], None), ([None, 0.7], None),
    ([0.70, None, 0.72, 0.78], False),    # an unscored epoch is skipped
])
def test_plateau_rule(curve, expected):
    assert plateaued(curve) is expected


@pytest.mark.parametrize(("score", "than", "expected"), [
    (0.0, -0.02, True),    # a collapsed STS-B head (Pearson 0) beats an anti-correlated epoch: 0 is a score
    (-0.02, 0.0, False),
    (0.0, None, True), (None, 0.5, False), (None, None, False),
    (0.8, 0.8, False),     # a tie keeps the earlier epoch
])
def test_best_epoch_comparison_counts_zero_as_a_score(score, than, expected):
    assert better(score, than) is expected


def test_curve_round_trips_as_json():
    assert decode(encode([0.5, None, 0.7123456789])) == [0.5, None, 0.712346]
    assert decode(None) == []


def test_kendall_tau_on_known_orders():
    published = {"a": 4.0, "b": 3.0, "c": 2.0, "d": 1.0}
    assert kendall_tau(published, {"a": 40, "b": 30, "c": 20, "d": 10}) == pytest.approx(1.0)
    assert kendall_tau(published, {"a": 10, "b": 20, "c": 30, "d": 40}) == pytest.approx(-1.0)
    # one adjacent swap of four: (5 concordant - 1 discordant) / 6
    assert kendall_tau(published, {"a": 40, "b": 20, "c": 30, "d": 10}) == pytest.approx(4 / 6)
    assert kendall_tau(published, {"a": 1.0, "z": 2.0}) is None  # fewer than two shared methods


def test_tau_interval_holds_the_point_and_widens_with_noisy_seeds():
    published = {"a": 4.0, "b": 3.0, "c": 2.0, "d": 1.0}
    steady = {"a": [0.9, 0.9], "b": [0.8, 0.8], "c": [0.7, 0.7], "d": [0.6, 0.6]}
    point, lo, hi = tau_interval(published, steady, draws=200)
    assert point == lo == hi == pytest.approx(1.0)
    noisy = {"a": [0.9, 0.5], "b": [0.8, 0.6], "c": [0.7, 0.75], "d": [0.6, 0.9]}
    point, lo, hi = tau_interval(published, noisy, draws=500)
    assert lo <= point <= hi and hi - lo >= 1.0


def test_dev_set_standard_error_and_spread():
    assert dev_set_se("metric_accuracy", 0.5, 100) == pytest.approx(0.05)  # sqrt(0.25 / 100)
    assert dev_set_se("metric_pearson", 0.9, 1501) == pytest.approx(0.19 / math.sqrt(1500))
    assert dev_set_se("metric_matthews", 0.5, 1000) is None  # no formula: not shown
    assert dev_set_se("metric_accuracy", 0.5, None) is None
    assert spread({"a": 80.0, "b": 86.5, "c": 84.0}) == pytest.approx(6.5) and spread({"a": 1.0}) is None


def test_gaps_to_full_fine_tuning():
    assert gaps_to_full({"full_ft": 0.8, "lora": 0.78, "bitfit": 0.7}) == pytest.approx({"lora": -0.02, "bitfit": -0.1})
    assert gaps_to_full({"lora": 0.78}) == {}


def test_a_glue_run_records_its_curve_and_whether_it_levelled_off():
    import json
    import uuid

    from harness.cell import run_cell
    from tests.conftest import GLUE_DIR, make_cfg

    cfg = make_cfg("model=llama_ladder_xs", "task=glue/rte", "method=lora", "precision=fp32", "train.epochs=3",
                   "train.eval_every_epoch=true", "data.max_train_samples=32", "data.max_eval_samples=16",
                   "train.batch_size=16", "train.max_seq_length=32", "measure.latency_repeats=0",
                   "measure.count_changed=false", f"data.glue_dir={GLUE_DIR}")
    row = run_cell(cfg, {"run_id": uuid.uuid4().hex, "config_hash": "test"})
    assert row["status"] == "ok", row.get("error")
    curve = json.loads(row["eval_curve"])
    assert len(curve) == 3 and all(0 <= s <= 1 for s in curve)
    assert row["plateaued"] is plateaued(curve)
    assert row["score"] == max(curve)  # the best end-of-epoch score, as the recipe reports
    if row["plateaued"] is False:
        assert "not plateaued" in row["warnings"]


def test_the_curves_figure_draws_each_task_with_more_than_one_epoch(tmp_path):
    import pandas as pd

    from harness.record.store import conform
    from harness.report.plots import learning_curves

    rows = conform(pd.DataFrame([
        {"run_id": "a", "mode": "train", "status": "ok", "task": "glue/mrpc", "method_label": "lora r=8", "seed": 1,
         "eval_curve": encode([0.7, 0.75, 0.78]), "plateaued": False, "random_init": False},
        {"run_id": "b", "mode": "train", "status": "ok", "task": "glue/stsb", "method_label": "bitfit", "seed": 1,
         "eval_curve": encode([0.8]), "plateaued": None, "random_init": False}]))
    paths = learning_curves(rows, tmp_path)
    assert [p.name for p in paths] == ["learning_curves.png"] and paths[0].stat().st_size > 1000
    assert learning_curves(rows[rows["run_id"] == "b"], tmp_path) == []  # one epoch is no curve


def test_a_method_keeps_its_colour_in_every_panel_when_another_ran_on_one_task_only(tmp_path, monkeypatch):
    import pandas as pd

    from harness.record.store import conform
    from harness.report import plots

    def row(run, task, label):
        return {"run_id": run, "mode": "train", "status": "ok", "task": task, "method_label": label, "seed": 1,
                "eval_curve": encode([0.7, 0.75]), "plateaued": True, "random_init": False}

    rows = conform(pd.DataFrame([row("a", "glue/mrpc", "adalora r=8"), row("b", "glue/mrpc", "lora r=8"),
                                 row("c", "glue/stsb", "lora r=8")]))
    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, out_dir, name: figures.append(fig) or tmp_path / name)
    plots.learning_curves(rows, tmp_path)
    mrpc, stsb = figures[0].axes
    assert len(mrpc.lines) == 2 and len(stsb.lines) == 1
    assert stsb.lines[0].get_color() == mrpc.lines[1].get_color() != mrpc.lines[0].get_color()
    legend = [t.get_text() for t in figures[0].legends[0].get_texts()]
    assert legend == ["adalora r=8", "lora r=8", "not plateaued"]
