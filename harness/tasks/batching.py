"""Tokenise once, batch by similar length, pad per batch.

GLUE sentences are short (SST-2 averages 13 tokens): padding every batch to max_seq_length
would spend most of the compute on padding. Batches are drawn from length-sorted
mega-batches (as transformers' `group_by_length`), so each batch pads only to its own longest.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from harness.tasks.glue import Example

if TYPE_CHECKING:
    import torch


@dataclass
class Encoded:
    input_ids: list[list[int]]
    labels: list
    token_type_ids: list[list[int]] | None = None


def encode(tokenizer, examples: list[Example], max_length: int) -> Encoded:
    a = [e.text_a for e in examples]
    b = [e.text_b for e in examples] if examples and examples[0].text_b is not None else None
    enc = tokenizer(a, b, truncation=True, max_length=max_length)
    return Encoded(enc["input_ids"], [e.label for e in examples], enc.get("token_type_ids"))


def length_grouped_batches(lengths: list[int], batch_size: int, seed: int,
                           megabatch_mult: int | None = None) -> list[list[int]]:
    """Shuffled index batches whose members have similar lengths; longest batch first
    (an out-of-memory shows up at step 1, not mid-epoch).

    A mega-batch holds `megabatch_mult` batches: by default 50, but never more than a quarter of
    the data (transformers' `get_length_grouped_indices` rule). Without that cap a small subset
    is one mega-batch, sorted whole by length: every seed then trains on the same batches in the
    same order, and seeds differ only by ties."""
    if megabatch_mult is None:
        megabatch_mult = max(1, min(len(lengths) // (batch_size * 4), 50))
    idx = list(range(len(lengths)))
    random.Random(seed).shuffle(idx)
    mega = batch_size * megabatch_mult
    batches = []
    for start in range(0, len(idx), mega):
        chunk = sorted(idx[start:start + mega], key=lambda i: -lengths[i])
        batches += [chunk[j:j + batch_size] for j in range(0, len(chunk), batch_size)]
    if batches:
        longest = max(range(len(batches)), key=lambda k: lengths[batches[k][0]])
        batches[0], batches[longest] = batches[longest], batches[0]
    return batches


def sequential_batches(n: int, batch_size: int) -> list[list[int]]:
    return [list(range(s, min(s + batch_size, n))) for s in range(0, n, batch_size)]


def collate(enc: Encoded, indices: list[int], pad_id: int, regression: bool) -> dict[str, "torch.Tensor"]:
    """Pad a batch to its longest member (right padding)."""
    import torch

    seqs = [enc.input_ids[i] for i in indices]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    types = torch.zeros((len(seqs), width), dtype=torch.long) if enc.token_type_ids else None
    for row, (i, s) in enumerate(zip(indices, seqs)):
        ids[row, :len(s)] = torch.tensor(s, dtype=torch.long)
        mask[row, :len(s)] = 1
        if types is not None:
            types[row, :len(s)] = torch.tensor(enc.token_type_ids[i], dtype=torch.long)
    if isinstance(enc.labels[0], list):  # causal LM: one label per token, -100 = no loss
        labels = torch.full((len(seqs), width), -100, dtype=torch.long)
        for row, i in enumerate(indices):
            labels[row, :len(enc.labels[i])] = torch.tensor(enc.labels[i], dtype=torch.long)
    else:
        labels = torch.tensor([enc.labels[i] for i in indices], dtype=torch.float if regression else torch.long)
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    if types is not None:
        batch["token_type_ids"] = types
    return batch


def iterate(enc: Encoded, batches: list[list[int]], pad_id: int, regression: bool) -> Iterator[dict]:
    for b in batches:
        yield collate(enc, b, pad_id, regression)
