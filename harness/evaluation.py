"""Evaluation on the task's dev split(s): predictions, then the task's GLUE metrics."""

from __future__ import annotations

import logging
import time

import torch

from harness.progress import Progress

from harness.tasks.batching import Encoded, collate
from harness.tasks.glue import GlueTask

log = logging.getLogger(__name__)

# dev split -> suffix of its metric columns (MNLI reports matched and mismatched)
_SPLIT_SUFFIX = {"dev": "", "dev_matched": "", "dev_mismatched": "_mm"}


@torch.inference_mode()
def predict(model, enc: Encoded, batch_size: int, pad_id: int, regression: bool, device, autocast) -> list:
    model.eval()
    order = sorted(range(len(enc.input_ids)), key=lambda i: len(enc.input_ids[i]))
    preds = [None] * len(order)
    progress = Progress("eval example", len(order), log)
    for start in range(0, len(order), batch_size):
        indices = order[start:start + batch_size]
        batch = {k: v.to(device) for k, v in collate(enc, indices, pad_id, regression).items() if k != "labels"}
        with autocast():
            logits = model(**batch).logits.float()
        values = logits.squeeze(-1).tolist() if regression else logits.argmax(-1).tolist()
        for i, v in zip(indices, values if isinstance(values, list) else [values]):
            preds[i] = v
        progress.update(start + len(indices))
    return preds


def single_class_warning(preds: list, split: str) -> str | None:
    """A classifier that predicts one class for a whole dev set has learned nothing usable,
    whatever its accuracy (CoLA's majority class gives Matthews 0, MRPC's 68 % accuracy)."""
    if len(preds) < 2 or len(set(preds)) > 1:
        return None
    return f"single_class: predicts class {preds[0]} for all {len(preds)} {split} examples"


def near_constant_warning(preds: list, labels: list, split: str, ratio: float = 0.1) -> str | None:
    """The regression counterpart of a single class: predictions whose spread is under `ratio`
    of the labels' spread say almost nothing about the pairs (STS-B's head collapsing to the
    mean similarity), whatever correlation the small remainder happens to have."""
    import statistics

    if len(preds) < 2 or len(labels) < 2:
        return None
    spread, target = statistics.pstdev(preds), statistics.pstdev(labels)
    if target == 0 or spread >= ratio * target:
        return None
    return (f"near_constant: predictions spread {spread:.3g} against the labels' {target:.3g} "
            f"over {len(preds)} {split} examples")


def evaluate(model, task: GlueTask, evals: dict[str, Encoded], batch_size: int, pad_id: int, device,
             autocast) -> dict:
    """Metric columns (`metric_*`, `score`, `score_name`) plus eval timing."""
    cols: dict = {}
    t0 = time.perf_counter()
    n = 0
    for split, enc in evals.items():
        preds = predict(model, enc, batch_size, pad_id, task.is_regression, device, autocast)
        n += len(preds)
        for metric, value in task.metric(preds, enc.labels).items():
            cols[f"metric_{metric}{_SPLIT_SUFFIX[split]}"] = value
        warning = (near_constant_warning(preds, enc.labels, split) if task.is_regression
                   else single_class_warning(preds, split))
        if warning:
            cols["warnings"] = "; ".join(filter(None, [cols.get("warnings"), warning]))
    wall = time.perf_counter() - t0
    cols["score"] = cols.get(f"metric_{task.score_name}")
    cols["score_name"] = task.score_name
    cols["eval_wall_s"] = wall
    cols["eval_examples_per_s"] = n / wall if wall > 0 else None
    cols["eval_examples"] = n
    return cols


@torch.inference_mode()
def mean_token_loss(model, enc: Encoded, batch_size: int, pad_id: int, device, autocast) -> tuple[float, int]:
    """Mean cross-entropy in nats per token over the labelled tokens of `enc` (teacher-forced),
    and how many tokens that is. Summed over tokens, not averaged per sequence, so a long
    answer weighs by its length, as the training loss does."""
    model.eval()
    total, tokens = 0.0, 0
    for start in range(0, len(enc.input_ids), batch_size):
        batch = collate(enc, list(range(start, min(start + batch_size, len(enc.input_ids)))), pad_id, False)
        labels = batch.pop("labels").to(device)
        with autocast():
            logits = model(**{k: v.to(device) for k, v in batch.items()}).logits
        logits = logits[:, -labels.shape[1]:]  # prompt-learning methods prepend virtual tokens' logits
        shifted = labels[:, 1:]
        total += torch.nn.functional.cross_entropy(logits[:, :-1].float().flatten(0, 1), shifted.flatten(),
                                                   ignore_index=-100, reduction="sum").item()
        tokens += int((shifted != -100).sum())
    return (total / tokens if tokens else float("nan")), tokens


