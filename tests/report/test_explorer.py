"""The explorer's rules without a browser: which way each axis is better, the Pareto front, and
data that cannot break out of its script element."""

import pandas as pd

from harness.record.store import conform
from harness.report import explorer


def test_better_direction_by_column():
    assert explorer.better("score") == "max" and explorer.better("train_tokens_per_s") == "max"
    assert explorer.better("peak_gpu_mem_reserved_bytes") == "min" and explorer.better("pct_trainable") == "min"


def test_pareto_front_keeps_only_unbeaten_points():
    points = [(0.1, 0.80), (1.0, 0.85), (0.5, 0.70), (100.0, 0.86), (2.0, 0.84)]
    # fewer trainable parameters (x, lower is better) and a higher score (y)
    assert explorer.pareto(points, "min", "max") == [(0.1, 0.80), (1.0, 0.85), (100.0, 0.86)]


def test_row_text_cannot_close_the_script():
    df = conform(pd.DataFrame([{"run_id": "r", "mode": "train", "status": "ok", "model": "</script><b>x",
                                "method_label": "lora", "task": "glue/rte", "score": 0.5, "pct_trainable": 1.0}]))
    page = explorer.page(df)
    assert "</script><b>x" not in page and r"\u003c/script\u003e\u003cb\u003ex" in page
