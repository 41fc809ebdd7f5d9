"""The analytical memory estimate, term by term, on a small BERT built from its config."""

import pytest
from transformers import BertConfig, BertForSequenceClassification

from harness.measure.predicted_memory import layers_in_backprop, predict
from harness.methods import MethodContext, get_method, parse_args
from harness.models.architecture import head_module_names
from tests.conftest import make_cfg

H, LAYERS, HEADS = 64, 4, 4


def adapted(method_name: str, *overrides):
    model = BertForSequenceClassification(BertConfig(hidden_size=H, num_hidden_layers=LAYERS,
                                                     num_attention_heads=HEADS, intermediate_size=4 * H,
                                                     vocab_size=500, num_labels=2))
    heads = head_module_names(model)
    method = get_method(method_name)
    cfg = make_cfg(f"method={method_name}", *overrides)
    return method.apply(model, parse_args(method, cfg.method), MethodContext("bert", heads, 10)), heads


def counts(model):
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters()) - trainable


def test_weights_gradients_and_adamw_state_follow_the_trainable_count():
    model, heads = adapted("lora", "method.dropout=0")
    trainable, frozen = counts(model)
    out = predict(model, heads, "fp32", batch_size=8, seq_len=32)
    assert out["predicted_mem_weights_bytes"] == 4 * (trainable + frozen)
    assert out["predicted_mem_grads_bytes"] == 4 * trainable
    assert out["predicted_mem_optimizer_bytes"] == 8 * trainable
    # Korthikanti et al.: s*b*h*(34 + 5*a*s/h) bytes at 16-bit per layer, doubled for fp32
    per_layer = 32 * 8 * H * (34 + 5 * HEADS * 32 / H) * 2
    assert out["predicted_mem_activations_bytes"] == int(LAYERS * per_layer)
    assert out["predicted_mem_total_bytes"] == sum(v for k, v in out.items() if k != "predicted_mem_total_bytes")


def test_lora_dropout_adds_a_copy_of_each_adapted_input_and_its_mask():
    plain, heads = adapted("lora", "method.dropout=0")
    dropped, _ = adapted("lora", "method.dropout=0.1")
    extra = (predict(dropped, heads, "fp32", 8, 32)["predicted_mem_activations_bytes"]
             - predict(plain, heads, "fp32", 8, 32)["predicted_mem_activations_bytes"])
    # query, key, value, attention output and intermediate read H features, the FFN output 4H
    assert extra == 8 * 32 * LAYERS * (5 * H + 4 * H) * (4 + 1)


def test_weights_count_the_storage_they_have_and_16_bit_autocast_halves_activations():
    import torch

    from harness.precision import keep_trainable_in_fp32

    model, heads = adapted("lora", "method.dropout=0")
    trainable, frozen = counts(model)
    fp32 = predict(model, heads, "fp32", 8, 32)
    for p in model.parameters():  # precision=bf16: the frozen base stored in bf16, trainable fp32
        if not p.requires_grad:
            p.data = p.data.to(torch.bfloat16)
    keep_trainable_in_fp32(model)
    bf16 = predict(model, heads, "bf16", 8, 32)
    assert bf16["predicted_mem_weights_bytes"] == 4 * trainable + 2 * frozen
    assert bf16["predicted_mem_activations_bytes"] * 2 == pytest.approx(fp32["predicted_mem_activations_bytes"], abs=2)
    # amp_bf16 keeps every weight in fp32 and still computes in 16 bits
    model32, _ = adapted("lora", "method.dropout=0")
    amp = predict(model32, heads, "amp_bf16", 8, 32)
    assert amp["predicted_mem_weights_bytes"] == fp32["predicted_mem_weights_bytes"]
    assert amp["predicted_mem_activations_bytes"] == bf16["predicted_mem_activations_bytes"]


def test_causal_lm_adds_logits_log_softmax_and_their_gradient():
    model, heads = adapted("lora")
    plain = predict(model, heads, "fp32", 8, 32)
    lm = predict(model, heads, "fp32", 8, 32, lm_vocab=1000)
    assert lm["predicted_mem_activations_bytes"] - plain["predicted_mem_activations_bytes"] == 8 * 32 * 1000 * 12


def test_fsdp_shards_split_weights_gradients_and_optimizer_not_activations():
    model, heads = adapted("full_ft")
    one, two = predict(model, heads, "fp32", 8, 32), predict(model, heads, "fp32", 8, 32, shards=2)
    for part in ("weights", "grads", "optimizer"):
        assert two[f"predicted_mem_{part}_bytes"] == pytest.approx(one[f"predicted_mem_{part}_bytes"] / 2, abs=1)
    assert two["predicted_mem_activations_bytes"] == one["predicted_mem_activations_bytes"]


def test_backprop_depth_starts_at_the_lowest_trainable_layer():
    assert layers_in_backprop(*adapted("lora")) == LAYERS
    assert layers_in_backprop(*adapted("freeze", "method.trainable_layers=1")) == 1  # only the top layer + head train
    assert layers_in_backprop(*adapted("prompt_tuning")) == LAYERS  # the prompt sits below the stack