def general_text_loss(model, enc: Encoded | None, pad_id: int, device, autocast) -> float | None:
    """Mean token loss on the held-out general text (harness/tasks/general_text.py); None without it."""
    return mean_token_loss(model, enc, 4, pad_id, device, autocast)[0] if enc is not None else None


def answer_loss_columns(model, tokenizer, records, max_length: int, device, autocast) -> dict:
    """The held-out reference answers' mean token loss given their prompts (loss on the answer
    tokens only, as in training): how well the model predicts answers it never trained on."""
    from harness.errors import DataFormatError
    from harness.tasks.instruct import encode_sft

    try:
        enc = encode_sft(tokenizer, records, max_length)
    except DataFormatError:  # every prompt fills max_seq_length: no answer token to score
        return {"eval_answer_loss": None, "eval_answer_tokens": 0}
    loss, tokens = mean_token_loss(model, enc, 4, tokenizer.pad_token_id, device, autocast)
    return {"eval_answer_loss": loss, "eval_answer_tokens": tokens}


def evaluate_instruct(model, tokenizer, task, task_cfg, records, batch_size: int, device, autocast,
                      max_length: int = 512) -> dict:
    """Generate an answer per record and score it offline (or with the configured LLM judge);
    also the reference answers' mean token loss."""
    import json

    from harness.generation import generate
    from harness.tasks import scoring
    from harness.tasks.instruct import prompt_text

    prompts = [prompt_text(tokenizer, r) for r in records]
    answers, new_tokens, wall = generate(model, tokenizer, prompts, batch_size, task_cfg.max_new_tokens,
                                         list(task_cfg.stop or []), device, autocast)
    refs = [r.output for r in records]
    judge_cfg = task_cfg.get("judge") or {}
    if task.eval_format == "belle" and judge_cfg.get("url"):
        result, scorer = _judge(judge_cfg, records, answers), f"llm_judge:{judge_cfg['model']}"
    elif task.eval_format == "belle":
        result, scorer = scoring.score_reference(answers, refs, [r.category for r in records]), "reference"
    else:
        result, scorer = scoring.score_gsm8k(answers, refs), "gsm8k_exact_match"
    cols = {"score": result["score"], "score_name": task.score_name, "scorer": scorer,
            "score_by_category": json.dumps(result["by_category"], ensure_ascii=False, sort_keys=True),
            "eval_scored_examples": result["scored"], "eval_examples": len(records), "eval_wall_s": wall,
            "eval_examples_per_s": len(records) / wall if wall > 0 else None,
            "gen_tokens_per_s": new_tokens / wall if wall > 0 else None}
    if scorer == "gsm8k_exact_match":
        cols["metric_exact_match"] = result["score"]
    cols.update(answer_loss_columns(model, tokenizer, records, max_length, device, autocast))
    return cols


def _judge(judge_cfg, records, answers) -> dict:
    from collections import defaultdict

    from harness.tasks.judge import JudgeClient, load_grading_prompts

    client = JudgeClient(judge_cfg["url"], judge_cfg["model"], judge_cfg.get("api_key_env", "OPENAI_API_KEY"))
    prompts = load_grading_prompts(judge_cfg["prompts_path"])
    per_cat = defaultdict(list)
    for record, answer in zip(records, answers):
        grading = prompts.get(record.category.lower().replace("\u00a0", " "))
        if grading is None:
            continue
        value = client.score(grading, record.instruction, record.output, answer)
        if value is not None:
            per_cat[record.category].append(value)
    scored = [v for vs in per_cat.values() for v in vs]
    return {"score": sum(scored) / len(scored) if scored else None, "scored": len(scored),
            "by_category": {c: sum(v) / len(v) for c, v in sorted(per_cat.items())}}
