"""The pooled classification head: the checkpoint's own pooling, padding ignored, the whole
head trained under every method."""

import uuid

import pytest
import torch

from harness.models.pooled_classifier import checkpoint_pooling, pool
from harness.cell import run_cell
from tests.conftest import make_cfg

HEAD = 384 * 2 + 2  # MiniLM's width x 2 labels + bias


def test_the_checkpoint_says_mean_pooling(minilm_path, tmp_path):
    assert checkpoint_pooling(minilm_path) == "mean"
    assert checkpoint_pooling(tmp_path) is None  # a plain transformers folder declares nothing


def test_mean_pooling_ignores_padding_and_cls_reads_the_first_token():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])  # last position is padding
    mask = torch.tensor([[1, 1, 0]])
    assert torch.equal(pool(hidden, mask, "mean"), torch.tensor([[2.0, 3.0]]))
    assert torch.equal(pool(hidden, mask, "cls"), torch.tensor([[1.0, 2.0]]))
    # prompt methods prepend virtual tokens to the mask, not to the returned states' length
    assert torch.equal(pool(hidden, torch.tensor([[1, 1, 1, 1, 0]]), "mean"), torch.tensor([[2.0, 3.0]]))


def count_row(method: str, *overrides: str) -> dict:
    cfg = make_cfg("mode=count", f"method={method}", *overrides)
    row = run_cell(cfg, {"run_id": uuid.uuid4().hex, "config_hash": "test"})
    assert row["status"] == "ok", row.get("error")
    return row


@pytest.mark.parametrize("method", ["full_ft", "freeze", "bitfit", "lora", "adalora", "ia3", "prompt_tuning",
                                    "prefix_tuning", "p_tuning", "dora", "loha", "lokr", "vera", "oft", "ln_tuning"])
def test_every_method_trains_the_whole_head(method):
    row = count_row(method)
    assert row["params_head"] == HEAD and row["head_pooling"] == "mean"


def test_pooling_is_recorded_and_the_architecture_head_is_still_available():
    assert count_row("lora", "model.pooling=null")["head_pooling"] is None
    assert count_row("lora", "model.pooling=auto")["head_pooling"] == "mean"


@pytest.mark.slow
def test_prompt_tuning_trains_and_is_measured_through_the_pooled_head(glue_dir):
    cfg = make_cfg("method=prompt_tuning", "data.max_train_samples=32", "data.max_eval_samples=16",
                   "train.batch_size=16", "measure.latency_repeats=1", f"data.glue_dir={glue_dir}")
    row = run_cell(cfg, {"run_id": uuid.uuid4().hex, "config_hash": "test"})
    assert row["status"] == "ok", row.get("error")
    assert row["latency_base_ms"] > 0 and row["latency_adapted_ms"] > 0
