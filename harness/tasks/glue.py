"""GLUE: the nine tasks, read from GLUE's original TSV layout or from the hub.

Local layout (as distributed by GLUE's download script): `<glue_dir>/<Dir>/train.tsv` and
`dev.tsv` (MNLI: `dev_matched.tsv`, `dev_mismatched.tsv`). Labels are mapped to the same
integer ids as the hub's `nyu-mll/glue`.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from harness import metrics
from harness.errors import DataFormatError, MissingDataError

csv.field_size_limit(1 << 24)


@dataclass(frozen=True)
class Example:
    text_a: str
    text_b: Optional[str]
    label: float | int


@dataclass
class TaskData:
    train: list[Example]
    evals: dict[str, list[Example]]  # split name -> examples (MNLI has two)
    train_size_full: int
    source: str


@dataclass(frozen=True)
class GlueTask:
    name: str                         # hub config name: sst2, mnli, ...
    dir_name: str                     # folder in GLUE's layout: SST-2, MNLI, ...
    text_columns: tuple               # TSV header names (or column indices when no header)
    label_column: str | int
    hub_text_columns: tuple
    label_names: Optional[tuple]      # TSV label strings in id order; None = ints as written
    metric: metrics.MetricFn
    score_name: str
    has_header: bool = True
    n_columns: Optional[int] = None   # headerless files: exact column count
    dev_splits: dict = field(default_factory=lambda: {"dev": "dev.tsv"})
    hub_dev_splits: dict = field(default_factory=lambda: {"dev": "validation"})

    kind = "classification"

    @property
    def is_regression(self) -> bool:
        return self.metric is metrics.pearson_and_spearman

    @property
    def num_labels(self) -> int:
        if self.is_regression:
            return 1
        return len(self.label_names) if self.label_names else 2


_NLI = ("entailment", "not_entailment")
GLUE_TASKS: dict[str, GlueTask] = {t.name: t for t in [
    GlueTask("cola", "CoLA", (3,), 1, ("sentence",), None, metrics.matthews, "matthews",
             has_header=False, n_columns=4),
    GlueTask("sst2", "SST-2", ("sentence",), "label", ("sentence",), None, metrics.accuracy, "accuracy"),
    GlueTask("mrpc", "MRPC", ("#1 String", "#2 String"), "Quality", ("sentence1", "sentence2"), None,
             metrics.accuracy_and_f1, "accuracy"),
    GlueTask("stsb", "STS-B", ("sentence1", "sentence2"), "score", ("sentence1", "sentence2"), None,
             metrics.pearson_and_spearman, "pearson"),
    GlueTask("qqp", "QQP", ("question1", "question2"), "is_duplicate", ("question1", "question2"), None,
             metrics.accuracy_and_f1, "accuracy"),
    GlueTask("mnli", "MNLI", ("sentence1", "sentence2"), "gold_label", ("premise", "hypothesis"),
             ("entailment", "neutral", "contradiction"), metrics.accuracy, "accuracy",
             dev_splits={"dev_matched": "dev_matched.tsv", "dev_mismatched": "dev_mismatched.tsv"},
             hub_dev_splits={"dev_matched": "validation_matched", "dev_mismatched": "validation_mismatched"}),
    GlueTask("qnli", "QNLI", ("question", "sentence"), "label", ("question", "sentence"), _NLI,
             metrics.accuracy, "accuracy"),
    GlueTask("rte", "RTE", ("sentence1", "sentence2"), "label", ("sentence1", "sentence2"), _NLI,
             metrics.accuracy, "accuracy"),
    GlueTask("wnli", "WNLI", ("sentence1", "sentence2"), "label", ("sentence1", "sentence2"), None,
             metrics.accuracy, "accuracy"),
]}


def read_tsv(task: GlueTask, path: Path) -> list[Example]:
    """Parse one GLUE TSV file. Raises DataFormatError naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        rows = list(csv.reader(text.split("\n"), delimiter="\t", quoting=csv.QUOTE_NONE))
    except csv.Error as exc:  # e.g. a NUL byte
        raise DataFormatError(f"{path}: not a TSV file ({exc})") from None
    if not any(rows):
        raise DataFormatError(f"{path}: empty file" + (", expected a header line" if task.has_header else ""))
    if task.has_header:
        header, rows, first_line = rows[0], rows[1:], 2
        wanted = [*task.text_columns, task.label_column]
        absent = [c for c in wanted if c not in header]
        if absent:
            raise DataFormatError(f"{path}:1: header lacks column(s) {absent}; found {header}")
        idx = [header.index(c) for c in wanted]
        width = len(header)
    else:
        first_line = 1
        idx = [*task.text_columns, task.label_column]
        width = task.n_columns
    out = []
    for lineno, row in enumerate(rows, start=first_line):
        if not row:
            continue
        if len(row) < width:
            raise DataFormatError(f"{path}:{lineno}: expected {width} tab-separated fields, got {len(row)}")
        texts = [row[i] for i in idx[:-1]]
        out.append(Example(texts[0], texts[1] if len(texts) > 1 else None,
                           _parse_label(task, row[idx[-1]], path, lineno)))
    if not out:
        raise DataFormatError(f"{path}: no examples")
    return out


