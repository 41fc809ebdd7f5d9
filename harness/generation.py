"""Batched greedy generation for the instruction tasks, with stop strings, and its
throughput (new tokens per second)."""

from __future__ import annotations

import logging
import time

import torch

from harness.measure.throughput import synchronize
from harness.progress import Progress

log = logging.getLogger(__name__)


@torch.inference_mode()
def generate(model, tokenizer, prompts: list[str], batch_size: int, max_new_tokens: int, stop: list[str],
             device: torch.device, autocast) -> tuple[list[str], int, float]:
    """Completions (cut at the first stop string), new tokens generated, wall seconds."""
    model.eval()
    from harness.tasks.instruct import prompt_ids

    encoded = [prompt_ids(tokenizer, p) for p in prompts]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    outputs: list[str] = [""] * len(prompts)
    new_tokens = 0
    synchronize(device)
    t0 = time.perf_counter()
    progress = Progress("generated answer", len(order), log)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        width = max(len(encoded[i]) for i in idx)
        ids = torch.full((len(idx), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, i in enumerate(idx):  # left padding: generation continues at the right edge
            ids[row, width - len(encoded[i]):] = torch.tensor(encoded[i])
            mask[row, width - len(encoded[i]):] = 1
        with autocast():
            out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), do_sample=False,
                                 max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                 eos_token_id=tokenizer.eos_token_id)
        for row, i in enumerate(idx):
            tokens = out[row, width:].tolist()
            if tokenizer.eos_token_id in tokens:
                tokens = tokens[:tokens.index(tokenizer.eos_token_id)]
            new_tokens += len(tokens)
            text = tokenizer.decode(tokens, skip_special_tokens=True)
            for s in stop:
                text = text.split(s)[0]
            outputs[i] = text
        progress.update(start + len(idx))
    synchronize(device)
    return outputs, new_tokens, time.perf_counter() - t0
