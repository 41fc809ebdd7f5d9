"""Task metrics exactly as GLUE defines them (scikit-learn / scipy; nothing fetched at run time).

All values are fractions (accuracy in [0, 1], correlations in [-1, 1]).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np


def accuracy(preds: Sequence, labels: Sequence) -> dict[str, float]:
    from sklearn.metrics import accuracy_score

    return {"accuracy": float(accuracy_score(labels, preds))}


def accuracy_and_f1(preds: Sequence, labels: Sequence) -> dict[str, float]:
    """MRPC, QQP: accuracy and F1 of the positive class (label 1)."""
    from sklearn.metrics import accuracy_score, f1_score

    return {"accuracy": float(accuracy_score(labels, preds)),
            "f1": float(f1_score(labels, preds, pos_label=1, zero_division=0))}


def matthews(preds: Sequence, labels: Sequence) -> dict[str, float]:
    """CoLA: Matthews correlation coefficient."""
    from sklearn.metrics import matthews_corrcoef

    return {"matthews": float(matthews_corrcoef(labels, preds))}


def pearson_and_spearman(preds: Sequence, labels: Sequence) -> dict[str, float]:
    """STS-B: Pearson and Spearman correlation of predicted and gold similarity scores.

    A constant prediction has no defined correlation; it is reported as 0, not NaN.
    """
    from scipy.stats import pearsonr, spearmanr

    p, y = np.asarray(preds, dtype=float), np.asarray(labels, dtype=float)
    if np.ptp(p) == 0 or np.ptp(y) == 0:
        return {"pearson": 0.0, "spearman": 0.0}
    return {"pearson": float(pearsonr(p, y)[0]), "spearman": float(spearmanr(p, y)[0])}


MetricFn = Callable[[Sequence, Sequence], dict[str, float]]