def _parse_label(task: GlueTask, raw: str, path: Path, lineno: int) -> float | int:
    raw = raw.strip()
    try:
        if task.is_regression:
            return float(raw)
        if task.label_names:
            return task.label_names.index(raw)
        value = int(raw)
        if value not in range(task.num_labels):
            raise ValueError
        return value
    except ValueError:
        expected = "a float" if task.is_regression else (
            f"one of {list(task.label_names)}" if task.label_names else f"an integer in 0..{task.num_labels - 1}")
        raise DataFormatError(f"{path}:{lineno}: label {raw!r} is not {expected}") from None


def load_local(task: GlueTask, glue_dir: str | Path) -> TaskData:
    root = Path(glue_dir).expanduser()
    folder = root / task.dir_name
    files = {"train": folder / "train.tsv", **{s: folder / f for s, f in task.dev_splits.items()}}
    absent = [str(p) for p in files.values() if not p.is_file()]
    if absent:
        raise MissingDataError(
            f"GLUE {task.dir_name}: file(s) not found: {', '.join(absent)}; put GLUE's "
            f"{task.dir_name} folder under {root} (data.glue_dir or GLUE_DIR) or set "
            f"data.glue_dir=null to load nyu-mll/glue from the hub")
    train = read_tsv(task, files["train"])
    evals = {s: read_tsv(task, files[s]) for s in task.dev_splits}
    return TaskData(train, evals, len(train), source=str(folder))


def load_hub(task: GlueTask, hub_id: str) -> TaskData:
    import datasets

    try:
        ds = datasets.load_dataset(hub_id, task.name)
    except Exception as exc:  # offline, unknown id, ...: all mean "no data here"
        raise MissingDataError(
            f"GLUE {task.name}: could not load {hub_id!r} from the hub ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); set data.glue_dir to a local "
            f"folder in GLUE's TSV layout") from None

    def convert(split: str) -> list[Example]:
        cols = task.hub_text_columns
        return [Example(r[cols[0]], r[cols[1]] if len(cols) > 1 else None, r["label"]) for r in ds[split]]

    train = convert("train")
    return TaskData(train, {s: convert(h) for s, h in task.hub_dev_splits.items()}, len(train), source=hub_id)


def subset(examples: list[Example], cap: Optional[int], seed: int = 0) -> list[Example]:
    """A seeded random subset of at most `cap` examples (the same for every training seed)."""
    if cap is None or cap >= len(examples):
        return examples
    idx = sorted(random.Random(seed).sample(range(len(examples)), cap))
    return [examples[i] for i in idx]


def load_glue(task: GlueTask, glue_dir, hub_id: str, max_train=None, max_eval=None) -> TaskData:
    data = load_local(task, glue_dir) if glue_dir else load_hub(task, hub_id)
    data.train = subset(data.train, max_train)
    data.evals = {s: subset(e, max_eval) for s, e in data.evals.items()}
    return data
