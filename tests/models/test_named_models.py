"""A model named by path is that model: nothing of the default model's settings (MiniLM's mean
pooling, its package, tokenizer or architecture) leaks into it, and a sequence-classification
task on a decoder uses the architecture's own head. Checked on local configs of seven
architecture families: decoders with separate projections (LLaMA, Qwen2), with fused ones
(GPT-NeoX, Phi-3, GPT-2) and encoders (BERT, RoBERTa), in count mode and in a tiny training run
on a GLUE task and an instruction task."""

import uuid

import pandas as pd
import pytest

from harness.models.source import apply_explicit_source
from harness.cell import run_cell
from tests.conftest import make_cfg, run_cli

_COMMON = dict(vocab_size=30522, num_hidden_layers=2, num_attention_heads=4, hidden_size=32, intermediate_size=64,
               pad_token_id=0, bos_token_id=101, eos_token_id=102)
FAMILIES = {
    "llama": dict(model_type="llama", num_key_value_heads=4, max_position_embeddings=512, **_COMMON),
    "qwen2": dict(model_type="qwen2", num_key_value_heads=2, max_position_embeddings=512, **_COMMON),
    "gpt_neox": dict(model_type="gpt_neox", max_position_embeddings=512, **_COMMON),
    "phi3": dict(model_type="phi3", max_position_embeddings=512, **_COMMON),
    "gpt2": dict(model_type="gpt2", vocab_size=30522, n_layer=2, n_head=4, n_embd=32, n_positions=512,
                 pad_token_id=0, bos_token_id=101, eos_token_id=102),
    "bert": dict(model_type="bert", max_position_embeddings=512, **_COMMON),
    "roberta": dict(model_type="roberta", max_position_embeddings=514, **_COMMON),
}
DECODERS = ("llama", "qwen2", "gpt_neox", "phi3", "gpt2")


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory, minilm_path):
    """One local folder per family: random weights (a decoder's as a causal LM, an encoder's
    without a head), its config.json and (MiniLM's) tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer

    root = tmp_path_factory.mktemp("named_models")
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    torch.manual_seed(0)
    for family, spec in FAMILIES.items():
        spec = dict(spec)
        config = AutoConfig.for_model(spec.pop("model_type"), **spec)
        (AutoModelForCausalLM if family in DECODERS else AutoModel).from_config(config).save_pretrained(root / family)
        tokenizer.save_pretrained(root / family)
    return root


def named_run(folder, *overrides: str) -> dict:
    """A run configured the way the command line does it (explicit model.name_or_path)."""
    overrides = (f"model.name_or_path={folder}", *overrides)
    cfg = make_cfg(*overrides)
    apply_explicit_source(cfg, list(overrides))
    return run_cell(cfg, {"run_id": uuid.uuid4().hex, "config_hash": "test"})


def peft_trainable(folder, task_type: str) -> int:
    """peft's own count of trainable parameters for LoRA r=8 on the harness's default targets."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification

    from harness.models.architecture import head_module_names, lora_targets

    config = AutoConfig.from_pretrained(folder, num_labels=2)
    cls = AutoModelForCausalLM if task_type == "CAUSAL_LM" else AutoModelForSequenceClassification
    model = cls.from_config(config)
    heads = [] if task_type == "CAUSAL_LM" else head_module_names(model)
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=lora_targets(config.model_type),
                                                  modules_to_save=heads or None, task_type=task_type))
    return peft_model.get_nb_trainable_parameters()[0]


@pytest.mark.parametrize("family", list(FAMILIES))
def test_count_mode_on_a_named_model_uses_its_own_head_and_matches_peft(model_dirs, family):
    row = named_run(model_dirs / family, "mode=count", "method=lora", "task=glue/rte")
    assert row["status"] == "ok", row.get("error")
    assert row["model"] == family and row["model_type"] == FAMILIES[family]["model_type"]
    assert row["head_pooling"] is None  # the architecture's own *ForSequenceClassification head
    assert row["params_trainable"] == peft_trainable(model_dirs / family, "SEQ_CLS")


def test_the_reported_qwen2_count_no_longer_fails_on_the_default_models_pooling(model_dirs, tmp_path):
    out = run_cli("mode=count", f"model.name_or_path={model_dirs / 'qwen2'}", "method=lora",
                  "method.target_modules=[q_proj,k_proj,v_proj,o_proj]", f"results_dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-2000:]
    from harness.record.store import load_results

    row = load_results(tmp_path).iloc[0]
    assert row["status"] == "ok", row["error"]
    assert row["model"] == "qwen2" and pd.isna(row["head_pooling"])


def test_a_model_chosen_explicitly_keeps_its_own_pooling(model_dirs):
    overrides = ["model=minilm_l6", f"model.name_or_path={model_dirs / 'bert'}"]
    cfg = make_cfg(*overrides)
    apply_explicit_source(cfg, overrides)
    assert cfg.model.pooling == "mean" and cfg.model.package is None and cfg.model.name == "bert"


TINY_TRAIN = ("data.max_train_samples=16", "data.max_eval_samples=4", "train.batch_size=8", "train.max_steps=2",
              "train.lr=1e-2", "train.warmup_ratio=0", "measure.latency_repeats=0",
              "measure.warmup_steps=0", "train.num_threads=1")


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_tiny_glue_run_trains_every_family(model_dirs, glue_dir, family):
    row = named_run(model_dirs / family, "task=glue/rte", "method=lora", f"data.glue_dir={glue_dir}",
                    "train.max_seq_length=32", *TINY_TRAIN)
    assert row["status"] == "ok", row.get("error")
    assert row["head_pooling"] is None and row["params_changed"] > 0
    assert row["score_name"] == "accuracy" and 0 <= row["score"] <= 1


@pytest.mark.parametrize("family", DECODERS)
def test_a_tiny_instruction_run_trains_every_decoder(model_dirs, family):
    row = named_run(model_dirs / family, "task=instruct/gsm8k", "method=lora", "task.max_new_tokens=2",
                    "train.max_seq_length=256", *TINY_TRAIN)
    assert row["status"] == "ok", row.get("error")
    assert row["params_trainable"] == peft_trainable(model_dirs / family, "CAUSAL_LM")
