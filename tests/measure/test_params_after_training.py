"""Trainable, added and changed counts measured after real training steps on MiniLM-L6.

The expected changed count is computed here independently: the whole base model is copied
before training, and after training a merged copy (peft's merge_and_unload) is compared
with it entry by entry.
"""

import copy

import pytest
import torch

from harness.measure import params as P
from harness.methods import MethodContext, get_method, parse_args
from harness.models import loading
from harness.models.architecture import head_module_names
from harness.measure.throughput import StepTimer
from harness.tasks import get_task
from harness.tasks.batching import encode
from harness.tasks.glue import load_glue
from harness.training import train
from tests.conftest import make_cfg

STEPS = 4


def trained(method_name: str, glue_dir, *overrides):
    cfg = make_cfg(f"method={method_name}", f"data.glue_dir={glue_dir}", "train.batch_size=8",
                   f"train.max_steps={STEPS}", "train.lr=1e-3", "train.warmup_ratio=0", *overrides)
    task, method = get_task(cfg.task.name), get_method(cfg.method.name)
    data = load_glue(task, cfg.data.glue_dir, "", max_train=64)
    tok = loading.load_tokenizer(cfg.model)
    enc = encode(tok, data.train, 64)
    model = loading.load_model(cfg.model, task, "fp32", "cpu")
    original = {k: v.clone() for k, v in model.state_dict().items()}
    base = P.BaseModelParams.of(model)
    heads = head_module_names(model)
    model = method.apply(model, parse_args(method, cfg.method), MethodContext("bert", heads, total_steps=STEPS))
    before = P.snapshot_trainable_base(model, base)
    train(model, enc, cfg.train, "fp32", torch.device("cpu"), StepTimer(torch.device("cpu")), tok.pad_token_id,
          False, STEPS, method.after_step)
    return model, method, base, before, original


def independent_changed(model, method, original) -> int:
    final = copy.deepcopy(model)
    if method.mergeable:
        final = final.merge_and_unload()
    elif hasattr(final, "base_model") and hasattr(final, "peft_config"):
        final = final.base_model if final.active_peft_config.is_prompt_learning else final.base_model.model
    state = final.state_dict()
    changed = 0
    for name, value in original.items():
        key = name if name in state else name.replace("classifier.", "classifier.modules_to_save.default.")
        changed += int((state[key] != value).sum())
    return changed


@pytest.mark.parametrize("method_name", ["lora", "adalora", "ia3", "bitfit", "full_ft", "prompt_tuning"])
def test_counts_after_training(method_name, glue_dir):
    model, method, base, before, original = trained(method_name, glue_dir)
    added = P.count(P.added_parameters(model, base).values())
    trainable = P.count(P.unique_parameters(model, trainable_only=True).values())
    assert trainable == sum(p.numel() for p in {id(p): p for p in model.parameters() if p.requires_grad}.values())
    changed = P.count_changed(model, base, before, method.mergeable, added)
    expected = independent_changed(model, method, original)
    if not method.mergeable:
        expected += added  # kept on the side, never merged
    assert changed.source == "measured"
    assert changed.changed == expected
    assert changed.changed > 0
    if method_name == "full_ft":
        # embeddings of tokens never seen stay put; most other entries moved
        assert 0.3 * base.total < changed.changed <= base.total
    if method_name == "bitfit":
        assert added == 0 and changed.changed <= trainable


def test_lora_delta_rank_is_r(glue_dir):
    model, method, base, before, _ = trained("lora", glue_dir, "method.r=4")
    changed = P.count_changed(model, base, before, True, 0)
    assert changed.rank_summary()["delta_rank_max"] == 4.0
    assert changed.rank_summary()["delta_rank_matrices"] == 36


def test_adalora_final_budget_counts_kept_ranks(glue_dir):
    model, *_ = trained("adalora", glue_dir, "method.tinit=0", "method.tfinal=1", "method.deltaT=1",
                        "method.target_r=2")
    expected = 0
    for _, layer in P.tuner_layers(model):
        kept = int((layer.lora_E["default"] != 0).sum())
        expected += kept * (layer.lora_A["default"].shape[1] + layer.lora_B["default"].shape[0] + 1)
    budget = P.adalora_final_budget(model)
    assert budget == expected
    initial = sum(12 * (m.lora_A["default"].shape[1] + m.lora_B["default"].shape[0] + 1)
                  for _, m in P.tuner_layers(model))
    assert budget < initial


def test_changed_count_of_a_16_bit_base_is_the_fp32_merge(glue_dir):
    """A bf16 base is merged in fp32 for counting: merged into bf16 storage, a few steps' LoRA
    updates round back to the original values and the count would describe the rounding."""
    model, method, base, before, _ = trained("lora", glue_dir)
    layers = P.tuner_layers(model)
    for _, layer in layers:
        layer.get_base_layer().weight.data = layer.get_base_layer().weight.data.bfloat16()
    stored = {n: layer.get_base_layer().weight.detach().clone() for n, layer in layers}
    expected = 0
    for _, layer in layers:
        weight = layer.get_base_layer().weight.detach().float()
        expected += int((weight + layer.get_delta_weight("default").float() != weight).sum())
    in_bf16 = 0
    for _, layer in layers:
        weight = layer.get_base_layer().weight.detach()
        in_bf16 += int((weight + layer.get_delta_weight("default").to(weight.dtype) != weight).sum())
    changed = P.count_changed(model, base, before, True, 0)
    names = P.base_names(model)
    head = sum(int((p.detach() != before[names[n]]).sum())
               for n, p in P.unique_parameters(model, trainable_only=True).items() if names[n] in before)
    assert changed.changed == expected + head
    assert in_bf16 < 0.9 * expected  # what a count merged in bf16 would have said
    for n, layer in layers:  # the stored weights are given back bit for bit, in bf16
        assert layer.get_base_layer().weight.dtype == torch.bfloat16
        assert torch.equal(layer.get_base_layer().weight, stored[n])
