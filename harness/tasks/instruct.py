"""Instruction tuning: Alpaca/BELLE-style records (`instruction`, `input`, `output`) for
supervised fine-tuning, and the scored evaluation sets (GSM8K, the BELLE eval set).

Files are JSON (one array) or JSON lines, by content, not by name (BELLE's eval_set.json is
JSON lines); a value that is not a local path is treated as a hub dataset id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from harness.errors import DataFormatError, MissingDataError
from harness.tasks.batching import Encoded
from harness.tasks.glue import subset

ALPACA_PROMPT = ("Below is an instruction that describes a task. Write a response that appropriately completes "
                 "the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n")
ALPACA_PROMPT_INPUT = ("Below is an instruction that describes a task, paired with an input that provides further "
                       "context. Write a response that appropriately completes the request.\n\n### Instruction:\n"
                       "{instruction}\n\n### Input:\n{input}\n\n### Response:\n")


@dataclass(frozen=True)
class Record:
    instruction: str
    input: str
    output: str
    category: str = ""


@dataclass(frozen=True)
class InstructTask:
    """A causal-LM task. Its data paths and generation settings live in its config."""
    name: str
    eval_format: str   # gsm8k | belle
    score_name: str
    kind: str = "causal_lm"
    num_labels: int = 0
    is_regression: bool = False


INSTRUCT_TASKS = {t.name: t for t in [
    InstructTask("instruct/gsm8k", "gsm8k", "exact_match"),
    InstructTask("instruct/alpaca_belle", "belle", "reference"),
]}

# field names per file format: (instruction, input, output, category)
_FIELDS = {"alpaca": ("instruction", "input", "output", None), "gsm8k": ("question", None, "answer", None),
           "belle": ("question", None, "std_answer", "class")}


def read_records(source: str, fmt: str, split: str = "train") -> list[Record]:
    """Records from a local JSON / JSON-lines file, or from a hub dataset id."""
    if fmt not in _FIELDS:
        raise DataFormatError(f"{source}: unknown format {fmt!r}; expected one of {sorted(_FIELDS)}")
    path = Path(source).expanduser()
    if path.is_file():
        rows = _read_json_rows(path)
    elif path.suffix in (".json", ".jsonl") or source.startswith((".", "/", "~")):
        raise MissingDataError(f"{source}: no such file (set the task's train_path / eval_path)")
    else:
        rows = _read_hub(source, split)
    ins, inp, out, cat = _FIELDS[fmt]
    records = []
    for i, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or ins not in row or out not in row:
            raise DataFormatError(f"{source}: record {i}: expected fields {[f for f in (ins, inp, out) if f]}, "
                                  f"got {sorted(row) if isinstance(row, dict) else type(row).__name__}")
        values = [row[ins], row.get(inp, "") if inp else "", row[out]]
        if not all(isinstance(v, str) for v in values):
            raise DataFormatError(f"{source}: record {i}: fields must be strings")
        records.append(Record(values[0], values[1] or "", values[2], str(row.get(cat, "")) if cat else ""))
    if not records:
        raise DataFormatError(f"{source}: no records")
    return records


def _read_json_rows(path: Path) -> list:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise DataFormatError(f"{path}: empty file")
    if text.lstrip().startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataFormatError(f"{path}:{lineno}: invalid JSON line ({exc.msg})") from None
    return rows


def _read_hub(dataset_id: str, split: str) -> list:
    import datasets

    try:
        return list(datasets.load_dataset(dataset_id, split=split))
    except Exception as exc:  # offline or unknown id: no data here
        raise MissingDataError(f"{dataset_id!r}: not a local file and not loadable from the hub "
                               f"({type(exc).__name__})") from None


def prompt_text(tokenizer, record: Record) -> str:
    """The prompt as the model sees it: the tokenizer's chat template when it has one,
    else the Alpaca template."""
    user = record.instruction + (f"\n\n{record.input}" if record.input else "")
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": user}], tokenize=False,
                                             add_generation_prompt=True)
    template = ALPACA_PROMPT_INPUT if record.input else ALPACA_PROMPT
    return template.format(instruction=record.instruction, input=record.input)


def prompt_ids(tokenizer, prompt: str) -> list[int]:
    """The prompt's token ids, led by the BOS token unless the text already starts with it (a
    chat template that opens with BOS, as SmolLM2's `<|im_start|>`, must not get a second one)."""
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    bos = tokenizer.bos_token_id
    if bos is None or (ids and ids[0] == bos):
        return ids
    return [bos] + ids


def encode_sft(tokenizer, records: list[Record], max_length: int, packing: bool = False) -> Encoded:
    """Token ids with labels: -100 on every prompt token (loss on the response only)."""
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    ids, labels = [], []
    for r in records:
        p = prompt_ids(tokenizer, prompt_text(tokenizer, r))
        a = tokenizer(r.output, add_special_tokens=False)["input_ids"] + eos
        seq, lab = (p + a)[:max_length], ([-100] * len(p) + a)[:max_length]
        if any(x != -100 for x in lab):  # a prompt longer than max_length leaves nothing to learn
            ids.append(seq)
            labels.append(lab)
    if not ids:
        raise DataFormatError(f"no training example has a response within max_seq_length={max_length}")
    if packing:
        ids, labels = _pack(ids, labels, max_length)
    return Encoded(ids, labels)


def _pack(ids: list[list[int]], labels: list[list[int]], block: int):
    """Concatenate examples into blocks of `block` tokens (attention crosses example borders)."""
    flat_ids = [t for s in ids for t in s]
    flat_lab = [t for s in labels for t in s]
    n = max(1, len(flat_ids) // block)
    return ([flat_ids[i * block:(i + 1) * block] for i in range(n)],
            [flat_lab[i * block:(i + 1) * block] for i in range(n)])


@dataclass
class InstructData:
    train: list[Record]
    eval: list[Record]
    train_size_full: int


def load_instruct(task_cfg, max_train: Optional[int], max_eval: Optional[int]) -> InstructData:
    train = read_records(task_cfg.train_path, task_cfg.train_format, "train")
    evals = read_records(task_cfg.eval_path, task_cfg.eval_format, "test")
    return InstructData(subset(train, max_train), subset(evals, max_eval), len(train))
