"""Houlsby / Pfeiffer adapters through AdapterHub `adapters`. The library needs transformers
4.57, so CI runs this file in a second environment (.ci/run); in the main environment the
methods must fail cleanly as `unsupported`."""

import pytest

from harness.errors import UnsupportedError
from harness.cell import run_cell
from harness.cell_setup import count_only
from tests.conftest import GLUE_DIR, make_cfg


def adapters_usable() -> bool:
    try:
        import adapters
    except Exception:  # absent, or failing against transformers 5
        return False
    return hasattr(adapters, "init")


def bottleneck(h: int, rf: int) -> int:
    b = h // rf
    return h * b + b + b * h + h  # down (weight, bias) + up (weight, bias)


@pytest.mark.skipif(not adapters_usable(), reason="needs the [adapters] environment (transformers 4.57)")
@pytest.mark.parametrize("method, per_layer", [("houlsby", 2), ("pfeiffer", 1)])
def test_bottleneck_counts_deberta_v3_base(method, per_layer):
    row = {}
    count_only(make_cfg("mode=count", "model=deberta_v3_base", f"method={method}", "method.reduction_factor=16"), row)
    assert row["params_added"] == 12 * per_layer * bottleneck(768, 16)


@pytest.mark.skipif(not adapters_usable(), reason="needs the [adapters] environment (transformers 4.57)")
def test_pfeiffer_trains_adapter_and_head_on_minilm():
    row = {}
    count_only(make_cfg("mode=count", "method=pfeiffer", "method.reduction_factor=16"), row)
    assert row["params_added"] == 6 * bottleneck(384, 16)
    assert row["params_trainable"] == row["params_added"] + row["params_head"]


@pytest.mark.skipif(adapters_usable(), reason="checks the environment without the adapters library")
def test_without_the_library_the_run_is_unsupported_not_a_crash():
    with pytest.raises(UnsupportedError, match=r'pip install -e ".\[adapters\]"'):
        count_only(make_cfg("mode=count", "method=houlsby"), {})
    row = run_cell(make_cfg("mode=count", "method=pfeiffer"), {"run_id": "x", "config_hash": "h"})
    assert row["status"] == "unsupported"


@pytest.mark.skipif(not adapters_usable(), reason="needs the [adapters] environment (transformers 4.57)")
def test_the_report_maps_each_published_adapter_row_to_a_config_at_its_budget():
    from harness.report import references
    from harness.report.tables.glue_methods import PUBLISHED_TO_LABEL

    published = references.load("adalora_table1_deberta_v3_base_glue")
    for _, pub in published[published["method"].str.endswith("_adapter")].iterrows():
        label = PUBLISHED_TO_LABEL[(pub["method"], pub["budget_params"])]  # e.g. "houlsby rf=24"
        method, rf = label.split(" rf=")
        row = {}
        count_only(make_cfg("mode=count", "model=deberta_v3_base", f"method={method}",
                            f"method.reduction_factor={rf}"), row)
        assert row["params_added"] / 1e6 == pytest.approx(pub["params_m"], rel=0.03), label


@pytest.mark.skipif(not adapters_usable(), reason="needs the [adapters] environment (transformers 4.57)")
def test_houlsby_goes_into_the_encoder_under_the_mean_pooled_head_and_trains_with_it():
    import uuid

    cfg = make_cfg("method=houlsby", "data.max_train_samples=32", "data.max_eval_samples=16", "train.batch_size=16",
                   "measure.latency_repeats=0", f"data.glue_dir={GLUE_DIR}")
    row = run_cell(cfg, {"run_id": uuid.uuid4().hex, "config_hash": "h"})
    assert row["status"] == "ok", row.get("error")
    assert row["head_pooling"] == "mean" and row["params_trainable"] == row["params_added"] + row["params_head"]


@pytest.mark.skipif(not adapters_usable(), reason="needs the [adapters] environment (transformers 4.57)")
@pytest.mark.parametrize("method", ["houlsby", "pfeiffer"])
def test_bottleneck_adapters_predict_as_they_train(method):
    """transformers 4.57's BERT asks whether its mask is all ones (a branch fake tensors cannot
    take); the trace builds the mask as for a padded batch, and the adapters are in the step."""
    import uuid

    cfg = make_cfg("mode=predict", f"method={method}", "predict.gpu=A100-80GB", "predict.seq_len=64",
                   "train.batch_size=8")
    row = run_cell(cfg, {"run_id": uuid.uuid4().hex, "config_hash": "h"})
    assert row["status"] == "ok", row.get("error")
    full = run_cell(make_cfg("mode=predict", "method=full_ft", "predict.gpu=A100-80GB", "predict.seq_len=64",
                             "train.batch_size=8"), {"run_id": uuid.uuid4().hex, "config_hash": "h"})
    assert row["predicted_step_ops"] > 0 and row["predicted_step_flops"] < full["predicted_step_flops"]
    assert row["predicted_mem_optimizer_bytes"] < full["predicted_mem_optimizer_bytes"] / 50  # adapters + head only
