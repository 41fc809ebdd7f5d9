"""Held-out general text for the forgetting measurement: text no instruction task trains on,
whose mean token loss is read before and after training (peft's `method_comparison` asks for "a
task that requires knowledge preservation"; Biderman et al. 2024, "LoRA Learns Less and Forgets
Less", measure forgetting the same way, as the loss or score lost on the source domain).

The default is the `sentence` column of GLUE's QNLI dev set: Wikipedia sentences (from SQuAD),
i.e. encyclopaedic knowledge in plain prose, unlike GSM8K's arithmetic or Alpaca's chat answers.
"""

from __future__ import annotations

import csv
from pathlib import Path

from harness.errors import DataFormatError, MissingDataError
from harness.tasks.batching import Encoded
from harness.tasks.instruct import prompt_ids


def read_texts(path: str, column: str, max_texts: int) -> list[str]:
    """The first `max_texts` distinct non-empty values of `column` in a TSV file with a header."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise MissingDataError(f"{path}: no such file (set measure.forgetting.path)")
    with file.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if not header or column not in header:
            raise DataFormatError(f"{path}:1: header lacks column {column!r} (measure.forgetting.column)")
        at = header.index(column)
        texts: list[str] = []
        for row in reader:
            text = row[at].strip() if len(row) > at else ""
            if text and text not in texts:
                texts.append(text)
            if len(texts) >= max_texts:
                break
    if not texts:
        raise DataFormatError(f"{path}: no text in column {column!r}")
    return texts


def encode_texts(tokenizer, texts: list[str], max_length: int) -> Encoded:
    """Token ids led by the BOS token, as prompts are (harness.tasks.instruct.prompt_ids), with every
    token a label (language-model loss on the whole text)."""
    ids = [prompt_ids(tokenizer, t)[:max_length] for t in texts]
    return Encoded(ids, [list(s) for s in ids])
