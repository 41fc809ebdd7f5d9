"""Offline scorers for generated answers: GSM8K exact match of the final number, and a
reference-based scorer for the BELLE eval set (final number for math, ROUGE-L otherwise).

ROUGE-L is computed here on characters for CJK text and words otherwise: the common
ROUGE packages tokenise on [a-z0-9] and drop Chinese entirely.
"""

from __future__ import annotations

import re
from collections import defaultdict

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[A-Za-z0-9]+")


def final_number(text: str) -> str | None:
    """GSM8K's answer: the number after '####' when present, else the last number in the text."""
    tail = text.split("####")[-1] if "####" in text else text
    found = _NUMBER.findall(tail)
    if not found:
        return None
    value = found[0] if "####" in text else found[-1]
    value = value.replace(",", "").rstrip(".")
    try:
        number = float(value)
    except ValueError:
        return None
    return str(int(number)) if number.is_integer() else str(number)


def exact_match(prediction: str, reference: str) -> float:
    gold = final_number(reference)
    return float(gold is not None and final_number(prediction) == gold)


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 on tokens (CJK characters, latin words), lower-cased."""
    p, r = _TOKEN.findall(prediction.lower()), _TOKEN.findall(reference.lower())
    if not p or not r:
        return 0.0
    prev = [0] * (len(r) + 1)
    for a in p:
        cur = [0]
        for j, b in enumerate(r, start=1):
            cur.append(prev[j - 1] + 1 if a == b else max(prev[j], cur[j - 1]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(p), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


def score_reference(predictions: list[str], references: list[str], categories: list[str]) -> dict:
    """BELLE eval set, offline: math rows by final number, others by ROUGE-L; rows without a
    reference answer (brainstorming, generation, ...) cannot be scored offline and are skipped."""
    per_cat = defaultdict(list)
    for pred, ref, cat in zip(predictions, references, categories):
        if not ref.strip():
            continue
        per_cat[cat].append(exact_match(pred, ref) if cat == "math" else rouge_l(pred, ref))
    scored = [s for v in per_cat.values() for s in v]
    return {"score": sum(scored) / len(scored) if scored else None, "scored": len(scored),
            "by_category": {c: sum(v) / len(v) for c, v in sorted(per_cat.items())}}


def score_gsm8k(predictions: list[str], references: list[str]) -> dict:
    values = [exact_match(p, r) for p, r in zip(predictions, references)]
    return {"score": sum(values) / len(values) if values else None, "scored": len(values), "by_category": {}}
