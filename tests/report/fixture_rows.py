"""A small results DataFrame written by hand: two methods on all eight GLUE tasks, two seeds."""

import pandas as pd

from harness.record.store import conform

# (task, metric column, lora r=8 values per seed, full_ft values per seed)
SCORES = [
    ("glue/mnli", {"metric_accuracy": ([0.80, 0.82], [0.84, 0.84]), "metric_accuracy_mm": ([0.81, 0.81], [0.83, 0.85])}),
    ("glue/sst2", {"metric_accuracy": ([0.90, 0.92], [0.93, 0.93])}),
    ("glue/cola", {"metric_matthews": ([0.40, 0.44], [0.50, 0.46])}),
    ("glue/qqp", {"metric_accuracy": ([0.85, 0.85], [0.88, 0.88]), "metric_f1": ([0.80, 0.80], [0.84, 0.84])}),
    ("glue/qnli", {"metric_accuracy": ([0.88, 0.88], [0.90, 0.90])}),
    ("glue/rte", {"metric_accuracy": ([0.70, 0.72], [0.66, 0.68])}),
    ("glue/mrpc", {"metric_accuracy": ([0.84, 0.86], [0.86, 0.86])}),
    ("glue/stsb", {"metric_pearson": ([0.88, 0.88], [0.89, 0.89])}),
]


def glue_rows() -> pd.DataFrame:
    rows = []
    for task, metrics in SCORES:
        for method, label, which, trainable in [("lora", "lora r=8", 0, 300_000 + 770), ("full_ft", "full_ft", 1, 22_713_986)]:
            for seed_index, seed in enumerate([1, 2]):
                row = {"run_id": f"{method}-{task.replace('/', '_')}-{seed}", "mode": "train", "status": "ok", "model": "minilm_l6",
                       "method": method, "method_label": label, "task": task, "seed": seed, "random_init": False,
                       "params_trainable": trainable, "params_head": 770, "params_total": 22_713_986,
                       "batch_size": 32, "epochs": 3.0, "lr": 5e-4, "max_train_samples": 2000,
                       "max_eval_samples": 2000, "device": "cpu", "device_name": "Test CPU", "cpu_threads": 2,
                       "precision": "fp32", "git_commit": "0123456789abcdef"}
                for col, values in metrics.items():
                    row[col] = values[which][seed_index]
                row["score"] = row[next(iter(metrics))]  # the first metric listed is the primary one
                rows.append(row)
    # a task that failed for one method: its cell must say why
    rows.append({"run_id": "x", "mode": "train", "status": "oom", "model": "minilm_l6", "method": "ia3",
                 "method_label": "ia3", "task": "glue/rte", "seed": 1, "random_init": False, "batch_size": 32,
                 "epochs": 3.0, "lr": 5e-4, "max_train_samples": 2000, "max_eval_samples": 2000, "device": "cpu",
                 "device_name": "Test CPU", "cpu_threads": 2, "precision": "fp32", "git_commit": "0123456789abcdef"})
    return conform(pd.DataFrame(rows))
