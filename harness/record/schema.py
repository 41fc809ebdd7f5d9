"""The result row: every column, its type and unit. Bump SCHEMA_VERSION on any change.

Versions: 1 the first release; 2 adds `distributed`, `cpu_rss_train_start_bytes` and
`peak_cpu_rss_train_bytes`; 3 adds where the weights and tokenizer came from, the head's
pooling, the learning rate's source, storage dtypes, warnings, the time breakdown of a cell,
padded tokens/s, model FLOPs per token and MFU, which epoch the score is from
(and the status `no_learning`); 4 adds `semantics_version`, `precision_requested`,
`precision_reason` and `cpu_native_bf16`; 5 adds `mode=predict` rows' columns (`predicted_*`
for a named GPU: reserved memory, logits, workspace, CUDA context, fits, largest batch, step
time, throughput, hours per epoch, MFU and its source), `train_gradient_checkpointing`, and
every run's learning curve (`eval_curve`, `plateaued`), and the learning-rate search's `stage`,
`lr_factor` and `lr_search_grid`; 6 adds `gpu_other_processes` (whether a GPU run shared its
device); 7 adds `model_weights_format` (GGUF weights), `mode=eval` rows (the untrained model),
the held-out answers' loss (`eval_answer_loss`, `eval_answer_tokens`) and forgetting
(`general_loss_before`, `general_loss_after`, `forgetting_loss_delta`, `general_text_tokens`), and the
training phase's energy from hardware counters (`gpu_energy_j`, `cpu_energy_j`,
`energy_j_per_1k_train_tokens`, `energy_note`); 8 makes every row's `predicted_*` the trace's
(training rows: for the device they ran on) and adds `predictor_version`, `predicted_device`,
the step time's split by op class (`predicted_matmul_s`, `predicted_attention_s`,
`predicted_elementwise_s`, `predicted_copy_s`, `predicted_optimizer_s`, `predicted_host_bound_s`)
and `predicted_step_ops`; `predicted_mfu_source` is kept for older rows only (no efficiency is assumed now);
9 adds `cpu_others_busy_cores` (whether a run shared its CPU cores with other work).
Rows of an older version read with the columns they lack as
nulls; rows of a newer version are refused (this harness cannot know what they mean).

Units are in the names: `_bytes`, `_s`, `_ms`, `_per_s`, `pct_` (percent of params_total).
Metric columns are fractions in [0, 1] (correlations in [-1, 1]); `score` is the task's
primary metric, same scale. Nullable everywhere: a run that failed early has only identity
columns, `status` and `error`.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 9

# What the numbers of a row mean, independent of which columns it has. Bump when the harness
# changes what a measurement or a config name means, so old rows are never read as new ones.
# 1: before precision semantics (bf16/fp16 kept the frozen base in fp32; Freeze could not run
#    under int8/int4): rows of schema versions 1-2.
# 2: bf16/fp16 store the frozen base in 16 bits, trainables in fp32 (harness/precision.py).
SEMANTICS_VERSION = 2


def semantics_of_schema(schema_version: int) -> int:
    """The semantics of a row written before rows carried `semantics_version`."""
    return 1 if schema_version < 3 else 2

_I = pa.int64()
_F = pa.float64()
_S = pa.string()
_B = pa.bool_()

# (name, type, description)
COLUMNS: list[tuple[str, pa.DataType, str]] = [
    # identity
    ("schema_version", _I, "version of this schema"),
    ("semantics_version", _I, "what the row's numbers mean (harness/record/schema.py: SEMANTICS_VERSION); "
                              "reports and the regression gate use only the current one"),
    ("run_id", _S, "unique id of this run (uuid4 hex)"),
    ("config_hash", _S, "sha256 of the run's identity config (not paths, not timestamps)"),
    ("timestamp_utc", _S, "ISO-8601 start time"),
    ("sweep_dir", _S, "Hydra multirun folder, null for single runs"),
    ("sweep_job_num", _I, "index of the cell in its sweep"),
    ("mode", _S, "train | count | predict | eval (the untrained model, scored as a trained run is)"),
    ("status", _S, "ok | oom | error | nan_loss | no_learning | missing_data | unsupported | timeout"),
    ("error", _S, "one-line error text when status != ok"),
    ("warnings", _S, "'; '-separated doubts about an ok row, e.g. 'single_class: predicts class 1 for all ...'"),
    # sweep axes
    ("model", _S, "model config name"),
    ("model_name_or_path", _S, "hub id or local path actually loaded"),
    ("model_weights_source", _S, "package | local | hub | random_init: where the weights came from"),
    ("model_weights_format", _S, "gguf:<file> when the weights were a GGUF file, dequantised to full precision on "
                                 "loading (its quantisation, e.g. Q4_1, is in the file name); null otherwise"),
    ("tokenizer_name_or_path", _S, "hub id or local path of the tokenizer actually loaded"),
    ("head_pooling", _S, "classification head: mean | cls (harness's pooled head); null = the architecture's own"),
    ("model_type", _S, "transformers model_type"),
    ("random_init", _B, "weights drawn at random (scores meaningless)"),
    ("method", _S, "method registry name"),
    ("method_args", _S, "method arguments as sorted JSON"),
    ("method_label", _S, "short human label, e.g. 'lora r=8'"),
    ("task", _S, "task config name, e.g. glue/sst2"),
    ("precision", _S, "fp32 | bf16 | fp16 | amp_bf16 | amp_fp16 | int8 | int4 (as run; auto resolved)"),
    ("precision_requested", _S, "precision as configured: the same, or auto"),
    ("precision_reason", _S, "why precision=auto resolved as it did (device, native bf16 or not)"),
    ("batch_size", _I, "examples per forward pass"),
    ("grad_accum_steps", _I, "micro-batches per optimizer step"),
    ("lr", _F, "peak learning rate"),
    ("lr_source", _S, "where lr comes from: the method's recipe (and its reference) or train.lr override"),
    ("epochs", _F, "epochs requested"),
    ("max_steps", _I, "optimizer-step cap, null = epochs decide"),
    ("max_seq_length", _I, "tokens, truncation length"),
    ("seed", _I, "random seed"),
    ("max_train_samples", _I, "training subset cap, null = full split"),
    ("max_eval_samples", _I, "evaluation subset cap, null = full split"),
    ("distributed", _S, "data parallelism of the run: ddp | fsdp; null = one process"),
    ("train_compile", _B, "the training forward ran through torch.compile"),
    ("train_gradient_checkpointing", _B, "activation checkpointing of every layer (recomputed in backward)"),
    ("stage", _S, "null | lr_search (the recipe's lr x lr_factor, one seed) | final (lr chosen on dev by lr_search)"),
    ("lr_factor", _F, "the recipe's learning rate was multiplied by this (train.lr_factor)"),
    ("lr_search_grid", _S, "final stage: JSON {lr: best dev score} of the lr_search runs the lr was chosen from"),
    ("train_examples", _I, "training examples actually used"),
    ("train_examples_full", _I, "size of the task's full training split"),
    ("eval_examples", _I, "evaluation examples actually scored"),
    # parameter accounting
    ("params_total", _I, "parameters of the base model (tied counted once)"),
    ("params_trainable", _I, "parameters with requires_grad in the adapted model (tied once)"),
    ("params_trainable_initial", _I, "trainable before training (differs from final for AdaLoRA)"),
    ("params_adapter_budget_final", _I, "AdaLoRA: adapter parameters left after budget allocation"),
    ("params_added", _I, "parameters that did not exist in the base model"),
    ("params_head", _I, "trainable parameters of the task head (papers' '# Params' leave it out)"),
    ("params_changed", _I, "base-model entries whose value differs after merging (+ params_added when the method cannot merge)"),
    ("params_changed_source", _S, "measured (value comparison after training) | structural (count mode: entries the method can reach)"),
    ("base_param_dtype", _S, "storage dtype(s) of the frozen parameters, most values first ('bfloat16', 'uint8+float32')"),
    ("trainable_param_dtype", _S, "storage dtype(s) of the trainable parameters"),
    ("pct_trainable", _F, "params_trainable / params_total * 100"),
    ("pct_added", _F, "params_added / params_total * 100"),
    ("pct_changed", _F, "params_changed / params_total * 100"),
    ("delta_rank_min", _F, "min over adapted matrices of rank(W_merged - W_base)"),
    ("delta_rank_median", _F, "median of the same"),
    ("delta_rank_max", _F, "max of the same"),
    ("delta_rank_matrices", _I, "number of matrices the delta ranks are taken over"),
    ("adapter_size_bytes", _I, "bytes of the saved trainable/adapter weights (safetensors)"),
    # time and throughput
    ("run_wall_s", _F, "seconds, whole run in the child process (load to record)"),
    ("time_startup_s", _F, "seconds from the sweep starting the cell's process to the cell's first line (interpreter, imports)"),
    ("time_data_s", _F, "seconds, tokenizer and data loading and encoding"),
    ("time_model_build_s", _F, "seconds, loading (or building) the model and applying the method"),
    ("time_measure_s", _F, "seconds after training except evaluation: latency, merge comparison, adapter size"),
    ("train_wall_s", _F, "seconds, training loop"),
    ("train_steps", _I, "optimizer steps taken"),
    ("train_examples_per_s", _F, "steady state (warm-up steps excluded)"),
    ("train_tokens_per_s", _F, "steady state, non-padding tokens"),
    ("train_padded_tokens_per_s", _F, "steady state, sequence positions computed (padding included)"),
    ("model_flops_per_token", _F, "training FLOPs per token (harness/measure/flops.py: 6N + 12LdT for full FT)"),
    ("mfu", _F, "model FLOPs utilisation: flops/token x padded tokens/s / the device's dense 16-bit peak"),
    ("peak_device_flops", _F, "the device's dense bf16/fp16 peak FLOP/s used for mfu (null: unknown device)"),
    ("step_time_median_s", _F, "median optimizer-step time, steady state"),
    ("step_time_p90_s", _F, "90th percentile optimizer-step time, steady state"),
    ("train_hours_per_epoch", _F, "full training split / steady examples_per_s / 3600"),
    ("train_hours_per_epoch_extrapolated", _B, "true when fewer examples than the full split were trained"),
    ("eval_wall_s", _F, "seconds, evaluation"),
    ("eval_examples_per_s", _F, "evaluation throughput"),
    ("first_train_loss", _F, "loss of the first micro-batch"),
    ("final_train_loss", _F, "mean loss of the last 10 micro-batches"),
    # memory
    ("peak_cpu_rss_bytes", _I, "peak resident set size of the run's process (getrusage), loading included"),
    ("cpu_rss_train_start_bytes", _I, "resident set size when the measured (training) phase starts"),
    ("peak_cpu_rss_train_bytes", _I, "peak RSS of the measured phase alone (Linux: high-water mark reset at its start)"),
    ("peak_gpu_mem_allocated_bytes", _I, "torch.cuda.max_memory_allocated over the measured phase"),
    ("peak_gpu_mem_reserved_bytes", _I, "torch.cuda.max_memory_reserved over the measured phase"),
    ("peak_gpu_mem_nvml_bytes", _I, "this process's GPU memory as NVML counts it (CUDA context included), sampled; the device's used memory where NVML lists no process but this one; null when the device was shared and NVML did not name this process"),
    ("gpu_other_processes", _I, "the most compute processes besides this one that NVML listed on the run's GPU "
                                "while it was measured: above 0, the device was shared, and its speed is not this "
                                "run's alone; null on a CPU or where NVML lists no processes"),
    ("cpu_others_busy_cores", _F, "other processes' CPU time on the cores this run may use, per second of its "
                                  "training phase (/proc/stat less this process's own; Linux): above ~0.2 the "
                                  "cores were shared, and a CPU timing is slower by about that share"),
    ("predictor_version", _S, "the predictor that made this row's predicted_* (harness/predict/step_time.py "
                              "VERSION); null: none made"),
    ("predicted_device", _S, "the device the predicted_* columns are for: a GPU of harness/predict/gpus.py, or "
                             "this CPU's measured profile (training rows on a CPU)"),
    ("predicted_mem_weights_bytes", _I, "traced: parameters and buffers (quantised storage as bitsandbytes keeps it) "
                                        "live at the peak"),
    ("predicted_mem_grads_bytes", _I, "traced: gradients live at the peak"),
    ("predicted_mem_optimizer_bytes", _I, "traced: optimizer state live at the peak"),
    ("predicted_mem_activations_bytes", _I, "traced: activations and backward temporaries live at the peak"),
    ("predicted_mem_total_bytes", _I, "traced: the allocated peak (on a GPU torch.cuda.max_memory_allocated, "
                                      "workspace included; on a CPU the live tensor bytes)"),
    ("predicted_mem_logits_bytes", _I, "predict: a causal LM's logits, their fp32 upcast and loss at the peak"),
    ("predicted_mem_workspace_bytes", _I, "predict: cuBLAS workspace (inside the allocated peak)"),
    ("predicted_mem_reserved_bytes", _I, "predict: torch.cuda.max_memory_reserved"),
    ("predicted_mem_cuda_context_bytes", _I, "predict: CUDA context (NVML sees it, torch does not)"),
    ("predicted_fits", _B, "predict: reserved + CUDA context <= the GPU's memory"),
    ("predicted_max_batch_size", _I, "predict: the largest batch that fits (predict.max_batch=true)"),
    ("predicted_gpu", _S, "predict: the GPU predicted for (harness/predict/gpus.py)"),
    ("predicted_gpus", _I, "predict: GPUs of the run (train.distributed for more than one)"),
    ("predicted_seq_len", _I, "predict: padded length of the widest batch (sets the memory peak)"),
    ("predicted_mean_seq_len", _F, "predict: mean padded length (sets the time)"),
    ("predicted_seq_len_source", _S, "predict: predict.seq_len | the task's data with the harness's batching | "
                                     "train.max_seq_length"),
    ("predicted_attention", _S, "predict: sdpa | flash | eager"),
    ("predicted_step_flops", _F, "predict: traced FLOPs of one optimizer step (forward + backward, attention "
                                 "included)"),
    ("predicted_step_s", _F, "seconds per optimizer step, the sum of each traced op's roofline time on "
                             "predicted_device (harness/predict/step_time.py)"),
    ("predicted_matmul_s", _F, "of which matmuls"),
    ("predicted_attention_s", _F, "of which attention kernels"),
    ("predicted_elementwise_s", _F, "of which elementwise ops and reductions"),
    ("predicted_copy_s", _F, "of which casts, copies and gathers"),
    ("predicted_optimizer_s", _F, "of which gradient clipping and the optimizer step"),
    ("predicted_host_bound_s", _F, "GPU: seconds the GPU waits for the host to launch kernels; CPU: the dispatch "
                                   "cost of every op (inside the classes' times)"),
    ("predicted_step_ops", _I, "aten ops of one traced micro-batch and optimizer step, views included"),
    ("predicted_comm_s", _F, "predict: of which gradient / parameter communication between GPUs"),
    ("predicted_train_tokens_per_s", _F, "predict: all tokens of the padded batches per second, all GPUs"),
    ("predicted_train_examples_per_s", _F, "predict: examples per second, all GPUs"),
    ("predicted_hours_per_epoch", _F, "predict: hours per epoch over predicted_train_examples"),
    ("predicted_train_examples", _I, "predict: training examples of an epoch (predict.train_examples or the task's)"),
    ("predicted_mfu", _F, "predicted model FLOPs utilisation: traced FLOPs / (predicted_step_s x the dense "
                          "16-bit peak); an outcome of the per-op model, not an input"),
    ("predicted_mfu_source", _S, "rows before schema 8 only: where the efficiency they assumed came from"),
    ("predicted_reference", _S, "predict: the published measurement the cell reproduces (predict.reference)"),
    # inference overhead
    ("latency_base_ms", _F, "median forward latency of the base model (fixed batch and length)"),
    ("latency_adapted_ms", _F, "same, adapted model, adapters unmerged"),
    ("latency_merged_ms", _F, "same, adapters merged (null when the method cannot merge)"),
    ("latency_ratio_adapted", _F, "latency_adapted_ms / latency_base_ms"),
    ("latency_ratio_merged", _F, "latency_merged_ms / latency_base_ms"),
    # task scores
    ("metric_accuracy", _F, "accuracy (MNLI: matched)"),
    ("metric_accuracy_mm", _F, "MNLI mismatched accuracy"),
    ("metric_f1", _F, "F1 of the positive class (MRPC, QQP)"),
    ("metric_matthews", _F, "Matthews correlation (CoLA)"),
    ("metric_pearson", _F, "Pearson correlation (STS-B)"),
    ("metric_spearman", _F, "Spearman correlation (STS-B)"),
    ("metric_exact_match", _F, "GSM8K: exact match of the final number"),
    ("score", _F, "the task's primary metric"),
    ("score_name", _S, "which metric `score` is"),
    ("score_selection", _S, "final (the model after training) | best_epoch (best end-of-epoch dev score, "
                            "train.eval_every_epoch, as the LoRA paper reports GLUE)"),
    ("score_epoch", _I, "the epoch whose evaluation the score columns hold"),
    ("eval_curve", _S, "JSON list: the dev score after each epoch (train.eval_every_epoch), else after training"),
    ("plateaued", _B, "false when the best dev score came in the last epoch, more than 0.5 points above the one "
                      "before (harness/learning_curve.py); null with fewer than two scored epochs"),
    ("scorer", _S, "instruction tasks: gsm8k_exact_match | reference (ROUGE-L / final number) | llm_judge:<model>"),
    ("score_by_category", _S, "instruction tasks: JSON of category -> mean score"),
    ("eval_scored_examples", _I, "examples the scorer could score (BELLE rows without a reference are skipped)"),
    ("gen_tokens_per_s", _F, "generation throughput, new tokens per second (batched, greedy)"),
    ("gpu_energy_j", _F, "joules the GPU drew over the training phase (NVML total-energy counter, whole device)"),
    ("cpu_energy_j", _F, "joules of the CPU packages over the training phase (RAPL), where readable"),
    ("energy_j_per_1k_train_tokens", _F, "the device's training energy per 1,000 trained (non-pad) tokens"),
    ("energy_note", _S, "why an energy column is null (no counter readable here); never estimated"),
    ("eval_answer_loss", _F, "instruction tasks: mean token loss (nats/token) of the evaluation set's reference "
                             "answers given their prompts, teacher-forced; lower is better"),
    ("eval_answer_tokens", _I, "answer tokens eval_answer_loss averages over"),
    ("general_loss_before", _F, "forgetting: mean token loss (nats/token) on held-out general text "
                                "(measure.forgetting) of the model as loaded, before the method and training"),
    ("general_loss_after", _F, "forgetting: the same loss after training"),
    ("forgetting_loss_delta", _F, "general_loss_after - general_loss_before (nats/token): > 0 is forgetting"),
    ("general_text_tokens", _I, "predicted tokens the general-text losses average over"),
    # environment
    ("git_commit", _S, "commit of the harness checkout"),
    ("git_dirty", _B, "uncommitted changes present"),
    ("hostname", _S, "machine name"),
    ("python_version", _S, ""),
    ("torch_version", _S, ""),
    ("transformers_version", _S, ""),
    ("peft_version", _S, ""),
    ("accelerate_version", _S, ""),
    ("bitsandbytes_version", _S, ""),
    ("device", _S, "cpu | cuda"),
    ("device_name", _S, "GPU name, or the CPU model on CPU runs"),
    ("device_count", _I, "visible accelerators"),
    ("world_size", _I, "data-parallel processes of the run (throughput columns sum over them)"),
    ("cpu_threads", _I, "torch intra-op threads"),
    ("cpu_native_bf16", _B, "the CPU computes bf16 natively (AVX512-BF16 or AMX); else bf16 is emulated and slow"),
    ("cuda_version", _S, "CUDA runtime torch was built with"),
]

NAMES: list[str] = [name for name, _, _ in COLUMNS]
ARROW_SCHEMA = pa.schema([pa.field(name, typ) for name, typ, _ in COLUMNS]).with_metadata(
    {"peft_bench_schema_version": str(SCHEMA_VERSION)}
)

# Columns that say which cell a row is, independent of when or where it ran.
IDENTITY_COLUMNS = [
    "mode", "model", "random_init", "method", "method_args", "task", "precision", "batch_size",
    "grad_accum_steps", "lr", "epochs", "max_steps", "max_seq_length", "seed",
    "max_train_samples", "max_eval_samples", "distributed",
]


def markdown_table() -> str:
    """The schema as a Markdown table."""
    lines = ["| column | type | meaning |", "|---|---|---|"]
    lines += [f"| `{n}` | {t} | {d} |" for n, t, d in COLUMNS]
    return "\n".join(lines)


def columns_page() -> str:
    """docs/columns.md: every column of a row, generated here so that the page cannot drift."""
    return (f"# The columns of a result row\n\nGenerated from `harness/record/schema.py` (schema version "
            f"{SCHEMA_VERSION}) by `python -m harness.record.schema > docs/columns.md`; a test checks that the page "
            f"matches it. Units are in the names (`_bytes`, `_s`, `_per_s`, `pct_`).\n\n{markdown_table()}\n")


if __name__ == "__main__":
    print(columns_page(), end="")
