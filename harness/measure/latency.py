"""Inference overhead: forward latency of the base, adapted (unmerged) and merged model at a
fixed batch and sequence length (the survey's "inference overhead" column, measured)."""

from __future__ import annotations

import contextlib
import statistics
import time

import torch

from harness.measure.throughput import synchronize


def _median_forward_ms(model, batch: dict, repeats: int, device: torch.device, autocast) -> float:
    with torch.inference_mode(), autocast():
        model(**batch)  # warm-up
        times = []
        for _ in range(repeats):
            synchronize(device)
            t0 = time.perf_counter()
            model(**batch)
            synchronize(device)
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _base_model(peft_model):
    """The model without its adapter, and the context that switches the adapter off. Prompt
    learning leaves the base model untouched (the prompts enter through the wrapper's forward), so
    the base is timed directly: peft's disable_adapter() for prompt learning also swaps
    prepare_inputs_for_generation, which a classification model does not have (peft 0.21:
    UnboundLocalError on LlamaForSequenceClassification)."""
    config = getattr(peft_model, "active_peft_config", None)
    if config is not None and config.is_prompt_learning:
        return peft_model.get_base_model(), contextlib.nullcontext()
    return peft_model, peft_model.disable_adapter()


def measure_latency(model, vocab_size: int, batch_size: int, seq_len: int, repeats: int,
                    device: torch.device, mergeable: bool, autocast=contextlib.nullcontext) -> dict:
    """Median forward ms for base / adapted / merged, under the run's autocast; ratios to base."""
    cols = {"latency_base_ms": None, "latency_adapted_ms": None, "latency_merged_ms": None,
            "latency_ratio_adapted": None, "latency_ratio_merged": None}
    if repeats <= 0:
        return cols
    gen = torch.Generator().manual_seed(0)
    batch = {"input_ids": torch.randint(5, max(vocab_size - 1, 6), (batch_size, seq_len), generator=gen).to(device),
             "attention_mask": torch.ones(batch_size, seq_len, dtype=torch.long, device=device)}
    was_training = model.training
    model.eval()
    is_peft = hasattr(model, "disable_adapter")
    base, base_ctx = _base_model(model) if is_peft else (model, contextlib.nullcontext())
    with base_ctx:
        cols["latency_base_ms"] = _median_forward_ms(base, batch, repeats, device, autocast)
    cols["latency_adapted_ms"] = _median_forward_ms(model, batch, repeats, device, autocast)
    if is_peft and mergeable:
        model.base_model.merge_adapter()
        cols["latency_merged_ms"] = _median_forward_ms(model, batch, repeats, device, autocast)
        model.base_model.unmerge_adapter()
    cols["latency_ratio_adapted"] = cols["latency_adapted_ms"] / cols["latency_base_ms"]
    if cols["latency_merged_ms"] is not None:
        cols["latency_ratio_merged"] = cols["latency_merged_ms"] / cols["latency_base_ms"]
    model.train(was_training)
    return cols
